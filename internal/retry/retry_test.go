package retry

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestPolicy(t *testing.T) {
	p := Policy{Timeout: 100 * time.Millisecond, Retries: 3, Backoff: 10 * time.Millisecond}
	if p.Wait(1) != 10*time.Millisecond || p.Wait(3) != 40*time.Millisecond || p.Wait(0) != 0 {
		t.Fatalf("waits %v %v %v", p.Wait(1), p.Wait(3), p.Wait(0))
	}
	if b := p.Budget(); b != 400*time.Millisecond+70*time.Millisecond {
		t.Fatalf("budget %v", b)
	}
	again := errors.New("again")
	attempts := 0
	err := p.Do(context.Background(), func(ctx context.Context) error {
		attempts++
		if _, ok := ctx.Deadline(); !ok {
			t.Fatal("an attempt without its timeout")
		}
		if attempts < 3 {
			return again
		}
		return nil
	}, func(err error) bool { return errors.Is(err, again) })
	if err != nil || attempts != 3 {
		t.Fatalf("Do: %v after %d attempts", err, attempts)
	}
	attempts = 0
	final := errors.New("final")
	if err := p.Do(context.Background(), func(context.Context) error { attempts++; return final },
		func(err error) bool { return errors.Is(err, again) }); err != final || attempts != 1 {
		t.Fatalf("a final error was retried: %v, %d attempts", err, attempts)
	}
	attempts = 0
	if err := p.Do(context.Background(), func(context.Context) error { attempts++; return again },
		func(error) bool { return true }); err != again || attempts != 4 {
		t.Fatalf("retries spent: %v, %d attempts", err, attempts)
	}
}
