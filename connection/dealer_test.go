package connection_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/internal/testutil"
)

// 50 client Dealers and 20 worker Dealers through a Proxy: each client
// exchanges 1,000 messages and every reply reaches the client that asked.
func TestDealerProxyDealer(t *testing.T) {
	clients, workers, perClient := 50, 20, 1000
	if testing.Short() {
		perClient = 100
	}
	proxy := ok(connection.NewProxy("tcp://*:0", "tcp://*:0"))(t)
	testutil.Serve(t, proxy)
	closeAll(t, proxy)
	ctx := tctx(t, 2*time.Minute)

	var served atomic.Int64
	var wg sync.WaitGroup
	wctx, stopWorkers := context.WithCancel(ctx)
	for range workers {
		w := ok(connection.NewDealer(proxy.Backend.Endpoint()))(t)
		closeAll(t, w)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				m, err := w.Recv(wctx)
				if err != nil {
					return
				}
				// Counted before the reply goes: once a client has it, the
				// count must already include it.
				served.Add(1)
				// [client identity, payload]: answer along the same route.
				if err := w.Send(wctx, m.Reply(append([]byte("ok:"), m.Payload()...))...); err != nil {
					return
				}
			}
		}()
	}
	t.Cleanup(func() { stopWorkers(); wg.Wait() })

	errc := make(chan error, clients)
	for c := range clients {
		d := ok(connection.NewDealer(proxy.Frontend.Endpoint()))(t)
		closeAll(t, d)
		go func() {
			// A window of outstanding requests keeps the pipes busy.
			// Replies may overtake each other (different workers), so
			// each must match one outstanding request, exactly once.
			const window = 16
			sent, got := 0, 0
			outstanding := map[string]bool{}
			for got < perClient {
				for sent < perClient && sent-got < window {
					req := fmt.Sprintf("%d/%d", c, sent)
					if err := d.Send(ctx, []byte(req)); err != nil {
						errc <- err
						return
					}
					outstanding["ok:"+req] = true
					sent++
				}
				m, err := d.Recv(ctx)
				if err != nil {
					errc <- fmt.Errorf("client %d after %d replies: %w", c, got, err)
					return
				}
				if len(m) != 1 || !outstanding[string(m[0])] {
					errc <- fmt.Errorf("client %d: got %q, not one of its outstanding requests", c, m)
					return
				}
				delete(outstanding, string(m[0]))
				got++
			}
			errc <- nil
		}()
	}
	for range clients {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	if n := served.Load(); n != int64(clients*perClient) {
		t.Fatalf("workers served %d, want %d", n, clients*perClient)
	}
}

func TestDealerToResponse(t *testing.T) {
	rep := ok(connection.NewResponse("tcp://*:0"))(t)
	closeAll(t, rep)
	serveEcho(t, rep, "rep")
	d := ok(connection.NewDealer(rep.Endpoint()))(t)
	closeAll(t, d)
	ctx := tctx(t, 5*time.Second)
	for i := range 10 {
		if err := d.Send(ctx, []byte{}, fmt.Appendf(nil, "%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 10 {
		m, err := d.Recv(ctx)
		// REP answers with the delimiter: ["", payload].
		if err != nil || len(m) != 2 || len(m[0]) != 0 || string(m.Payload()) != fmt.Sprintf("rep:%d", i) {
			t.Fatalf("reply %d: %q %v", i, m, err)
		}
	}
}

func TestDealerToDealer(t *testing.T) {
	a := ok(connection.NewDealer("@tcp://127.0.0.1:0"))(t)
	b := ok(connection.NewDealer(a.Endpoint()))(t)
	closeAll(t, a, b)
	ctx := tctx(t, 5*time.Second)
	if err := b.Send(ctx, []byte("ping"), []byte("two frames")); err != nil {
		t.Fatal(err)
	}
	m, err := a.Recv(ctx)
	if err != nil || len(m) != 2 || string(m[0]) != "ping" {
		t.Fatalf("a got %q %v", m, err)
	}
	if err := a.Send(ctx, []byte("pong")); err != nil {
		t.Fatal(err)
	}
	if m, err := b.Recv(ctx); err != nil || string(m.Payload()) != "pong" {
		t.Fatalf("b got %q %v", m, err)
	}
}

func TestRouterUnreachable(t *testing.T) {
	r := ok(connection.NewRouter("tcp://*:0"))(t)
	closeAll(t, r)
	err := r.Send(tctx(t, time.Second), []byte("nobody"), []byte("x"))
	if !errors.Is(err, connection.ErrUnreachable) {
		t.Fatalf("got %v, want ErrUnreachable", err)
	}
}

// Sending where no peer will ever take the message blocks only until the
// context's deadline, then fails with ErrTimeout.
func TestSendNoPeerTimesOut(t *testing.T) {
	port := testutil.Port(t)
	d := ok(connection.NewDealer(fmt.Sprintf("tcp://127.0.0.1:%d", port), connection.WithSendHWM(5)))(t)
	closeAll(t, d)
	ctx := tctx(t, 200*time.Millisecond)
	start := time.Now()
	var err error
	for i := 0; err == nil && i < 100; i++ {
		err = d.Send(ctx, []byte("into the void"))
	}
	if !errors.Is(err, connection.ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("took %v", el)
	}
	if st := d.Stats(); st.SendErrors != 1 {
		t.Fatalf("stats %+v, want one send error", st)
	}
}

func TestClosedAndWait(t *testing.T) {
	d := ok(connection.NewDealer("inproc://closed"))(t)
	if ready(d, 20*time.Millisecond) {
		t.Fatal("Wait reported a message on an idle socket")
	}
	// Close while another goroutine is blocked in Recv: it returns at once.
	errc := make(chan error, 1)
	go func() {
		_, err := d.Recv(context.Background())
		errc <- err
	}()
	runtime.Gosched() // let it block; the test holds either way
	start := time.Now()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, connection.ErrClosed) {
			t.Fatalf("blocked Recv returned %v, want ErrClosed", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("blocked Recv did not return after Close")
	}
	if el := time.Since(start); el > time.Second {
		t.Fatalf("Close took %v", el)
	}
	if _, err := d.Recv(context.Background()); !errors.Is(err, connection.ErrClosed) {
		t.Fatalf("Recv after Close: %v", err)
	}
	if err := d.Send(context.Background(), []byte("x")); !errors.Is(err, connection.ErrClosed) {
		t.Fatalf("Send after Close: %v", err)
	}
	if ready(d, time.Millisecond) {
		t.Fatal("Wait after Close")
	}
	if err := d.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestRecvCancel(t *testing.T) {
	d := ok(connection.NewDealer("inproc://cancel"))(t)
	closeAll(t, d)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := d.Recv(ctx); errc <- err }()
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Recv ignored cancellation")
	}
}

// Many goroutines send and receive on the same Dealers at once.
func TestConcurrentSendRecv(t *testing.T) {
	router := ok(connection.NewRouter("tcp://*:0"))(t)
	closeAll(t, router)
	ctx := tctx(t, time.Minute)
	go func() { // echo
		for {
			m, err := router.Recv(ctx)
			if err != nil {
				return
			}
			if err := router.Send(ctx, m...); err != nil {
				return
			}
		}
	}()
	const dealers, goroutines, each = 4, 8, 500
	var wg sync.WaitGroup
	errc := make(chan error, dealers*goroutines*2)
	for range dealers {
		d := ok(connection.NewDealer(router.Endpoint()))(t)
		closeAll(t, d)
		var received atomic.Int64
		for g := range goroutines {
			wg.Add(2)
			go func() {
				defer wg.Done()
				for i := range each {
					if err := d.Send(ctx, fmt.Appendf(nil, "%d-%d", g, i)); err != nil {
						errc <- err
						return
					}
				}
			}()
			go func() {
				defer wg.Done()
				for received.Add(1) <= goroutines*each {
					if _, err := d.Recv(ctx); err != nil {
						errc <- err
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
}

func TestEventsAndWaitPeers(t *testing.T) {
	events := make(chan connection.Event, 64)
	rep := ok(connection.NewResponse("tcp://*:0", connection.WithEvents(events), connection.WithName("rep")))(t)
	closeAll(t, rep)
	req := ok(connection.NewRequest(rep.Endpoint()))(t)
	closeAll(t, req)
	ctx := tctx(t, 5*time.Second)
	if err := rep.WaitPeers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := req.WaitPeers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	seen := map[connection.EventKind]bool{}
	for !seen[connection.EventHandshakeSucceeded] {
		select {
		case ev := <-events:
			if ev.Socket != "rep" {
				t.Fatalf("event from %q", ev.Socket)
			}
			seen[ev.Kind] = true
		case <-ctx.Done():
			t.Fatalf("saw %v, no handshake", seen)
		}
	}
	for _, k := range []connection.EventKind{connection.EventListening, connection.EventAccepted} {
		if !seen[k] {
			t.Errorf("no %v event; saw %v", k, seen)
		}
	}
	req.Close()
	for {
		select {
		case ev := <-events:
			if ev.Kind == connection.EventDisconnected {
				if n := rep.Stats().Peers; n != 0 {
					t.Fatalf("peers %d after disconnect", n)
				}
				return
			}
		case <-ctx.Done():
			t.Fatal("no disconnected event")
		}
	}
}

func TestWaitPeersTimeout(t *testing.T) {
	port := testutil.Port(t)
	d := ok(connection.NewDealer(fmt.Sprintf("tcp://127.0.0.1:%d", port)))(t)
	closeAll(t, d)
	err := d.WaitPeers(tctx(t, 50*time.Millisecond), 1)
	if !errors.Is(err, connection.ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
	nomon := ok(connection.NewDealer("inproc://x", connection.WithoutMonitor()))(t)
	closeAll(t, nomon)
	if err := nomon.WaitPeers(context.Background(), 1); !errors.Is(err, connection.ErrState) {
		t.Fatalf("got %v, want ErrState", err)
	}
}

func TestProxyCloseWithoutPeers(t *testing.T) {
	proxy := ok(connection.NewProxy("tcp://*:0", "tcp://*:0"))(t)
	served := make(chan error, 1)
	go func() { served <- proxy.Serve(context.Background()) }()
	req := ok(connection.NewRequest(proxy.Frontend.Endpoint()))(t)
	defer req.Close()
	// A request waiting in the proxy with no worker must not keep Close
	// from returning.
	req.Send(tctx(t, time.Second), []byte("nobody home"))
	start := time.Now()
	if err := proxy.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-served; !errors.Is(err, connection.ErrServerClosed) {
		t.Fatalf("Serve: %v", err)
	}
	if el := time.Since(start); el > time.Second {
		t.Fatalf("Close took %v", el)
	}
}

// The serving model: built, nothing runs; Serve once; Serve after
// Shutdown or Close returns ErrServerClosed at once.
func TestProxyServesOnce(t *testing.T) {
	proxy := ok(connection.NewProxy("tcp://*:0", "tcp://*:0"))(t)
	ctx := tctx(t, 10*time.Second)
	served := make(chan error, 1)
	go func() { served <- proxy.Serve(ctx) }()
	// A request goes through only once Serve runs.
	worker := ok(connection.NewResponse(">" + proxy.Backend.Endpoint()))(t)
	req := ok(connection.NewRequest(proxy.Frontend.Endpoint()))(t)
	closeAll(t, worker, req)
	go func() {
		if m, err := worker.Recv(ctx); err == nil {
			worker.Send(ctx, m.Payload())
		}
	}()
	if rep, err := req.Call(ctx, []byte("through")); err != nil || string(rep.Payload()) != "through" {
		t.Fatalf("through the proxy: %v %v", rep, err)
	}
	if err := proxy.Serve(ctx); err == nil || errors.Is(err, connection.ErrServerClosed) {
		t.Fatalf("a second Serve: %v", err)
	}
	if err := proxy.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-served; !errors.Is(err, connection.ErrServerClosed) {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
	if err := proxy.Serve(ctx); !errors.Is(err, connection.ErrServerClosed) {
		t.Fatalf("Serve of a closed proxy: %v", err)
	}
	never := ok(connection.NewProxy("tcp://*:0", "tcp://*:0"))(t)
	if err := never.Close(); err != nil {
		t.Fatal(err)
	}
	if err := never.Serve(ctx); !errors.Is(err, connection.ErrServerClosed) {
		t.Fatalf("Serve after Close: %v", err)
	}
}

// Frames of every kind go through the send path as they are: nil and
// empty frames, a byte, a frame too large for libzmq's inline messages,
// and one of a megabyte, from the heap and from a goroutine's stack.
func TestSendFramesOfEverySize(t *testing.T) {
	a := ok(connection.NewDealer("@tcp://127.0.0.1:0"))(t)
	b := ok(connection.NewDealer(a.Endpoint()))(t)
	closeAll(t, a, b)
	ctx := tctx(t, 10*time.Second)
	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	var onStack [48]byte
	copy(onStack[:], "a frame that may live on the sending goroutine's stack")
	frames := [][]byte{nil, {}, {'x'}, []byte("more than the 33 bytes libzmq keeps inline in a message"), onStack[:], big}
	if err := b.Send(ctx, frames...); err != nil {
		t.Fatal(err)
	}
	m, err := a.Recv(ctx)
	if err != nil || len(m) != len(frames) {
		t.Fatalf("got %d frames, %v; want %d", len(m), err, len(frames))
	}
	for i, f := range frames {
		if !bytes.Equal(m[i], f) {
			t.Errorf("frame %d: got %d bytes, want %d", i, len(m[i]), len(f))
		}
	}
}
