package zmtp

import (
	"fmt"
	"sync"

	"github.com/dividere-go/dividere/internal/zmtp/wire"
)

// inproc endpoints of the process: a name is bound by one socket, and
// connecting sockets are attached to it directly, message queue to
// message queue. A connect that comes before the bind waits for it, as
// in libzmq.
var inprocs = struct {
	sync.Mutex
	bound   map[string]*Socket
	pending map[string][]*Socket
}{bound: map[string]*Socket{}, pending: map[string][]*Socket{}}

func inprocBind(name string, s *Socket) error {
	inprocs.Lock()
	if _, taken := inprocs.bound[name]; taken {
		inprocs.Unlock()
		return fmt.Errorf("%w: inproc://%s is bound already", ErrEndpoint, name)
	}
	inprocs.bound[name] = s
	waiting := inprocs.pending[name]
	delete(inprocs.pending, name)
	inprocs.Unlock()
	for _, c := range waiting {
		inprocAttach(c, s, name)
	}
	return nil
}

func inprocUnbind(name string, s *Socket) {
	inprocs.Lock()
	if inprocs.bound[name] == s {
		delete(inprocs.bound, name)
	}
	inprocs.Unlock()
}

func inprocConnect(name string, c *Socket) error {
	inprocs.Lock()
	b := inprocs.bound[name]
	if b == nil {
		inprocs.pending[name] = append(inprocs.pending[name], c)
		inprocs.Unlock()
		return nil
	}
	inprocs.Unlock()
	return inprocAttach(c, b, name)
}

// inprocAttach connects c to b: a pair of peers, each the other's mirror.
func inprocAttach(c, b *Socket, name string) error {
	ep := "inproc://" + name
	if !wire.Compatible(c.typ.String(), b.typ.String()) {
		err := fmt.Errorf("%w: %s cannot talk to %s over %s", ErrIncompatible, c.typ, b.typ, ep)
		c.emit(Event{Kind: EventHandshakeProtocol, Endpoint: ep, Err: err})
		return err
	}
	pc, pb := c.newPeer(ep), b.newPeer(ep)
	pc.mirror, pb.mirror = pb, pc
	// Each queue holds what the sender may queue and the receiver may
	// hold, as libzmq's inproc pipes.
	pc.inCap = addLimits(b.opt.SendHWM, c.opt.RecvHWM)
	pb.inCap = addLimits(c.opt.SendHWM, b.opt.RecvHWM)
	pc.info = PeerInfo{Type: b.typ.String(), Remote: ep, Endpoint: ep}
	pb.info = PeerInfo{Type: c.typ.String(), Remote: ep, Endpoint: ep}
	for _, side := range []struct {
		s      *Socket
		p      *peer
		peerID []byte
	}{{c, pc, b.opt.Identity}, {b, pb, c.opt.Identity}} {
		s := side.s
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			inprocDisconnect(pc)
			return ErrClosed
		}
		var displaced *peer
		if s.typ == ROUTER {
			id := append([]byte(nil), side.peerID...)
			if len(id) == 0 || id[0] == 0 || s.byID[string(id)] != nil && !s.opt.RouterHandover {
				id = s.routingIDLocked()
			}
			displaced, _ = s.claimIDLocked(side.p, id)
		}
		side.p.info.Identity = side.p.id
		side.p.up = true
		s.attachLocked(side.p)
		s.mu.Unlock()
		displaced.handOver()
	}
	// A subscriber's topics go to the publisher once both ends exist.
	for _, side := range []struct{ s, o *Socket }{{c, b}, {b, c}} {
		if side.s.typ != SUB && side.s.typ != XSUB {
			continue
		}
		p := pc
		if side.s == b {
			p = pb
		}
		side.s.mu.Lock()
		side.s.ownSubs.each(func(t string) { inprocSub(p.mirror, []byte(t), true) })
		side.s.mu.Unlock()
	}
	c.emit(Event{Kind: EventConnected, Endpoint: ep})
	c.emit(Event{Kind: EventHandshakeSucceeded, Endpoint: ep})
	b.emit(Event{Kind: EventAccepted, Endpoint: ep})
	b.emit(Event{Kind: EventHandshakeSucceeded, Endpoint: ep})
	return nil
}

func addLimits(a, b int) int {
	if a < 0 || b < 0 {
		return -1
	}
	return a + b
}

// inprocSub applies a subscription change to the publisher's end p.
func inprocSub(p *peer, topic []byte, on bool) {
	p.s.peerSub(p, topic, on)
}

// inprocDisconnect takes both ends of an inproc pair out of their
// sockets' routing. What each had received is still read to the end.
func inprocDisconnect(p *peer) {
	for _, q := range []*peer{p, p.mirror} {
		if q == nil {
			continue
		}
		s := q.s
		s.mu.Lock()
		q.up = false
		s.detachLocked(q)
		s.mu.Unlock()
		signal(s.wnotify)
		if s != p.s {
			s.emit(Event{Kind: EventDisconnected, Endpoint: q.endpoint})
		}
	}
}
