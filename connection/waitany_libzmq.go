//go:build libzmq && cgo

package connection

import (
	"context"
	"errors"
	"fmt"
	"time"

	zmq "github.com/pebbe/zmq4"
)

// waitAnyLibzmq is WaitAny on libzmq.
func waitAnyLibzmq(ctx context.Context, ss []*Socket) (int, error) {
	var zfds, wakes [maxWaitAny]int
	n := len(ss)
	for _, s := range ss {
		if s.g != nil {
			return -1, fmt.Errorf("WaitAny over sockets of two engines: %w", ErrOption)
		}
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
