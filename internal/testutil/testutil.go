// Package testutil holds the small helpers every package's tests share.
package testutil

import (
	"context"
	"io"
	"testing"
	"time"
)

// Ctx is a context bounded by d and by the test's end.
func Ctx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// OK checks a constructor's error: OK(connection.NewDealer(ep))(t).
func OK[T any](v T, err error) func(*testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// CloseAll closes cs when the test ends.
func CloseAll(t *testing.T, cs ...io.Closer) {
	t.Cleanup(func() {
		for _, c := range cs {
			c.Close()
		}
	})
}
