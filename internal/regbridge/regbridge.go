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

type originalKey struct{}

// WithOriginal marks ctx so that a registry.Client.Register made with it
// that succeeds then asks what the name service is, as the client does
// before a request only dividere's name service knows, and reports
// whether it is the original's to report (not called when the question
// went unanswered). A service registers with it until it knows, so that on
// the original's name service it renews only when asked.
func WithOriginal(ctx context.Context, report func(original bool)) context.Context {
	return context.WithValue(ctx, originalKey{}, report)
}

// OriginalReport returns what WithOriginal set on ctx, or nil.
func OriginalReport(ctx context.Context) func(original bool) {
	f, _ := ctx.Value(originalKey{}).(func(bool))
	return f
}
