package zmtp

import (
	"sync/atomic"
	"time"

	"github.com/dividere-go/dividere/internal/zmtp/wire"
)

// peer is one pipe: the socket's end of its exchange with one peer
// socket, over a stream connection (tcp, ipc) or in process (inproc).
// A connecting socket keeps its peer across reconnections, so that what
// was queued for it waits for the next connection.
type peer struct {
	s        *Socket
	endpoint string
	info     PeerInfo
	id       []byte // routing id, as a ROUTER addresses it

	// Guarded by s.mu.
	attached bool
	up       bool          // a connection is up (handshake done)
	conn     *stream       // the connection, nil while there is none
	subs     subscriptions // PUB/XPUB: what the peer subscribed to
	mirror   *peer         // inproc: the other socket's end

	// Guarded by s.qmu.
	in      ring
	inCap   int
	inReady bool
	inSpace chan struct{} // a reader waiting for room in `in` is woken

	w       outQueue
	dropped atomic.Uint64 // messages this peer missed at its high-water mark
	slab    carver        // inproc: what sends to the mirror are copied into (s.mu)
}

// delimiter is the empty frame a REQ puts before its message.
var delimiter = [][]byte{{}}

// offer queues the message of pre's frames and then msg's for the peer
// if it is below its high-water mark, the way libzmq's pipes do (whole
// messages; the mark counts messages and, here, bytes too). pre is a
// REQ's delimiter or a REP's envelope, nil for the others. Called with
// s.mu held.
func (p *peer) offer(pre, msg [][]byte) bool {
	if p.mirror != nil {
		return p.offerInproc(pre, msg)
	}
	size := wire.MessageSize(pre) + wire.MessageSize(msg)
	w := &p.w
	w.mu.Lock()
	if !p.roomLocked(size) {
		w.mu.Unlock()
		return false
	}
	// Nothing queued, nothing being written, and neither a send nor a
	// write for a while (so not a stream, which batches better): the
	// sender writes the message itself, without waking the writer loop.
	direct := w.n == 0 && !w.writing && w.direct != nil && len(w.cmd) == 0
	if direct {
		now := monoNow()
		direct = now-w.lastBusy > directGap
		w.lastBusy = now
	}
	w.push(pre, msg, size)
	if !direct {
		w.mu.Unlock()
		signal(w.wake)
		return true
	}
	w.writing = true
	b, rw := w.chunks[w.head][w.off:], w.direct
	w.mu.Unlock()
	k := rw.tryWrite(b)
	w.mu.Lock()
	w.writing = false
	if k > 0 {
		w.consume(k)
	}
	rest := w.bytes > 0 || len(w.cmd) > 0
	if w.waiters > 0 {
		w.idle.Broadcast()
	}
	w.mu.Unlock()
	if rest {
		signal(w.wake) // the rest (or the error) is the writer loop's
	}
	return true
}

// directGap is how long a peer's queue must have been idle for a send to
// write itself: sends closer together are a stream, and one write for
// many of them is cheaper than a system call each.
const directGap = int64(10 * time.Microsecond)

var monoStart = time.Now()

// monoNow is a monotonic clock reading in nanoseconds.
func monoNow() int64 { return int64(time.Since(monoStart)) }

// roomLocked reports whether a message of size encoded bytes fits below
// the peer's marks. p.w.mu held.
func (p *peer) roomLocked(size int) bool {
	w, o := &p.w, &p.s.opt
	if w.n >= limit(o.SendHWM) {
		return false
	}
	// One message always fits an empty queue, however large, so that a
	// message over the byte bound is not refused for ever.
	return w.n == 0 || o.SendQueueBytes < 0 || w.bytes+int64(size) <= o.SendQueueBytes
}

// hasRoom reports whether offer would take msg now. Only the socket's
// senders, who hold s.mu as the caller does, add to a peer's queue, so
// the answer holds until the caller's offer. s.mu held.
func (p *peer) hasRoom(msg [][]byte) bool {
	if m := p.mirror; m != nil {
		m.s.qmu.Lock()
		ok := m.in.len() < limit(m.inCap)
		m.s.qmu.Unlock()
		return ok
	}
	p.w.mu.Lock()
	ok := p.roomLocked(wire.MessageSize(msg))
	p.w.mu.Unlock()
	return ok
}

// offerInproc queues the message straight into the other socket's
// inbound queue: no bytes, no copies but one, no system call. Its
// capacity is both sides' marks added, as libzmq's inproc pipes. The
// copy is carved out of the peer's slabs (guarded by s.mu, as offer is).
func (p *peer) offerInproc(pre, msg [][]byte) bool {
	m := p.mirror
	o := m.s
	lead := 0
	if o.typ == ROUTER {
		lead = 1 // the slot for the routing id, filled by Recv
	}
	total := 0
	for _, part := range [2][][]byte{pre, msg} {
		for _, f := range part {
			total += len(f)
		}
	}
	mark := p.slab.mark()
	cp := p.slab.frameListFor(lead+len(pre)+len(msg), total)
	buf := p.slab.body(total)[:0]
	i := lead
	for _, part := range [2][][]byte{pre, msg} {
		for _, f := range part {
			buf = append(buf, f...)
			cp[i] = buf[len(buf)-len(f) : len(buf) : len(buf)]
			i++
		}
	}
	o.qmu.Lock()
	if m.in.len() >= limit(m.inCap) {
		o.qmu.Unlock()
		p.slab.reset(mark) // never handed out
		return false
	}
	m.in.push(cp)
	if !m.inReady {
		m.inReady = true
		o.ready = append(o.ready, m)
	}
	o.qmu.Unlock()
	signal(o.rnotify)
	return true
}

// sendSub tells the peer of a subscription change of ours. s.mu held.
func (p *peer) sendSub(topic []byte, on bool) {
	if p.mirror != nil {
		// A subscriber-side socket (SUB, XSUB) may take a publisher-side
		// socket's lock while it holds its own; the reverse never happens,
		// so the two cannot deadlock.
		inprocSub(p.mirror, topic, on)
		return
	}
	if p.conn == nil {
		return // the whole set is sent when the connection comes up
	}
	p.conn.queueSub(topic, on)
}

// closeForSocket ends the peer's connection as its socket closes, with
// the socket's linger for what is still queued.
func (p *peer) closeForSocket() {
	s := p.s
	s.mu.Lock()
	c, m := p.conn, p.mirror
	s.mu.Unlock()
	if m != nil {
		inprocDisconnect(p)
		return
	}
	if c != nil {
		c.linger(s.opt.Linger)
		return
	}
	// Never connected: what is queued is lost, and counted.
	p.w.mu.Lock()
	n := p.w.clearAll()
	p.w.mu.Unlock()
	s.stats.droppedLost.Add(uint64(n))
}
