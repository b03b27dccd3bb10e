// Package lifecycle is the serving model every dividere server shares,
// net/http's: build it (starting nothing), Serve(ctx) blocks until it
// stops, Shutdown(ctx) stops taking work and finishes what is in hand,
// Close stops at once. A server serves once.
package lifecycle

import (
	"context"
	"errors"
	"sync"
)

// ErrServerClosed is what Serve returns after Shutdown or Close, and what
// Serve of a server already closed returns at once. connection exports it.
var ErrServerClosed = errors.New("dividere: server closed")

// ErrServing is returned by a second Serve.
var ErrServing = errors.New("dividere: server already serving")

// State is one server's place in its life. The zero value is not usable:
// call New.
type State struct {
	mu       sync.Mutex
	serving  bool // Serve began
	closed   bool // Shutdown or Close was called, or Serve returned
	shutdown chan struct{}
	kill     chan struct{}
	done     chan struct{}
	sdOnce   sync.Once
	killOnce sync.Once
	doneOnce sync.Once
}

// New returns the State of a server that has not served yet.
func New() *State {
	return &State{shutdown: make(chan struct{}), kill: make(chan struct{}), done: make(chan struct{})}
}

// Begin is called first thing in Serve. It fails with ErrServerClosed
// when the server was closed, and with ErrServing when Serve runs
// already; then Serve must return that error at once.
func (s *State) Begin() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return ErrServerClosed
	case s.serving:
		return ErrServing
	}
	s.serving = true
	return nil
}

// End is called when Serve returns (defer it after a successful Begin).
func (s *State) End() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.doneOnce.Do(func() { close(s.done) })
}

// ShuttingDown is closed when the server is to stop taking work: at
// Shutdown, and at Close.
func (s *State) ShuttingDown() <-chan struct{} { return s.shutdown }

// Killed is closed at Close: the server is to stop at once.
func (s *State) Killed() <-chan struct{} { return s.kill }

// Done is closed when Serve has returned.
func (s *State) Done() <-chan struct{} { return s.done }

// Shutdown asks Serve to stop gracefully and waits until it has returned
// or ctx ends, when it closes the server at once and returns ctx's error.
// served tells whether a Serve began: if none did, the caller releases
// what the server holds itself.
func (s *State) Shutdown(ctx context.Context) (served bool, err error) {
	s.mu.Lock()
	s.closed = true
	served = s.serving
	s.mu.Unlock()
	s.sdOnce.Do(func() { close(s.shutdown) })
	if !served {
		s.doneOnce.Do(func() { close(s.done) })
		return false, nil
	}
	select {
	case <-s.done:
		return true, nil
	case <-ctx.Done():
		s.Close()
		return true, ctx.Err()
	}
}

// Stop asks Serve to stop gracefully, without waiting: what a server does
// to itself from within its own work.
func (s *State) Stop() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.sdOnce.Do(func() { close(s.shutdown) })
}

// Close tells Serve to stop at once, without waiting. served tells
// whether a Serve began (see Shutdown); if none did, Done is closed now.
func (s *State) Close() (served bool) {
	s.mu.Lock()
	s.closed = true
	served = s.serving
	s.mu.Unlock()
	if !served {
		s.doneOnce.Do(func() { close(s.done) })
	}
	s.sdOnce.Do(func() { close(s.shutdown) })
	s.killOnce.Do(func() { close(s.kill) })
	return served
}

// Release is Shutdown and Close for a server that holds sockets, which
// its Serve closes when it returns: free closes them itself when no Serve
// began. Such a server's Shutdown is ShutdownFree, its Close CloseFree.
type Release struct {
	*State
	free func() // idempotent
}

// WithRelease pairs s with the function that closes what the server holds.
func WithRelease(s *State, free func()) Release { return Release{s, free} }

// ShutdownFree is Shutdown, then free if no Serve began.
func (r Release) ShutdownFree(ctx context.Context) error {
	served, err := r.Shutdown(ctx)
	if !served {
		r.free()
	}
	return err
}

// CloseFree is Close, then free if no Serve began; with wait it returns
// only once Serve has (its sockets closed, their ports free again).
func (r Release) CloseFree(wait bool) error {
	if !r.Close() {
		r.free()
	}
	if wait {
		<-r.Done()
	}
	return nil
}
