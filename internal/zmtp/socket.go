package zmtp

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"github.com/dividere-go/dividere/internal/zmtp/wire"
)

// Socket is one ZeroMQ socket. Its methods are safe for concurrent use.
//
// Locks: mu guards the socket's state (peers, routing, REQ/REP state,
// subscriptions); qmu guards every peer's inbound queue and the queue of
// peers with something to read. qmu is a leaf: nothing takes another
// lock while holding it, and a socket may take another socket's qmu
// (inproc) while it holds its own mu, but never another socket's mu.
type Socket struct {
	typ Type
	opt Options

	mu        sync.Mutex
	closed    bool
	peers     []*peer // every attached peer, in order of attachment
	out       []*peer // the peers messages may be routed to
	rr        int     // round-robin cursor into out
	byID      map[string]*peer
	nextID    uint32
	listeners map[string]*listener
	dialers   []*dialer
	ownSubs   subscriptions // SUB/XSUB: what this socket subscribed to
	// REQ: the peer the request went to, while the reply is awaited.
	reqPeer *peer
	// REP: the peer and envelope of the request being answered.
	repPeer *peer
	repEnv  [][]byte

	qmu   sync.Mutex
	ready []*peer // peers whose inbound queue is not empty, in arrival order
	xin   ring    // XPUB: subscription messages for Recv

	filter atomic.Pointer[subscriptions] // SUB: own topics, read by readers without mu

	rnotify, wnotify chan struct{}
	done             chan struct{} // closed by Close
	wg               sync.WaitGroup
	gone             chan struct{} // closed when every goroutine has ended

	stats counters

	// The accepted connections whose handshake is under way, oldest
	// first (see Options.MaxHandshakes).
	hsmu    sync.Mutex
	pending pendingList
}

type counters struct {
	sent, received, droppedHWM, droppedNoPeer, droppedLost, discarded atomic.Uint64
	protocolErrors, handshakeFailures, subsRefused, handshakesShed    atomic.Uint64
}

// Stats is a snapshot of a socket's counters. Every message the socket
// did not deliver is in one of the Dropped counts or in Discarded.
type Stats struct {
	Sent, Received uint64
	// DroppedHWM counts messages not queued because a peer was at its
	// high-water mark (PUB, XPUB, ROUTER without RouterMandatory; REP).
	DroppedHWM uint64
	// DroppedNoPeer counts messages for a peer that was not there: a
	// ROUTER's unknown identity, a REP's requester gone, an XSUB's
	// message upstream while it has no publisher.
	DroppedNoPeer uint64
	// DroppedLost counts messages queued to or in flight on a connection
	// when it ended, and messages left queued at Close.
	DroppedLost uint64
	// Discarded counts malformed messages thrown away as libzmq throws
	// them away: a REQ's reply without a delimiter or from a peer it did
	// not ask, a REP's request without an envelope.
	Discarded uint64
	// ProtocolErrors counts connections closed because the peer broke
	// the protocol or a bound (message size, frames, ...).
	ProtocolErrors uint64
	// HandshakeFailures counts connections that never completed their
	// handshake (HandshakesShed included).
	HandshakeFailures uint64
	// HandshakesShed counts accepted connections closed, mid-handshake,
	// to make room under Options.MaxHandshakes.
	HandshakesShed uint64
	// SubscriptionsRefused counts subscriptions over a peer's bounds.
	SubscriptionsRefused uint64
	// Peers is the number of peers connected now.
	Peers int
}

// New makes a socket of type t.
func New(t Type, opt Options) (*Socket, error) {
	if !t.valid() {
		return nil, fmt.Errorf("%w: socket type %d", ErrNotSupported, int(t))
	}
	if len(opt.Identity) > 255 || len(opt.Identity) > 0 && opt.Identity[0] == 0 {
		return nil, fmt.Errorf("zmtp: identity must be 1 to 255 bytes and not start with a zero byte")
	}
	s := &Socket{
		typ:       t,
		opt:       opt.withDefaults(),
		listeners: make(map[string]*listener),
		rnotify:   make(chan struct{}, 1),
		wnotify:   make(chan struct{}, 1),
		done:      make(chan struct{}),
		gone:      make(chan struct{}),
	}
	if t == ROUTER {
		s.byID = make(map[string]*peer)
		var b [4]byte
		rand.Read(b[:])
		s.nextID = binary.BigEndian.Uint32(b[:])
	}
	if t == SUB {
		s.filter.Store(&subscriptions{})
	}
	return s, nil
}

// Type returns the socket's type.
func (s *Socket) Type() Type { return s.typ }

// Bind listens on an endpoint and returns it as a peer would connect to
// it: a tcp port of 0 or "*" is the one the system chose.
func (s *Socket) Bind(endpoint string) (string, error) {
	ep, err := parseEndpoint(endpoint)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return "", ErrClosed
	}
	if ep.transport == "inproc" {
		if err := inprocBind(ep.addr, s); err != nil {
			s.emit(Event{Kind: EventBindFailed, Endpoint: endpoint, Err: err})
			return "", err
		}
		s.listeners[ep.String()] = &listener{inproc: ep.addr}
		s.emit(Event{Kind: EventListening, Endpoint: ep.String()})
		return ep.String(), nil
	}
	l, last, err := listen(ep)
	if err != nil {
		err = fmt.Errorf("%w: bind %s: %w", ErrEndpoint, endpoint, err)
		s.emit(Event{Kind: EventBindFailed, Endpoint: endpoint, Err: err})
		return "", err
	}
	ln := &listener{l: l, endpoint: last, done: make(chan struct{})}
	s.listeners[last] = ln
	s.wg.Add(1)
	go s.acceptLoop(ln)
	s.emit(Event{Kind: EventListening, Endpoint: last})
	return last, nil
}

// Unbind stops listening on an endpoint Bind returned. Connections it
// accepted stay up, as in libzmq.
func (s *Socket) Unbind(endpoint string) error {
	s.mu.Lock()
	ln, ok := s.listeners[endpoint]
	if ok {
		delete(s.listeners, endpoint)
	}
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %s is not bound", ErrEndpoint, endpoint)
	}
	ln.close(s)
	return nil
}

// Connect connects to an endpoint, now and again whenever the connection
// is lost. Unless Options.Immediate, messages may be sent to it at once:
// they wait, up to the high-water mark, for the connection.
func (s *Socket) Connect(endpoint string) error {
	ep, err := parseEndpoint(endpoint)
	if err != nil {
		return err
	}
	if err := checkConnectable(ep); err != nil {
		return err
	}
	if ep.transport == "inproc" {
		return inprocConnect(ep.addr, s)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	d := &dialer{ep: ep}
	if !s.opt.Immediate && s.typ != SUB && s.typ != XSUB {
		// The pipe exists before the connection, as libzmq's does, so that
		// what is sent now is delivered once it is up.
		d.p = s.newPeer(ep.String())
		s.attachLocked(d.p)
	}
	s.dialers = append(s.dialers, d)
	s.wg.Add(1)
	go s.dialLoop(d)
	return nil
}

// newPeer makes a peer not yet attached.
func (s *Socket) newPeer(endpoint string) *peer {
	p := &peer{s: s, endpoint: endpoint, inSpace: make(chan struct{}, 1)}
	p.w.wake = make(chan struct{}, 1)
	p.w.idle.L = &p.w.mu
	return p
}

// attachLocked makes p a destination of the socket's routing; s.mu held.
func (s *Socket) attachLocked(p *peer) {
	if p.attached {
		return
	}
	p.attached = true
	s.peers = append(s.peers, p)
	if s.typ.canSend() {
		s.out = append(s.out, p)
	}
	signal(s.wnotify)
}

// detachLocked takes p out of the routing; its inbound queue is still
// read to the end. s.mu held.
func (s *Socket) detachLocked(p *peer) {
	if !p.attached {
		return
	}
	p.attached = false
	s.peers = remove(s.peers, p)
	if i := index(s.out, p); i >= 0 {
		s.out = append(s.out[:i], s.out[i+1:]...)
		if s.rr > i {
			s.rr--
		}
	}
	if p.id != nil && s.byID != nil && s.byID[string(p.id)] == p {
		delete(s.byID, string(p.id))
	}
	if s.reqPeer == p {
		// The request cannot be answered: libzmq's REQ would wait
		// forever; a new send is allowed instead.
		s.reqPeer = nil
	}
	if s.repPeer == p {
		s.repPeer = nil
	}
	if s.typ == XPUB {
		// A departing subscriber's topics end, as if it had cancelled
		// them: an XPUB user counting subscriptions stays right.
		p.subs.each(func(topic string) {
			if s.opt.XPubVerbose || s.othersLackLocked(p, []byte(topic)) {
				s.passUpLocked([]byte(topic), false)
			}
		})
	}
	p.subs.clear()
}

// passUpLocked queues a subscription notice (on) or cancel for an
// XPUB's Recv. s.mu held.
func (s *Socket) passUpLocked(topic []byte, on bool) {
	b := make([]byte, 1+len(topic))
	if on {
		b[0] = 1
	}
	copy(b[1:], topic)
	s.qmu.Lock()
	if s.xin.len() < limit(s.opt.RecvHWM) {
		s.xin.push([][]byte{b})
	} else {
		s.stats.droppedHWM.Add(1)
	}
	s.qmu.Unlock()
	signal(s.rnotify)
}

func remove(ps []*peer, p *peer) []*peer {
	if i := index(ps, p); i >= 0 {
		return append(ps[:i], ps[i+1:]...)
	}
	return ps
}

func index(ps []*peer, p *peer) int {
	for i, q := range ps {
		if q == p {
			return i
		}
	}
	return -1
}

// routingID returns the id a ROUTER gives a peer that said none, as
// libzmq does: a zero byte and a counter. s.mu held.
func (s *Socket) routingIDLocked() []byte {
	s.nextID++
	id := make([]byte, 5)
	binary.BigEndian.PutUint32(id[1:], s.nextID)
	return id
}

// Send sends one message, waiting while the socket cannot take it (a
// peer at its high-water mark, no peer yet) until ctx ends.
func (s *Socket) Send(ctx context.Context, msg [][]byte) error {
	for {
		err := s.TrySend(msg)
		if err != ErrAgain {
			return err
		}
		select {
		case <-s.wnotify:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.done:
			return ErrClosed
		}
	}
}

// TrySend sends one message if it can be sent now, and returns ErrAgain
// if not.
func (s *Socket) TrySend(msg [][]byte) error {
	if len(msg) == 0 {
		return ErrEmpty
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	var err error
	switch s.typ {
	case PUB, XPUB:
		err = s.publishLocked(msg)
	case XSUB:
		err = s.xsubSendLocked(msg)
	case SUB, PULL:
		err = ErrNotSupported
	case ROUTER:
		err = s.routerSendLocked(msg)
	case REP:
		err = s.repSendLocked(msg)
	case REQ:
		if s.reqPeer != nil {
			err = ErrState
			break
		}
		var p *peer
		if p, err = s.roundRobinLocked(msg, true); err == nil {
			s.reqPeer = p
		}
	default: // DEALER, PUSH, PAIR
		_, err = s.roundRobinLocked(msg, false)
	}
	s.mu.Unlock()
	if err == nil {
		s.stats.sent.Add(1)
		signal(s.wnotify) // another sender may wait for what is left
	}
	return err
}

// roundRobinLocked sends msg to the next peer that has room. delim puts
// the empty delimiter a REQ adds before the message.
func (s *Socket) roundRobinLocked(msg [][]byte, delim bool) (*peer, error) {
	n := len(s.out)
	for i := 0; i < n; i++ {
		p := s.out[(s.rr+i)%n]
		if s.opt.Immediate && !p.up {
			continue
		}
		if s.typ == PAIR && !p.up && p.conn == nil && p.mirror == nil && len(s.out) > 1 {
			continue
		}
		var pre [][]byte
		if delim {
			pre = delimiter
		}
		if p.offer(pre, msg) {
			s.rr = (s.rr + i + 1) % n
			return p, nil
		}
	}
	return nil, ErrAgain
}

// publishLocked sends msg to every peer subscribed to it; a peer at its
// high-water mark misses it, and the miss is counted. With XPubNoDrop
// nobody misses it: while one subscriber is full it goes to none, so
// that the sender can wait and no subscriber sees a gap.
func (s *Socket) publishLocked(msg [][]byte) error {
	if s.opt.XPubNoDrop {
		for _, p := range s.out {
			if p.subs.match(msg[0]) && !p.hasRoom(msg) {
				return ErrAgain
			}
		}
	}
	for _, p := range s.out {
		if !p.subs.match(msg[0]) {
			continue
		}
		if !p.offer(nil, msg) {
			p.dropped.Add(1)
			s.stats.droppedHWM.Add(1)
		}
	}
	return nil
}

func (s *Socket) xsubSendLocked(msg [][]byte) error {
	f := msg[0]
	if len(msg) == 1 && len(f) > 0 && (f[0] == 1 || f[0] == 0) {
		return s.subscribeLocked(f[1:], f[0] == 1)
	}
	if len(s.out) == 0 {
		// Nobody to send it upstream to: gone, as in libzmq, but counted.
		s.stats.droppedNoPeer.Add(1)
		return nil
	}
	for _, p := range s.out {
		if !p.offer(nil, msg) {
			s.stats.droppedHWM.Add(1)
		}
	}
	return nil
}

func (s *Socket) routerSendLocked(msg [][]byte) error {
	p := s.byID[string(msg[0])]
	if p == nil {
		if s.opt.RouterMandatory {
			return ErrHostUnreachable
		}
		s.stats.droppedNoPeer.Add(1)
		return nil
	}
	if len(msg) == 1 {
		return nil // an identity and nothing to send: libzmq sends nothing
	}
	if !p.offer(nil, msg[1:]) {
		if s.opt.RouterMandatory {
			return ErrAgain
		}
		p.dropped.Add(1)
		s.stats.droppedHWM.Add(1)
	}
	return nil
}

func (s *Socket) repSendLocked(msg [][]byte) error {
	if s.repEnv == nil {
		return ErrState
	}
	p, env := s.repPeer, s.repEnv
	s.repPeer, s.repEnv = nil, nil
	if p == nil || !p.attached {
		s.stats.droppedNoPeer.Add(1)
		return nil
	}
	if !p.offer(env, msg) {
		p.dropped.Add(1)
		s.stats.droppedHWM.Add(1)
	}
	return nil
}

// Recv receives one message, waiting until one arrives or ctx ends.
func (s *Socket) Recv(ctx context.Context) ([][]byte, error) {
	m, _, err := s.RecvFrom(ctx)
	return m, err
}

// RecvFrom is Recv that also says which peer the message came from.
func (s *Socket) RecvFrom(ctx context.Context) ([][]byte, *PeerInfo, error) {
	for {
		m, p, err := s.TryRecvFrom()
		if err != ErrAgain {
			return m, p, err
		}
		select {
		case <-s.rnotify:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-s.done:
			return nil, nil, ErrClosed
		}
	}
}

// TryRecv receives a message that is there now, or returns ErrAgain.
func (s *Socket) TryRecv() ([][]byte, error) {
	m, _, err := s.TryRecvFrom()
	return m, err
}

// TryRecvFrom is TryRecv that also says which peer the message came from.
func (s *Socket) TryRecvFrom() ([][]byte, *PeerInfo, error) {
	if !s.typ.canRecv() && s.typ != PUB {
		return nil, nil, ErrNotSupported
	}
	if s.typ == PUB {
		return nil, nil, ErrNotSupported
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, nil, ErrClosed
	}
	switch s.typ {
	case REQ:
		if s.reqPeer == nil {
			return nil, nil, ErrState
		}
	case REP:
		if s.repEnv != nil {
			return nil, nil, ErrState
		}
	case XPUB:
		s.qmu.Lock()
		m := s.xin.pop()
		more := s.xin.len() > 0
		s.qmu.Unlock()
		if m == nil {
			return nil, nil, ErrAgain
		}
		if more {
			signal(s.rnotify)
		}
		s.stats.received.Add(1)
		return m, nil, nil
	}
	for {
		m, p := s.popLocked()
		if p == nil {
			return nil, nil, ErrAgain
		}
		switch s.typ {
		case ROUTER:
			m[0] = p.id // the slot its reader left
		case REQ:
			if p != s.reqPeer || len(m) < 2 || len(m[0]) != 0 {
				s.stats.discarded.Add(1)
				continue
			}
			m = m[1:]
			s.reqPeer = nil
		case REP:
			i := 0
			for i < len(m) && len(m[i]) != 0 {
				i++
			}
			if i == len(m) {
				s.stats.discarded.Add(1)
				continue
			}
			s.repPeer, s.repEnv = p, m[:i+1:i+1]
			m = m[i+1:]
		}
		s.stats.received.Add(1)
		return m, &p.info, nil
	}
}

// popLocked takes the next message, fair-queued across peers. s.mu held.
func (s *Socket) popLocked() ([][]byte, *peer) {
	s.qmu.Lock()
	if len(s.ready) == 0 {
		s.qmu.Unlock()
		return nil, nil
	}
	p := s.ready[0]
	m := p.in.pop()
	wasFull := p.in.len()+1 >= limit(p.inCap)
	if p.in.len() == 0 {
		p.inReady = false
		// Shifted down, not resliced: the array is kept for the next
		// append, and no allocation comes with each message.
		n := copy(s.ready, s.ready[1:])
		s.ready[n] = nil
		s.ready = s.ready[:n]
	} else if len(s.ready) > 1 {
		// Fair queueing: the peer goes to the back.
		copy(s.ready, s.ready[1:])
		s.ready[len(s.ready)-1] = p
	}
	more := len(s.ready) > 0
	s.qmu.Unlock()
	if more {
		signal(s.rnotify)
	}
	if wasFull {
		signal(p.inSpace)
		if p.mirror != nil {
			signal(p.mirror.s.wnotify)
		}
	}
	return m, p
}

// push queues a message received from p. It reports false when p's
// queue is full (the caller waits on p.inSpace).
func (s *Socket) push(p *peer, msgs ...[][]byte) (taken int) {
	s.qmu.Lock()
	for _, m := range msgs {
		if p.in.len() >= limit(p.inCap) {
			break
		}
		p.in.push(m)
		taken++
	}
	if taken > 0 && !p.inReady {
		p.inReady = true
		s.ready = append(s.ready, p)
	}
	s.qmu.Unlock()
	if taken > 0 {
		signal(s.rnotify)
	}
	return taken
}

// Subscribe subscribes a SUB or XSUB socket to messages starting with
// topic ("" for all).
func (s *Socket) Subscribe(topic []byte) error { return s.setSub(topic, true) }

// Unsubscribe cancels one Subscribe of topic.
func (s *Socket) Unsubscribe(topic []byte) error { return s.setSub(topic, false) }

func (s *Socket) setSub(topic []byte, on bool) error {
	if s.typ != SUB && s.typ != XSUB {
		return ErrNotSupported
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	err := s.subscribeLocked(topic, on)
	s.mu.Unlock()
	return err
}

// subscribeLocked updates the socket's own topics and tells every peer
// whose set changed. s.mu held.
func (s *Socket) subscribeLocked(topic []byte, on bool) error {
	changed := false
	if on {
		changed, _ = s.ownSubs.add(topic, -1, -1)
	} else {
		changed = s.ownSubs.remove(topic)
	}
	if s.typ == SUB {
		// Readers filter with a copy, so that they never take mu.
		c := &subscriptions{}
		s.ownSubs.each(func(t string) { c.add([]byte(t), -1, -1) })
		s.filter.Store(c)
	}
	if !changed {
		return nil
	}
	t := append([]byte(nil), topic...)
	for _, p := range s.peers {
		p.sendSub(t, on)
	}
	return nil
}

// Close closes the socket: calls waiting in it return ErrClosed, the
// listeners and connections close, and messages still queued get
// Options.Linger to go out, in the background. Done says when every
// goroutine of the socket has ended.
func (s *Socket) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	lns := s.listeners
	s.listeners = nil
	peers := append([]*peer(nil), s.peers...)
	for _, d := range s.dialers {
		if d.p != nil && index(peers, d.p) < 0 {
			peers = append(peers, d.p)
		}
	}
	s.mu.Unlock()
	for _, ln := range lns {
		ln.close(s)
	}
	for _, p := range peers {
		p.closeForSocket()
	}
	go func() {
		s.wg.Wait()
		s.emit(Event{Kind: EventMonitorStopped})
		close(s.gone)
	}()
	return nil
}

// Done is closed once every goroutine of a closed socket has ended and
// its last connection is closed.
func (s *Socket) Done() <-chan struct{} { return s.gone }

// Stats returns the socket's counters.
func (s *Socket) Stats() Stats {
	s.mu.Lock()
	n := 0
	for _, p := range s.peers {
		if p.up {
			n++
		}
	}
	s.mu.Unlock()
	return Stats{
		Sent: s.stats.sent.Load(), Received: s.stats.received.Load(),
		DroppedHWM: s.stats.droppedHWM.Load(), DroppedNoPeer: s.stats.droppedNoPeer.Load(),
		DroppedLost: s.stats.droppedLost.Load(), Discarded: s.stats.discarded.Load(),
		ProtocolErrors: s.stats.protocolErrors.Load(), HandshakeFailures: s.stats.handshakeFailures.Load(),
		HandshakesShed: s.stats.handshakesShed.Load(), SubscriptionsRefused: s.stats.subsRefused.Load(), Peers: n,
	}
}

// Peers returns what the socket knows of each peer connected now.
func (s *Socket) Peers() []PeerInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []PeerInfo
	for _, p := range s.peers {
		if p.up {
			out = append(out, p.info)
		}
	}
	return out
}

// Subscribers returns how many peers of a PUB or XPUB socket would get a
// message whose first frame is topic.
func (s *Socket) Subscribers(topic []byte) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, p := range s.peers {
		if p.subs.match(topic) {
			n++
		}
	}
	return n
}

// Readable reports whether a Recv would find a message now.
func (s *Socket) Readable() bool {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	return len(s.ready) > 0 || s.xin.len() > 0
}

// WaitReadable waits until a Recv would find a message, or ctx ends. It
// shares its wake-ups with Recv: use one or the other per socket.
func (s *Socket) WaitReadable(ctx context.Context) error {
	for {
		if s.Readable() {
			signal(s.rnotify) // a Recv waiting beside us must not lose it
			return nil
		}
		select {
		case <-s.rnotify:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.done:
			return ErrClosed
		}
	}
}

// PeerInfo is what a socket knows of one peer.
type PeerInfo struct {
	Type     string        // its socket type
	Identity []byte        // its routing id (as a ROUTER addresses it)
	UserID   string        // who it was authenticated as, "" when not
	Remote   string        // its address
	Endpoint string        // the endpoint of ours it came through
	Metadata wire.Metadata // everything it said of itself in the handshake
}

// listener is one bound endpoint.
type listener struct {
	l        net.Listener
	endpoint string
	inproc   string
	done     chan struct{}
	once     sync.Once
}

func (ln *listener) close(s *Socket) {
	ln.once.Do(func() {
		if ln.inproc != "" {
			inprocUnbind(ln.inproc, s)
			return
		}
		ln.l.Close()
		<-ln.done
		s.emit(Event{Kind: EventClosed, Endpoint: ln.endpoint})
	})
}

// dialer is one connected endpoint.
type dialer struct {
	ep endpoint
	p  *peer // the pipe kept across reconnections (nil: Immediate, SUB)
}
