package connection_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/dividere-go/dividere/connection"
)

// pair returns a Router and a Dealer connected to it, once connected.
func pair(t *testing.T) (*connection.Router, *connection.Dealer) {
	t.Helper()
	r := ok(connection.NewRouter("@tcp://127.0.0.1:0"))(t)
	d := ok(connection.NewDealer(r.Endpoint()))(t)
	closeAll(t, d, r)
	if err := d.WaitPeers(tctx(t, 10*time.Second), 1); err != nil {
		t.Fatal(err)
	}
	return r, d
}

// WaitAny returns the socket that has a message, however many wait with
// it, and a Recv there then has it; messages already read ahead count.
func TestWaitAnyReturnsTheReadySocket(t *testing.T) {
	r1, d1 := pair(t)
	r2, d2 := pair(t)
	ctx := tctx(t, 10*time.Second)
	done := make(chan int, 1)
	go func() {
		i, err := connection.WaitAny(ctx, r1, r2)
		if err != nil {
			t.Error(err)
		}
		done <- i
	}()
	if err := d2.Send(ctx, []byte("to two")); err != nil {
		t.Fatal(err)
	}
	if i := <-done; i != 1 {
		t.Fatalf("WaitAny = %d, want 1", i)
	}
	short, cancel := context.WithTimeout(ctx, time.Millisecond)
	defer cancel()
	if m, err := r2.Recv(short); err != nil || string(m.Payload()) != "to two" {
		t.Fatalf("Recv after WaitAny: %q %v", m, err)
	}
	// Two at once, read ahead in one batch: ready without waiting.
	for _, s := range []string{"a", "b"} {
		if err := d1.Send(ctx, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"a", "b"} {
		if i, err := connection.WaitAny(ctx, r2, r1); i != 1 || err != nil {
			t.Fatalf("WaitAny = %d %v, want 1", i, err)
		}
		if m, err := r1.Recv(ctx); err != nil || string(m.Payload()) != want {
			t.Fatalf("Recv: %q %v, want %q", m, err, want)
		}
	}
}

// A context's end and a Close end the wait; so do wrong arguments, at once.
func TestWaitAnyEnds(t *testing.T) {
	r1, _ := pair(t)
	r2, _ := pair(t)
	ctx := tctx(t, 10*time.Second)
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := connection.WaitAny(short, r1, r2); !errors.Is(err, connection.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("past the deadline: %v", err)
	}
	cctx, cancel2 := context.WithCancel(ctx)
	go cancel2() // before or while it waits: either way it ends cancelled
	if _, err := connection.WaitAny(cctx, r1, r2); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	errc := make(chan error, 1)
	go func() { _, err := connection.WaitAny(ctx, r1, r2); errc <- err }()
	r2.Close() // before or while it waits
	select {
	case err := <-errc:
		if !errors.Is(err, connection.ErrClosed) {
			t.Fatalf("after Close: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("Close did not end WaitAny")
	}
	var many []connection.Waitable
	for range 9 { // one more than WaitAny takes
		many = append(many, r1)
	}
	if _, err := connection.WaitAny(ctx, many...); !errors.Is(err, connection.ErrOption) {
		t.Fatalf("too many sockets: %v", err)
	}
}

// Another goroutine sending on a socket WaitAny waits on may consume the
// edge that would have woken it (libzmq's fd is edge-triggered and any
// call may process the socket's commands): the wait must still end for
// every reply.
func TestWaitAnyWithSendsMeanwhile(t *testing.T) {
	r, d := pair(t)
	ctx := tctx(t, 30*time.Second)
	// The Router echoes.
	go func() {
		for {
			m, err := r.Recv(ctx)
			if err != nil {
				return
			}
			r.Send(ctx, m...)
		}
	}()
	const n = 2000
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range n {
			if err := d.Send(ctx, fmt.Appendf(nil, "%d", i)); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for got := 0; got < n; got++ {
		if _, err := connection.WaitAny(ctx, d); err != nil {
			t.Fatalf("after %d replies: %v", got, err)
		}
		if _, err := d.Recv(ctx); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
}
