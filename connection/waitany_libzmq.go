package connection

import (
	"context"
	"errors"
	"fmt"
	"time"

	zmq "github.com/pebbe/zmq4"
)

// Waitable is any socket of this package: every facade (Router, Dealer,
// Subscriber, Response, Request, ...) and a Proxy's ends. WaitAny waits
// on several.
type Waitable interface{ waitable() *Socket }

func (s *Socket) waitable() *Socket  { return s }
func (r *Request) waitable() *Socket { return r.cur.Load() }

// MaxWaitAny is how many sockets one WaitAny may wait on.
const MaxWaitAny = 8

// WaitAny blocks until one of socks has a message to receive and returns
// its index (the first ready one, in the order given), so that one
// goroutine can serve several sockets as zmq_poll lets a thread do: a
// Recv on that socket then returns at once. It fails with ErrClosed when
// one of them is closed, with ctx's error (ErrTimeout for a deadline) when
// ctx ends first.
//
// WaitAny is the receiving waiter of each socket while it waits: a Recv
// on one of them from another goroutine meanwhile waits its turn. It
// waits in a blocking system call, holding a thread, as libzmq's own
// zmq_poll does: it is meant for a goroutine that serves those sockets
// and nothing else.
func WaitAny(ctx context.Context, socks ...Waitable) (int, error) {
	if len(socks) == 0 || len(socks) > MaxWaitAny {
		return -1, fmt.Errorf("WaitAny on %d sockets (1 to %d): %w", len(socks), MaxWaitAny, ErrOption)
	}
	var ss [MaxWaitAny]*Socket
	var zfds, wakes [MaxWaitAny]int
	n := len(socks)
	for i, w := range socks {
		ss[i] = w.waitable()
	}
	// Ready already? Then no waiter slot is needed.
	if i, err := readyAmong(ss[:n]); i >= 0 || err != nil {
		return i, err
	}
	// Take each socket's receive-side waiter slot, as a Recv that has to
	// wait does, so that operations by other goroutines wake us when they
	// may have consumed our edge (notifyLocked), and Close wakes us.
	for i := range n {
		s := ss[i]
		select {
		case s.rsem <- struct{}{}:
		case <-ctx.Done():
			releaseWaiters(ss[:i])
			return -1, ctxErr(ctx)
		case <-s.done:
			releaseWaiters(ss[:i])
			return -1, ErrClosed
		}
		s.rwaiting.Store(true)
		s.unpark(dirRead)
		zfds[i], wakes[i] = s.zfd, s.wakefd[0].fd
	}
	defer releaseWaiters(ss[:n])
	waiters.Add(1) // a thread in a blocking poll, as waitHot counts it
	defer waiters.Add(-1)
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, ss[0].wakefd[0].signal)
		defer stop()
	}
	deadline, hasDeadline := ctx.Deadline()
	for {
		if i, err := readyAmong(ss[:n]); i >= 0 || err != nil {
			return i, err
		}
		if err := ctx.Err(); err != nil {
			return -1, ctxErr(ctx)
		}
		// A bounded wait, so that a wake-up lost to a race costs at most
		// this; the fds are closed only once no waiter is left.
		d := time.Second
		if hasDeadline {
			d = min(d, max(time.Until(deadline), 0))
		}
		waitFDs(zfds[:n], wakes[:n], d)
	}
}

// releaseWaiters gives the waiter slots of ss back.
func releaseWaiters(ss []*Socket) {
	for _, s := range ss {
		s.rwaiting.Store(false)
		<-s.rsem
	}
}

// readyAmong returns the index of the first socket of ss with a message
// to receive, or -1; or ErrClosed for a closed one.
func readyAmong(ss []*Socket) (int, error) {
	for i, s := range ss {
		ok, err := s.readable()
		if err != nil {
			return -1, err
		}
		if ok {
			return i, nil
		}
	}
	return -1, nil
}

// readable reports, without waiting, whether a message can be received.
func (s *Socket) readable() (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return false, ErrClosed
	}
	if s.head < len(s.queue) {
		return true, nil
	}
	if s.batch {
		// Reading ahead answers the question in the same one call that
		// asking libzmq (ZMQ_EVENTS) would take, and the Recv that
		// follows then needs none. A receive that finds nothing has
		// processed libzmq's pending commands as ZMQ_EVENTS does, so the
		// socket's fd signals the next message all the same.
		err := s.refill(false)
		s.notifyLocked(dirRead)
		switch {
		case len(s.queue) > 0:
			return true, nil
		case err == nil || isAgain(err):
			return false, nil
		case errors.Is(err, zmq.ETERM):
			return false, ErrClosed
		}
		return false, s.mapErr("wait", err)
	}
	ev, err := s.zs.GetEvents()
	s.notifyLocked(dirRead)
	if err != nil {
		if errors.Is(err, zmq.ETERM) {
			return false, ErrClosed
		}
		return false, s.mapErr("wait", err)
	}
	return ev&zmq.POLLIN != 0, nil
}
