package zmtp

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dividere-go/dividere/internal/zmtp/mech"
	"github.com/dividere-go/dividere/internal/zmtp/wire"
)

// stream is one tcp or ipc connection of a peer, after its handshake:
// its reader runs in the goroutine that made it, its writer in one of
// its own.
type stream struct {
	s      *Socket
	p      *peer
	nc     net.Conn
	r      *bufio.Reader
	fr     *wire.Reader
	codec  mech.Codec
	peer31 bool // the peer speaks ZMTP 3.1: subscriptions are commands

	rx      atomic.Uint64 // frames received, for the heartbeat's check
	peerTTL atomic.Int64  // nanoseconds the peer asked for in its PING

	done      chan struct{}
	closeOnce sync.Once
	err       error
	lingering atomic.Bool
	lingerEnd chan struct{}

	// The writer's: closed when writeLoop has returned; what it hands to
	// one writev; the CURVE writer's sealed batch and a frame spanning
	// chunks.
	wdone   chan struct{}
	iov     [][]byte
	sealed  []byte
	scratch []byte
}

// readBufSize is each connection's read buffer once its handshake is
// done: a batch of small messages is parsed out of one read.
// handshakeBufSize is its buffer before: the handshake's commands are a
// few hundred bytes, and a connection that never completes its handshake
// should cost the server little.
const (
	readBufSize      = 64 << 10
	handshakeBufSize = 512
)

// handshake runs the greeting and the mechanism on a new connection.
func (s *Socket) handshake(nc net.Conn) (*stream, mech.Result, error) {
	if s.opt.HandshakeTimeout > 0 {
		nc.SetDeadline(time.Now().Add(s.opt.HandshakeTimeout))
	}
	m := s.opt.Mechanism()
	if rs, ok := m.(mech.RemoteSetter); ok {
		rs.SetRemote(nc.RemoteAddr())
	}
	br := newHandshakeReader(nc)
	st := &stream{s: s, nc: nc, r: br, done: make(chan struct{}), wdone: make(chan struct{})}
	st.fr = wire.NewReader(br, wire.Limits{})
	g := wire.Greeting{Major: wire.VersionMajor, Minor: wire.VersionMinor, Mechanism: m.Name(), AsServer: m.AsServer()}
	if _, err := nc.Write(g.Append(nil)); err != nil {
		return nil, mech.Result{}, err
	}
	var gb [wire.GreetingSize]byte
	if _, err := io.ReadFull(br, gb[:wire.SignatureSize]); err != nil {
		return nil, mech.Result{}, err
	}
	if err := wire.CheckSignature(gb[:wire.SignatureSize]); err != nil {
		return nil, mech.Result{}, err
	}
	if _, err := io.ReadFull(br, gb[wire.SignatureSize:]); err != nil {
		return nil, mech.Result{}, err
	}
	pg, err := wire.ParseGreeting(gb[:])
	if err != nil {
		return nil, mech.Result{}, err
	}
	if pg.Mechanism != m.Name() {
		err := fmt.Errorf("%w: peer uses the %s mechanism, we use %s", ErrProtocol, pg.Mechanism, m.Name())
		st.writeCommandNow(wire.CmdError, errReason("mechanism mismatch"))
		return nil, mech.Result{}, err
	}
	st.peer31 = pg.AtLeast31()
	local := wire.Metadata{{Name: "Socket-Type", Value: []byte(s.typ.String())}}
	if s.typ.sendsIdentity() {
		local = append(local, wire.Property{Name: "Identity", Value: s.opt.Identity})
	}
	res, err := m.Handshake(st, local)
	if err != nil {
		return nil, res, err
	}
	pt, _ := res.Peer.Get("Socket-Type")
	if !wire.Compatible(s.typ.String(), string(pt)) {
		if res.Codec == nil {
			// Past an encrypting handshake a plaintext ERROR would be
			// garbage to the peer: the connection just closes.
			st.writeCommandNow(wire.CmdError, errReason("invalid socket type"))
		}
		return nil, res, fmt.Errorf("%w: %s cannot talk to %q", ErrIncompatible, s.typ, pt)
	}
	st.codec = res.Codec
	lim := wire.Limits{MaxMessageSize: s.opt.MaxMessageSize, MaxFrames: limit(s.opt.MaxFrames)}
	if st.codec != nil {
		// Each frame travels boxed in a MESSAGE of its own: the reader
		// bounds one box, and readFrames bounds the message the opened
		// frames make.
		lim = wire.Limits{MaxMessageSize: s.opt.MaxMessageSize}
		if lim.MaxMessageSize >= 0 {
			lim.MaxMessageSize += int64(mech.CurveOverhead)
		}
	}
	st.r = grown(br, nc)
	st.fr = wire.NewReader(st.r, lim)
	nc.SetDeadline(time.Time{})
	return st, res, nil
}

func newHandshakeReader(nc net.Conn) *bufio.Reader { return bufio.NewReaderSize(nc, handshakeBufSize) }

// grown is a connection's full-size reader after its handshake, holding
// what the handshake's small one had read ahead (the peer's first
// messages may have come in the same segment as its last command).
func grown(br *bufio.Reader, nc net.Conn) *bufio.Reader {
	n := br.Buffered()
	if n == 0 {
		return bufio.NewReaderSize(nc, readBufSize)
	}
	ahead, _ := br.Peek(n)
	return bufio.NewReaderSize(&prefixReader{ahead: append([]byte(nil), ahead...), r: nc}, readBufSize)
}

// prefixReader reads ahead, then r.
type prefixReader struct {
	ahead []byte
	r     io.Reader
}

func (p *prefixReader) Read(b []byte) (int, error) {
	if len(p.ahead) > 0 {
		n := copy(b, p.ahead)
		p.ahead = p.ahead[n:]
		return n, nil
	}
	return p.r.Read(b)
}

func errReason(r string) []byte { return append([]byte{byte(len(r))}, r...) }

// WriteCommand sends a command during the handshake (mech.Conn).
func (st *stream) WriteCommand(name string, data ...[]byte) error {
	_, err := st.nc.Write(wire.AppendCommand(nil, name, data...))
	return err
}

func (st *stream) writeCommandNow(name string, data ...[]byte) { st.WriteCommand(name, data...) }

// ReadCommand reads a command during the handshake (mech.Conn).
func (st *stream) ReadCommand() (wire.Command, error) {
	f, err := st.fr.ReadFrame()
	if err != nil {
		return wire.Command{}, err
	}
	if !f.IsCommand() {
		return wire.Command{}, fmt.Errorf("%w: a message before the handshake ended", ErrProtocol)
	}
	return wire.ParseCommand(f.Body)
}

// serve attaches a handshaken connection to a peer (p, or a new one),
// runs it until it ends and detaches it. It returns why it ended.
func (s *Socket) serve(st *stream, res mech.Result, p *peer, endpoint string) error {
	if p == nil {
		p = s.newPeer(endpoint)
	}
	st.p = p
	pt, _ := res.Peer.Get("Socket-Type")
	id, _ := res.Peer.Get("Identity")
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		st.nc.Close()
		return ErrClosed
	}
	var displaced *peer
	if s.typ == ROUTER {
		rid := append([]byte(nil), id...)
		if len(rid) == 0 || rid[0] == 0 {
			// Ids starting with a zero byte are the ones we make up: a
			// peer that gives one must not claim another peer's.
			rid = s.routingIDLocked()
		}
		var ok bool
		if displaced, ok = s.claimIDLocked(p, rid); !ok {
			s.mu.Unlock()
			st.nc.Close()
			return fmt.Errorf("%w: identity %q is taken", ErrProtocol, rid)
		}
	}
	p.info = PeerInfo{Type: string(pt), Identity: p.id, UserID: res.UserID, Remote: st.nc.RemoteAddr().String(),
		Endpoint: endpoint, Metadata: res.Peer}
	p.inCap = s.opt.RecvHWM
	p.conn, p.up = st, true
	s.attachLocked(p)
	if s.typ == SUB || s.typ == XSUB {
		s.ownSubs.each(func(t string) { st.queueSub([]byte(t), true) })
	}
	s.mu.Unlock()
	displaced.handOver()
	s.emit(Event{Kind: EventHandshakeSucceeded, Endpoint: endpoint, Remote: p.info.Remote})
	signal(s.wnotify)

	if st.codec == nil {
		p.w.mu.Lock()
		p.w.direct = newRawWriter(st.nc)
		p.w.mu.Unlock()
	}
	signal(p.w.wake) // what waited for the connection goes out first
	s.wg.Add(1)
	go st.writeLoop()
	err := st.readLoop()
	st.close(err)
	<-st.lingerDone()
	<-st.wdone

	s.mu.Lock()
	p.conn, p.up = nil, false
	keep := p.endpoint != "" && s.isDialed(p) && !s.opt.Immediate && !s.closed
	if !keep {
		s.detachLocked(p)
	} else {
		p.subs.clear()
		if s.typ == ROUTER && p.id != nil && s.byID[string(p.id)] == p {
			delete(s.byID, string(p.id))
		}
	}
	s.mu.Unlock()
	p.w.mu.Lock()
	p.w.quiesce()
	p.w.cmd = p.w.cmd[:0]
	// The next connection starts at a message: the rest of one that went
	// out in part is lost.
	lost := p.w.dropPartial()
	if !keep {
		lost += p.w.clearAll()
	}
	p.w.mu.Unlock()
	s.stats.droppedLost.Add(uint64(lost))
	signal(p.inSpace)
	// A sender waiting for this peer's room (XPubNoDrop, a blocked round
	// robin) looks again now that it is gone.
	signal(s.wnotify)
	return err
}

// claimIDLocked gives p the routing id rid on a ROUTER. When another
// peer has it, the first keeps it (ok false) unless RouterHandover, in
// which case p takes it and the other is returned, for the caller to
// close once it has let go of s.mu. s.mu held.
func (s *Socket) claimIDLocked(p *peer, rid []byte) (displaced *peer, ok bool) {
	if old := s.byID[string(rid)]; old != nil && old != p {
		if !s.opt.RouterHandover {
			return nil, false
		}
		// The old peer keeps its id for what it had queued to be read,
		// but is no longer where the id routes to.
		displaced = old
	}
	p.id = rid
	s.byID[string(rid)] = p
	return displaced, true
}

// handOver closes the connection of a peer whose identity was taken
// over; nil does nothing.
func (p *peer) handOver() {
	if p == nil {
		return
	}
	s := p.s
	s.mu.Lock()
	c, m, id := p.conn, p.mirror, p.id
	s.mu.Unlock()
	switch {
	case m != nil:
		inprocDisconnect(p)
	case c != nil:
		c.close(fmt.Errorf("zmtp: identity %q handed over to a new connection", id))
	}
}

// isDialed reports whether p is the kept pipe of a Connect. s.mu held.
func (s *Socket) isDialed(p *peer) bool {
	for _, d := range s.dialers {
		if d.p == p {
			return true
		}
	}
	return false
}

// close ends the connection once.
func (st *stream) close(err error) {
	st.closeOnce.Do(func() {
		st.err = err
		close(st.done)
		st.nc.Close()
	})
}

// lingerDone is closed once a lingering close has ended (at once when
// the connection was not lingering).
func (st *stream) lingerDone() <-chan struct{} {
	if st.lingering.Load() {
		return st.lingerEnd
	}
	c := make(chan struct{})
	close(c)
	return c
}

// linger closes the connection once what is queued has gone out, or
// after d (d < 0: however long it takes; 0: at once).
func (st *stream) linger(d time.Duration) {
	w := &st.p.w
	w.mu.Lock()
	pending := w.n
	w.mu.Unlock()
	if d == 0 || pending == 0 {
		st.close(ErrClosed)
		return
	}
	st.lingerEnd = make(chan struct{})
	st.lingering.Store(true)
	st.s.wg.Add(1)
	go func() {
		defer st.s.wg.Done()
		defer close(st.lingerEnd)
		var deadline <-chan time.Time
		if d > 0 {
			t := time.NewTimer(d)
			defer t.Stop()
			deadline = t.C
		}
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			w.mu.Lock()
			pending := w.n
			w.mu.Unlock()
			if pending == 0 {
				break
			}
			select {
			case <-tick.C:
			case <-deadline:
				st.close(ErrClosed)
				return
			case <-st.done:
				return
			}
		}
		// Closing at once after the last write could reset the connection
		// before the peer read it; a half close lets it read to the end.
		if cw, ok := st.nc.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
		st.close(ErrClosed)
	}()
}

// queueSub queues a subscription change to the peer: a SUBSCRIBE or
// CANCEL command to a ZMTP 3.1 peer, a message to a 3.0 peer.
func (st *stream) queueSub(topic []byte, on bool) {
	w := &st.p.w
	w.mu.Lock()
	if st.peer31 {
		name := wire.CmdCancel
		if on {
			name = wire.CmdSubscribe
		}
		w.cmd = wire.AppendCommand(w.cmd, name, topic)
	} else {
		b := byte(0)
		if on {
			b = 1
		}
		w.cmd = wire.AppendFrameHeader(w.cmd, 0, len(topic)+1)
		w.cmd = append(append(w.cmd, b), topic...)
	}
	w.mu.Unlock()
	signal(w.wake)
}

// writeLoop writes what is queued, in batches: whatever piled up while
// the last write was on its way goes out in the next, in one system
// call. It also sends heartbeats and ends a connection gone silent.
func (st *stream) writeLoop() {
	defer st.s.wg.Done()
	defer close(st.wdone)
	w := &st.p.w
	hb := newHeartbeat(st.s.opt, st)
	for {
		select {
		case <-w.wake:
		case <-hb.c():
			if err := hb.check(); err != nil {
				st.close(err)
				return
			}
		case <-st.done:
			hb.stop()
			return
		}
		if err := st.flush(); err != nil {
			st.close(err)
			return
		}
	}
}

// flush writes what is queued until nothing is, a batch of whole chunks
// (about writeBatchMax bytes) at a time, in one writev each.
func (st *stream) flush() error {
	s, w := st.s, &st.p.w
	for {
		w.mu.Lock()
		if w.writing {
			w.mu.Unlock()
			return nil
		}
		iov := st.iov[:0]
		var cmd []byte
		if len(w.cmd) > 0 && !w.midMessage() {
			// Commands go between messages only.
			cmd, w.cmd = w.cmd, nil
			iov = append(iov, cmd)
		}
		lim := writeBatchMax
		if st.codec != nil {
			lim = max(lim, w.frameLen()) // a frame is sealed whole
		}
		iov, n := w.take(iov, lim)
		if len(iov) == 0 {
			w.mu.Unlock()
			return nil
		}
		w.writing = true
		w.mu.Unlock()

		var err error
		plain := n
		if st.codec != nil {
			var used int
			st.sealed, used, err = sealFrames(st.codec, st.sealed[:0], iov, &st.scratch)
			plain = used - len(cmd)
			if err == nil {
				_, err = st.nc.Write(st.sealed)
			}
			if cap(st.sealed) > 4<<20 {
				st.sealed = nil
			}
		} else {
			bufs := net.Buffers(iov)
			_, err = bufs.WriteTo(st.nc)
		}
		clear(iov)
		st.iov = iov[:0]

		w.mu.Lock()
		w.writing = false
		w.lastBusy = monoNow()
		if w.waiters > 0 {
			w.idle.Broadcast()
		}
		if w.cmd == nil && cap(cmd) <= 64<<10 {
			w.cmd = cmd[:0]
		}
		lost := 0
		if err != nil {
			// What this write carried is lost, and so is the rest of a
			// message it carried part of.
			lost = w.consume(n) + w.dropPartial()
		} else {
			w.consume(plain)
		}
		w.mu.Unlock()
		signal(s.wnotify)
		if err != nil {
			s.stats.droppedLost.Add(uint64(lost))
			return err
		}
	}
}

// sealFrames runs the plain frames of segs through the codec, every one
// that ends within them, and says how many plain bytes those were. A
// frame may span segments.
func sealFrames(c mech.Codec, dst []byte, segs [][]byte, scratch *[]byte) ([]byte, int, error) {
	cur := segCursor{segs: segs}
	for _, b := range segs {
		cur.rem += len(b)
	}
	used := 0
	for {
		var hdr [9]byte
		if !cur.peek(hdr[:2]) {
			break
		}
		h, size := 2, int(hdr[1])
		if hdr[0]&wire.FlagLong != 0 {
			if !cur.peek(hdr[:9]) {
				break
			}
			h, size = 9, int(binary.BigEndian.Uint64(hdr[1:9]))
		}
		if cur.rem < h+size {
			break
		}
		cur.next(h, scratch)
		body := cur.next(size, scratch)
		var err error
		if dst, err = c.Seal(dst, hdr[0]&^wire.FlagLong, body); err != nil {
			return dst, used, err
		}
		used += h + size
	}
	return dst, used, nil
}

// segCursor reads through a list of byte slices as one.
type segCursor struct {
	segs [][]byte
	i, j int // segs[i][j] is the next byte
	rem  int // bytes from there to the end
}

// peek copies the next len(dst) bytes without consuming them; false if
// there are not that many.
func (c *segCursor) peek(dst []byte) bool {
	if c.rem < len(dst) {
		return false
	}
	n, i, j := 0, c.i, c.j
	for n < len(dst) {
		k := copy(dst[n:], c.segs[i][j:])
		n += k
		i, j = i+1, 0
	}
	return true
}

// next consumes n bytes (n <= rem) and returns them: a slice of a
// segment when they lie in one, else copied into *scratch.
func (c *segCursor) next(n int, scratch *[]byte) []byte {
	c.rem -= n
	for c.i < len(c.segs) && c.j == len(c.segs[c.i]) {
		c.i, c.j = c.i+1, 0
	}
	if n == 0 {
		return nil
	}
	if s := c.segs[c.i][c.j:]; len(s) >= n {
		c.j += n
		return s[:n:n]
	}
	b := (*scratch)[:0]
	for len(b) < n {
		s := c.segs[c.i][c.j:]
		k := min(len(s), n-len(b))
		b = append(b, s[:k]...)
		c.j += k
		if c.j == len(c.segs[c.i]) {
			c.i, c.j = c.i+1, 0
		}
	}
	if cap(b) <= 4<<20 {
		*scratch = b
	}
	return b
}

// batchMax is the most messages a reader hands over under one lock.
const batchMax = 64

// slabSize is how much a reader allocates at once for the bodies of
// small frames, which it carves out one after another.
const slabSize = 32 << 10

// readLoop reads frames until the connection fails; messages go to the
// socket in batches. Whole messages read before a failure are still
// delivered.
func (st *stream) readLoop() error {
	var batch [][][]byte
	err := st.readFrames(&batch)
	if len(batch) > 0 && !errors.Is(err, ErrClosed) {
		st.deliver(batch)
	}
	return err
}

func (st *stream) readFrames(pbatch *[][][]byte) error {
	s := st.s
	var (
		msg      [][]byte
		msgBytes int64 // of msg, when a codec hides message bounds from the reader
		msgSize  int   // of msg
		slab     []byte
	)
	batch := *pbatch
	defer func() { *pbatch = batch }()
	filter := s.typ == SUB
	lead := 0
	if s.typ == ROUTER {
		lead = 1 // the slot for the routing id, filled by Recv
	}
	var frames carver
	for {
		if len(batch) > 0 && (len(batch) >= batchMax || st.r.Buffered() == 0) {
			// Nothing more is read ahead (or the batch is full): hand over
			// what was read before the next read may wait or fail.
			if err := st.deliver(batch); err != nil {
				return err
			}
			clear(batch)
			batch = batch[:0]
		}
		flags, size, err := st.fr.ReadHeader()
		if err != nil {
			return st.readErr(err)
		}
		var body []byte
		if size <= 1024 && st.codec == nil {
			if cap(slab)-len(slab) < size {
				slab = make([]byte, 0, slabSize)
			}
			body, slab, err = st.fr.ReadBodyInto(slab, size)
		} else {
			body, err = st.fr.ReadBody(size)
		}
		if err != nil {
			return st.readErr(err)
		}
		st.rx.Add(1)
		f := wire.Frame{Flags: flags, Body: body}
		if st.codec != nil {
			if f, err = st.codec.Open(f); err != nil {
				return st.readErr(err)
			}
			if f.Body == nil {
				continue // a frame the mechanism consumed
			}
		}
		if f.IsCommand() {
			if err := st.command(f.Body); err != nil {
				return st.readErr(err)
			}
			continue
		}
		msg = append(msg, f.Body)
		msgSize += len(f.Body)
		if st.codec != nil {
			// The wire reader sees boxes, not messages: the limits are
			// checked here, on what the boxes held.
			msgBytes += int64(len(f.Body))
			if max := s.opt.MaxMessageSize; max >= 0 && msgBytes > max {
				return st.readErr(fmt.Errorf("%w: a message over %d bytes", ErrProtocol, max))
			}
			if max := limit(s.opt.MaxFrames); len(msg) > max {
				return st.readErr(fmt.Errorf("%w: a message of more than %d frames", ErrProtocol, max))
			}
		}
		if f.More() {
			continue
		}
		m := frames.frameListFor(lead+len(msg), msgSize)
		copy(m[lead:], msg)
		clear(msg)
		msg, msgBytes, msgSize = msg[:0], 0, 0
		switch s.typ {
		case PUB, XPUB:
			if err := st.fromSubscriber(m); err != nil {
				return st.readErr(err)
			}
			continue
		}
		if filter {
			if fs := s.filter.Load(); !fs.match(m[0]) {
				continue
			}
		}
		batch = append(batch, m)
	}
}

// deliver hands messages to the socket, waiting while the peer's
// inbound queue is at its high-water mark: that stops reading the
// connection, and TCP pushes back on the sender, as libzmq does.
func (st *stream) deliver(batch [][][]byte) error {
	for len(batch) > 0 {
		n := st.s.push(st.p, batch...)
		batch = batch[n:]
		if len(batch) == 0 {
			return nil
		}
		select {
		case <-st.p.inSpace:
		case <-st.done:
			st.s.stats.droppedLost.Add(uint64(len(batch)))
			return ErrClosed
		}
	}
	return nil
}

func (st *stream) readErr(err error) error {
	if errors.Is(err, ErrProtocol) {
		st.s.stats.protocolErrors.Add(1)
		st.s.opt.Logger.Warn("zmtp: closing a connection that broke the protocol",
			"socket", st.s.typ.String(), "peer", st.nc.RemoteAddr().String(), "err", err)
	}
	select {
	case <-st.done:
		if st.err != nil {
			return st.err
		}
	default:
	}
	return err
}

// command handles a command after the handshake.
func (st *stream) command(body []byte) error {
	c, err := wire.ParseCommand(body)
	if err != nil {
		return err
	}
	switch c.Name {
	case wire.CmdPing:
		ping, err := wire.ParsePing(c.Data)
		if err != nil {
			return err
		}
		if ping.TTL > 0 {
			st.peerTTL.Store(int64(ping.TTL) * int64(100*time.Millisecond))
		}
		w := &st.p.w
		w.mu.Lock()
		if len(w.cmd) < 64<<10 { // a flood of PINGs gets no more PONGs than that
			w.cmd = wire.AppendPong(w.cmd, ping.Context)
		}
		w.mu.Unlock()
		signal(w.wake)
	case wire.CmdPong:
	case wire.CmdSubscribe, wire.CmdCancel:
		if st.s.typ == PUB || st.s.typ == XPUB {
			st.s.peerSub(st.p, c.Data, c.Name == wire.CmdSubscribe)
		}
	case wire.CmdError:
		reason, _ := wire.ParseError(c.Data)
		return fmt.Errorf("%w: peer sent ERROR %q", ErrProtocol, reason)
	default:
		return fmt.Errorf("%w: unexpected command %q", ErrProtocol, c.Name)
	}
	return nil
}

// fromSubscriber handles a message a subscriber sent: a subscription
// (first byte 1) or cancel (0) in ZMTP 3.0 style; anything else an XPUB
// passes up and a PUB ignores, as libzmq does.
func (st *stream) fromSubscriber(m [][]byte) error {
	s := st.s
	if len(m) == 1 && len(m[0]) > 0 && m[0][0] <= 1 {
		s.peerSub(st.p, m[0][1:], m[0][0] == 1)
		return nil
	}
	if s.typ == XPUB {
		s.qmu.Lock()
		if s.xin.len() < limit(s.opt.RecvHWM) {
			s.xin.push(m)
		} else {
			s.stats.droppedHWM.Add(1)
		}
		s.qmu.Unlock()
		signal(s.rnotify)
	}
	return nil
}

// peerSub applies a peer's subscription change, within its bounds; an
// XPUB passes new subscriptions (every one, with XPubVerbose) and the
// end of a topic up to Recv.
func (s *Socket) peerSub(p *peer, topic []byte, on bool) {
	s.mu.Lock()
	var passUp bool
	if on {
		isNew, ok := p.subs.add(topic, s.opt.MaxSubscriptions, s.opt.MaxSubscriptionBytes)
		if !ok {
			s.mu.Unlock()
			s.stats.subsRefused.Add(1)
			s.opt.Logger.Warn("zmtp: refusing a subscription over the peer's bounds",
				"socket", s.typ.String(), "peer", p.info.Remote, "subscriptions", p.subs.len())
			return
		}
		passUp = s.opt.XPubVerbose || isNew && s.othersLackLocked(p, topic)
	} else {
		gone := p.subs.remove(topic)
		passUp = gone && (s.opt.XPubVerbose || s.othersLackLocked(p, topic))
	}
	if s.typ == XPUB && passUp {
		s.passUpLocked(topic, on)
	}
	s.mu.Unlock()
}

// othersLackLocked reports whether no peer but p has exactly topic.
func (s *Socket) othersLackLocked(p *peer, topic []byte) bool {
	for _, q := range s.peers {
		if q != p && q.subs.topics[string(topic)] > 0 {
			return false
		}
	}
	return true
}

// acceptLoop accepts connections on a listener.
func (s *Socket) acceptLoop(ln *listener) {
	defer s.wg.Done()
	defer close(ln.done)
	for {
		nc, err := ln.l.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.emit(Event{Kind: EventAcceptFailed, Endpoint: ln.endpoint, Err: err})
			select {
			case <-time.After(10 * time.Millisecond): // fd exhaustion: do not spin
			case <-s.done:
				return
			}
			continue
		}
		setKeepAlive(nc, s.opt.TCPKeepAlive)
		s.emit(Event{Kind: EventAccepted, Endpoint: ln.endpoint, Remote: nc.RemoteAddr().String()})
		hs := s.admit(nc)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.run(nc, hs, nil, ln.endpoint)
		}()
	}
}

// run handshakes and serves one connection; hs is its place among the
// accepted connections' pending handshakes (nil for one we dialled).
func (s *Socket) run(nc net.Conn, hs *pendingConn, p *peer, endpoint string) error {
	stop := context.AfterFunc(doneCtx{s.done}, func() { nc.SetDeadline(time.Unix(1, 0)) })
	st, res, err := s.handshake(nc)
	stop()
	if hs != nil && s.settle(hs) && err != nil {
		err = fmt.Errorf("%w: closed mid-handshake to make room for newer connections (%d handshakes at once at most)", err, s.opt.MaxHandshakes)
	}
	if err != nil {
		nc.Close()
		s.stats.handshakeFailures.Add(1)
		kind := EventHandshakeFailed
		switch {
		case errors.Is(err, mech.ErrAuth):
			kind = EventHandshakeAuth
		case errors.Is(err, ErrProtocol), errors.Is(err, ErrIncompatible):
			kind = EventHandshakeProtocol
		}
		s.emit(Event{Kind: kind, Endpoint: endpoint, Remote: nc.RemoteAddr().String(), Err: err})
		return err
	}
	err = s.serve(st, res, p, endpoint)
	s.emit(Event{Kind: EventDisconnected, Endpoint: endpoint, Remote: nc.RemoteAddr().String(), Err: err})
	return err
}

func setKeepAlive(nc net.Conn, d time.Duration) {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return
	}
	tc.SetNoDelay(true)
	switch {
	case d < 0:
		tc.SetKeepAlive(false)
	case d > 0:
		tc.SetKeepAlive(true)
		tc.SetKeepAlivePeriod(d)
	}
}

// dialLoop connects, and connects again after every failure or lost
// connection, with the reconnect interval doubling up to its maximum.
func (s *Socket) dialLoop(d *dialer) {
	defer s.wg.Done()
	ctx, cancel := context.WithCancel(doneCtx{s.done})
	defer cancel()
	ivl := s.opt.ReconnectInterval
	wait := func() bool {
		if s.opt.ReconnectInterval < 0 {
			return false
		}
		s.emit(Event{Kind: EventConnectRetried, Endpoint: d.ep.String(), Value: int(ivl / time.Millisecond)})
		t := time.NewTimer(ivl)
		defer t.Stop()
		select {
		case <-t.C:
		case <-s.done:
			return false
		}
		if mx := s.opt.ReconnectIntervalMax; mx > ivl {
			ivl = min(2*ivl, mx)
		}
		return true
	}
	for {
		nc, err := dial(ctx, d.ep, s.opt.TCPKeepAlive)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.emit(Event{Kind: EventConnectDelayed, Endpoint: d.ep.String(), Err: err})
			if !wait() {
				return
			}
			continue
		}
		setKeepAlive(nc, s.opt.TCPKeepAlive)
		s.emit(Event{Kind: EventConnected, Endpoint: d.ep.String(), Remote: nc.RemoteAddr().String()})
		start := time.Now()
		s.run(nc, nil, d.p, d.ep.String())
		select {
		case <-s.done:
			return
		default:
		}
		if time.Since(start) > time.Second {
			ivl = s.opt.ReconnectInterval // it was up: start the backoff again
		}
		if !wait() {
			return
		}
	}
}

// doneCtx is a context that ends when done is closed.
type doneCtx struct{ done <-chan struct{} }

func (doneCtx) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c doneCtx) Done() <-chan struct{}     { return c.done }
func (c doneCtx) Err() error {
	select {
	case <-c.done:
		return context.Canceled
	default:
		return nil
	}
}
func (doneCtx) Value(any) any { return nil }
