// Package regbridge gives package service what it needs of a
// registry.Client beyond the public API (a subscription to the name
// service's notices, made as the client's own sockets are) without
// registry exporting its plumbing. Package registry sets NoticeSubscriber
// when it is initialised.
package regbridge

import (
	"context"
	"log/slog"
	"time"

	"github.com/dividere-go/dividere/messaging"
)

// NoticeSubscriber subscribes to the RediscoverReq notices of the name
// service client (a *registry.Client) talks to; nil, nil when the client
// has no notice address (a direct store).
var NoticeSubscriber func(client any, log *slog.Logger) (*messaging.Subscriber, error)

type patienceKey struct{}

// WithPatience marks ctx so that a registry.Client call made with it, to
// a name service not yet known to be dividere's, waits up to d for its
// answer (the caller's earlier deadline still wins) rather than the
// client's usual budget: the original's name service answers about one
// request a second and answers every request it queued, so a service
// registering alongside others must wait its turn, not give up and queue
// again.
func WithPatience(ctx context.Context, d time.Duration) context.Context {
	return context.WithValue(ctx, patienceKey{}, d)
}

// Patience returns what WithPatience set on ctx, or 0.
func Patience(ctx context.Context) time.Duration {
	d, _ := ctx.Value(patienceKey{}).(time.Duration)
	return d
}
