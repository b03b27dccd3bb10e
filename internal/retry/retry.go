// Package retry is dividere's one retry scheme, the lazy pirate's: each
// attempt waits Timeout for its answer; up to Retries more attempts
// follow, the first after Backoff and each next after twice the wait
// before. The load-balancing Client and the name-service Client both
// retry by it, and both take it as WithRetry(timeout, retries, backoff).
package retry

import (
	"context"
	"time"
)

// Policy is how a request is retried.
type Policy struct {
	Timeout time.Duration // for each attempt
	Retries int           // attempts after the first
	Backoff time.Duration // before the first retry; doubled for each next
}

// Wait is the wait before attempt i (1 for the first retry).
func (p Policy) Wait(i int) time.Duration {
	if i < 1 || p.Backoff <= 0 {
		return 0
	}
	return p.Backoff << (i - 1)
}

// Budget is how long every attempt and every wait take together: the
// longest a request may take.
func (p Policy) Budget() time.Duration {
	d := time.Duration(p.Retries+1) * p.Timeout
	for i := 1; i <= p.Retries; i++ {
		d += p.Wait(i)
	}
	return d
}

// Do runs attempt, each time with a context bounded by Timeout, until it
// succeeds, fails with an error retryable does not take, the retries are
// spent, or ctx ends. It returns the last attempt's error.
func (p Policy) Do(ctx context.Context, attempt func(context.Context) error, retryable func(error) bool) error {
	for i := 0; ; i++ {
		actx, cancel := context.WithTimeout(ctx, p.Timeout)
		err := attempt(actx)
		cancel()
		if err == nil || !retryable(err) || ctx.Err() != nil || i >= p.Retries {
			return err
		}
		if w := p.Wait(i + 1); w > 0 {
			t := time.NewTimer(w)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return err
			}
		}
	}
}
