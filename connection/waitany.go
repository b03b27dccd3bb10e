package connection

import (
	"context"
	"fmt"
)

// Waitable is any socket of this package: every facade (Router, Dealer,
// Subscriber, Response, Request, ...) and a Proxy's ends. WaitAny waits
// on several.
type Waitable interface{ waitable() *Socket }

func (s *Socket) waitable() *Socket  { return s }
func (r *Request) waitable() *Socket { return r.cur.Load() }

// maxWaitAny is how many sockets one WaitAny may wait on: its Go-engine
// wait is a select of fixed size, which allocates nothing.
const maxWaitAny = 8

// WaitAny blocks until one of socks (1 to 8 of them, an ErrOption
// otherwise) has a message to receive and returns
// its index (the first ready one, in the order given), so that one
// goroutine can serve several sockets as zmq_poll lets a thread do: a
// Recv on that socket then returns at once. It fails with ErrClosed when
// one of them is closed, with ctx's error (ErrTimeout for a deadline) when
// ctx ends first.
//
// WaitAny is the receiving waiter of each socket while it waits: a Recv
// on one of them from another goroutine meanwhile waits its turn. On
// libzmq it waits in a blocking system call, holding a thread, as
// libzmq's own zmq_poll does: it is meant for a goroutine that serves
// those sockets and nothing else. On the Go engine it waits on the
// sockets' channels.
func WaitAny(ctx context.Context, socks ...Waitable) (int, error) {
	if len(socks) == 0 || len(socks) > maxWaitAny {
		return -1, fmt.Errorf("WaitAny on %d sockets (1 to %d): %w", len(socks), maxWaitAny, ErrOption)
	}
	var ss [maxWaitAny]*Socket
	n := len(socks)
	for i, w := range socks {
		ss[i] = w.waitable()
	}
	if ss[0].g != nil {
		return waitAnyGo(ctx, ss[:n])
	}
	return waitAnyLibzmq(ctx, ss[:n])
}

// waitAnyGo is WaitAny on the Go engine.
func waitAnyGo(ctx context.Context, ss []*Socket) (int, error) {
	// A fixed select over up to maxWaitAny sockets: an unused slot's nil
	// channels never fire.
	var notify, done [maxWaitAny]<-chan struct{}
	for i, s := range ss {
		if s.g == nil {
			return -1, fmt.Errorf("WaitAny over sockets of two engines: %w", ErrOption)
		}
		notify[i], done[i] = s.g.RecvNotify(), s.done
	}
	for {
		for i, s := range ss {
			if s.closed.Load() {
				return -1, ErrClosed
			}
			if s.g.Readable() {
				return i, nil
			}
		}
		select {
		case <-notify[0]:
		case <-notify[1]:
		case <-notify[2]:
		case <-notify[3]:
		case <-notify[4]:
		case <-notify[5]:
		case <-notify[6]:
		case <-notify[7]:
		case <-done[0]:
		case <-done[1]:
		case <-done[2]:
		case <-done[3]:
		case <-done[4]:
		case <-done[5]:
		case <-done[6]:
		case <-done[7]:
		case <-ctx.Done():
			return -1, ctxErr(ctx)
		}
	}
}
