package connection

import (
	"context"

	"github.com/dividere-go/dividere/internal/endpoint"
	"github.com/dividere-go/dividere/internal/zmtp"
)

// Dealer sends and receives asynchronously (DEALER): any number of sends
// and receives in any order, from any goroutines at once. Outgoing
// messages go round-robin to its peers. It connects by default (see
// "Binding or connecting" in the package doc) and has a unique routing identity unless WithIdentity
// sets one.
type Dealer struct {
	*sock
}

// NewDealer creates a Dealer on the endpoint list.
func NewDealer(endpoints string, opts ...DealerOption) (*Dealer, error) {
	cfg := newConfig(opts, DealerOption.applyDealer)
	if cfg.identity == "" {
		cfg.identity = endpoint.UniqueIdentity()
	}
	s, err := newSocket(kind{typ: zmtp.DEALER}, endpoints, endpoint.Connect, cfg)
	if err != nil {
		return nil, err
	}
	return &Dealer{sock: s}, nil
}

// Identity returns the Dealer's routing identity.
func (d *Dealer) Identity() string { return d.cfg.identity }

// Send sends one message as it is: plain frames, or a routed reply built
// with Message.Reply. A REP peer expects an empty delimiter frame first:
// Send(ctx, []byte{}, payload).
func (d *Dealer) Send(ctx context.Context, frames ...[]byte) error { return d.send(ctx, frames) }

// Recv receives one message. A message that crossed a ROUTER arrives as
// [identities..., payload]: see Message.Route and Message.Payload.
func (d *Dealer) Recv(ctx context.Context) (Message, error) { return d.recv(ctx) }

// Router receives messages prefixed with the sender's identity and routes
// replies by their first frame (ROUTER). It binds by default. Sending to
// an identity that is not connected fails with ErrUnreachable instead of
// being dropped silently, and a peer that reconnects with the same
// identity takes over its old route.
type Router struct {
	*sock
}

// NewRouter creates a Router on the endpoint list.
func NewRouter(endpoints string, opts ...RouterOption) (*Router, error) {
	s, err := newSocket(kind{typ: zmtp.ROUTER, routerMandatory: true, routerHandover: true}, endpoints, endpoint.Bind, newConfig(opts, RouterOption.applyRouter))
	if err != nil {
		return nil, err
	}
	return &Router{sock: s}, nil
}

// Recv receives [identity, ..., payload].
func (r *Router) Recv(ctx context.Context) (Message, error) { return r.recv(ctx) }

// RecvUser receives the next message and the public key its sender was
// authenticated with (needs WithUserID and a CURVE server; "" otherwise).
func (r *Router) RecvUser(ctx context.Context) (Message, string, error) { return r.recvUser(ctx) }

// Send sends a message whose first frame is the peer's identity.
func (r *Router) Send(ctx context.Context, frames ...[]byte) error { return r.send(ctx, frames) }
