package connection

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/dividere-go/dividere/internal/endpoint"
	"github.com/dividere-go/dividere/internal/zmtp"
)

// Request sends requests and receives replies in strict alternation (REQ).
// Connected to several Response peers it sends round-robin. It connects by
// default (see "Binding or connecting" in the package doc).
//
// A request whose reply never comes leaves a REQ socket waiting for it
// forever; Reset replaces the socket so the Request is usable again, and
// Call does that by itself when its context ends first.
type Request struct {
	endpoints string
	cfg       config
	cur       atomic.Pointer[Socket]
	resetMu   sync.Mutex
	broken    atomic.Bool // a reset failed: the next call tries again first
}

// NewRequest creates a Request on the endpoint list.
func NewRequest(endpoints string, opts ...RequestOption) (*Request, error) {
	r := &Request{endpoints: endpoints, cfg: newConfig(opts, RequestOption.applyRequest)}
	s, err := r.open()
	if err != nil {
		return nil, err
	}
	r.cur.Store(s)
	return r, nil
}

func (r *Request) open() (*Socket, error) {
	return newSocket(kind{typ: zmtp.REQ}, r.endpoints, endpoint.Connect, r.cfg)
}

// Name returns the name of the Request's socket (see WithName).
func (r *Request) Name() string { return r.cur.Load().Name() }

// Send sends a request. Sending twice without receiving the reply in
// between is ErrState.
func (r *Request) Send(ctx context.Context, frames ...[]byte) error {
	s, err := r.socket()
	if err != nil {
		return err
	}
	return s.send(ctx, frames)
}

// socket returns the current socket, first replacing one whose reset
// failed (say, for want of file descriptors) so the Request heals.
func (r *Request) socket() (*Socket, error) {
	s := r.cur.Load()
	if r.broken.Load() {
		if err := r.resetIf(s); err != nil {
			return nil, err
		}
		s = r.cur.Load()
	}
	return s, nil
}

// Recv receives the reply to the last request.
func (r *Request) Recv(ctx context.Context) (Message, error) {
	return r.cur.Load().recv(ctx)
}

// Call sends a request and returns its reply. When ctx ends before the
// reply arrives the Request is Reset, so the next Call works (a late reply
// to this one is discarded with the old socket).
func (r *Request) Call(ctx context.Context, frames ...[]byte) (Message, error) {
	s, err := r.socket()
	if err != nil {
		return nil, err
	}
	if err := s.send(ctx, frames); err != nil {
		if errors.Is(err, ErrTimeout) || errors.Is(err, context.Canceled) {
			r.resetIf(s)
		}
		return nil, err
	}
	rep, err := s.recv(ctx)
	if err != nil && (errors.Is(err, ErrTimeout) || errors.Is(err, context.Canceled)) {
		if rerr := r.resetIf(s); rerr != nil {
			return nil, errors.Join(err, rerr)
		}
	}
	return rep, err
}

// Reset closes the socket and opens a new one on the same endpoints with
// the same options, discarding any pending request. Calls in progress on
// the old socket return ErrClosed.
func (r *Request) Reset() error { return r.resetIf(r.cur.Load()) }

func (r *Request) resetIf(old *Socket) error {
	r.resetMu.Lock()
	defer r.resetMu.Unlock()
	if r.cur.Load() != old || (old.isClosed() && !r.broken.Load()) {
		return nil // already reset by someone else, or closed for good
	}
	old.Close() // first, so that its descriptors are free for the new one
	s, err := r.open()
	if err != nil {
		r.broken.Store(true)
		return fmt.Errorf("reset: %w", err)
	}
	r.cur.Store(s)
	r.broken.Store(false)
	return nil
}

// WaitPeers waits for n Response peers (see Socket.WaitPeers).
func (r *Request) WaitPeers(ctx context.Context, n int) error { return r.cur.Load().WaitPeers(ctx, n) }

// Stats returns the current socket's counters.
func (r *Request) Stats() Stats { return r.cur.Load().Stats() }

// Close closes the Request; it never blocks.
func (r *Request) Close() error {
	r.resetMu.Lock()
	defer r.resetMu.Unlock()
	return r.cur.Load().Close()
}

// Response receives requests and sends replies in strict alternation
// (REP). It binds by default; ">" in front of an endpoint connects it,
// so that it can sit behind a Proxy's back end (see "Binding or
// connecting" in the package doc).
type Response struct {
	*sock
}

// NewResponse creates a Response on the endpoint list.
func NewResponse(endpoints string, opts ...ResponseOption) (*Response, error) {
	s, err := newSocket(kind{typ: zmtp.REP}, endpoints, endpoint.Bind, newConfig(opts, ResponseOption.applyResponse))
	if err != nil {
		return nil, err
	}
	return &Response{sock: s}, nil
}

// Recv receives the next request.
func (r *Response) Recv(ctx context.Context) (Message, error) { return r.recv(ctx) }

// RecvUser receives the next request and the public key its sender was
// authenticated with (needs WithUserID and a CURVE server; "" otherwise).
func (r *Response) RecvUser(ctx context.Context) (Message, string, error) { return r.recvUser(ctx) }

// Send sends the reply to the request last received.
func (r *Response) Send(ctx context.Context, frames ...[]byte) error { return r.send(ctx, frames) }
