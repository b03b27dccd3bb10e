// Package regbridge carries, from package service to a registry.Client
// call, what the call's context says beyond the public API: how long to
// wait for an answer from a name service that may be the original's, and
// whether to report which kind of name service it is.
package regbridge

import (
	"context"
	"time"
)

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

type proberKey struct{}

// Probe asks the name service whether it is the original's, as a
// registry.Client does (once) before a request only dividere's knows.
type Probe func(ctx context.Context) (original bool, err error)

// WithProber marks ctx so that a registry.Client.Register made with it
// that succeeds hands set the client's Probe. A service registers with it
// until it knows which kind of name service it has, and asks once it has
// counted its registration, so that on the original's it renews only when
// asked.
func WithProber(ctx context.Context, set func(Probe)) context.Context {
	return context.WithValue(ctx, proberKey{}, set)
}

// Prober returns what WithProber set on ctx, or nil.
func Prober(ctx context.Context) func(Probe) {
	f, _ := ctx.Value(proberKey{}).(func(Probe))
	return f
}
