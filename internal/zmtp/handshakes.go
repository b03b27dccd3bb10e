package zmtp

import "net"

// A listener accepts a connection before it knows whether the peer will
// ever finish its handshake; a flood of connections that never do would
// otherwise hold memory without bound until each handshake timed out.
// The socket keeps its accepted connections whose handshake is under way
// in arrival order, at most Options.MaxHandshakes of them, and sheds the
// oldest to admit a new one: an attacker's connections age while a real
// peer's handshake takes milliseconds.

// pendingConn is an accepted connection whose handshake is under way.
type pendingConn struct {
	nc         net.Conn
	prev, next *pendingConn
	shed       bool // closed by admit to make room
}

// pendingList is the socket's pending handshakes, oldest first.
type pendingList struct {
	head, tail *pendingConn
	n          int
}

func (l *pendingList) push(c *pendingConn) {
	c.prev, c.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = c
	} else {
		l.head = c
	}
	l.tail = c
	l.n++
}

func (l *pendingList) remove(c *pendingConn) {
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		l.head = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	} else {
		l.tail = c.prev
	}
	c.prev, c.next = nil, nil
	l.n--
}

// admit records nc's handshake as under way, first shedding the oldest
// pending one when the socket is at its bound.
func (s *Socket) admit(nc net.Conn) *pendingConn {
	c := &pendingConn{nc: nc}
	s.hsmu.Lock()
	var old *pendingConn
	if s.pending.n >= s.opt.MaxHandshakes {
		old = s.pending.head
		s.pending.remove(old)
		old.shed = true
	}
	s.pending.push(c)
	s.hsmu.Unlock()
	if old != nil {
		s.stats.handshakesShed.Add(1)
		old.nc.Close() // its handshake fails, and run counts and reports it
	}
	return c
}

// settle ends c's handshake, done or failed; it reports whether admit
// shed it.
func (s *Socket) settle(c *pendingConn) (shed bool) {
	s.hsmu.Lock()
	defer s.hsmu.Unlock()
	if c.shed {
		return true
	}
	s.pending.remove(c)
	return false
}
