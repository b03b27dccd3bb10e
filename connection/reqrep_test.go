package connection_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/internal/testproc"
	"github.com/dividere-go/dividere/internal/testutil"
)

// serveEcho answers every request on rep with "<tag>:<request>" until the
// test ends, and returns how many it answered.
func serveEcho(t *testing.T, rep *connection.Response, tag string) func() int {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	n := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			m, err := rep.Recv(ctx)
			if err != nil {
				return
			}
			mu.Lock()
			n++
			mu.Unlock()
			if err := rep.Send(ctx, fmt.Appendf(nil, "%s:%s", tag, m.Payload())); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return func() int { mu.Lock(); defer mu.Unlock(); return n }
}

func TestReqRep(t *testing.T) {
	for _, bind := range []string{"tcp://*:0", "", "inproc://reqrep"} {
		t.Run(strings.SplitN(bind+"ipc", ":", 2)[0], func(t *testing.T) {
			if bind == "" {
				bind = ipcEndpoint(t)
			}
			rep := ok(connection.NewResponse(bind))(t)
			closeAll(t, rep)
			serveEcho(t, rep, "rep")
			req := ok(connection.NewRequest(rep.Endpoint()))(t)
			closeAll(t, req)
			ctx := tctx(t, 5*time.Second)
			for i := range 10 {
				m, err := req.Call(ctx, fmt.Appendf(nil, "%d", i))
				if err != nil || string(m.Payload()) != fmt.Sprintf("rep:%d", i) {
					t.Fatalf("call %d: %q %v", i, m, err)
				}
			}
		})
	}
}

// A Request connected to N Responses sends round-robin: each gets its share.
func TestReqRoundRobin(t *testing.T) {
	for n := 1; n <= 9; n++ {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			counts := make([]func() int, n)
			eps := make([]string, n)
			for i := range n {
				rep := ok(connection.NewResponse("tcp://*:0"))(t)
				closeAll(t, rep)
				counts[i] = serveEcho(t, rep, fmt.Sprint(i))
				eps[i] = rep.Endpoint()
			}
			req := ok(connection.NewRequest(strings.Join(eps, ",")))(t)
			closeAll(t, req)
			ctx := tctx(t, 10*time.Second)
			if err := req.WaitPeers(ctx, n); err != nil {
				t.Fatal(err)
			}
			const rounds = 10
			for i := range rounds * n {
				if _, err := req.Call(ctx, fmt.Appendf(nil, "%d", i)); err != nil {
					t.Fatal(err)
				}
			}
			for i, c := range counts {
				if got := c(); got != rounds {
					t.Errorf("response %d answered %d requests, want %d", i, got, rounds)
				}
			}
		})
	}
}

func TestReqProxyRep(t *testing.T) {
	proxy := ok(connection.NewProxy("tcp://*:0", "tcp://*:0"))(t)
	testutil.Serve(t, proxy)
	closeAll(t, proxy)
	// The Response connects to the proxy's back end: ">" makes that explicit.
	rep := ok(connection.NewResponse(">" + proxy.Backend.Endpoint()))(t)
	closeAll(t, rep)
	serveEcho(t, rep, "via-proxy")
	req := ok(connection.NewRequest(proxy.Frontend.Endpoint()))(t)
	closeAll(t, req)
	ctx := tctx(t, 60*time.Second)
	for i := range 5000 {
		m, err := req.Call(ctx, fmt.Appendf(nil, "%d", i))
		if err != nil || string(m.Payload()) != fmt.Sprintf("via-proxy:%d", i) {
			t.Fatalf("round trip %d: %q %v", i, m, err)
		}
	}
}

func TestRequestStateErrors(t *testing.T) {
	rep := ok(connection.NewResponse("inproc://state"))(t)
	req := ok(connection.NewRequest("inproc://state"))(t)
	closeAll(t, req, rep)
	ctx := tctx(t, 5*time.Second)
	if _, err := req.Recv(ctx); !errors.Is(err, connection.ErrState) {
		t.Fatalf("recv before send: %v, want ErrState", err)
	}
	if err := req.Send(ctx, []byte("a")); err != nil {
		t.Fatal(err)
	}
	if err := req.Send(ctx, []byte("b")); !errors.Is(err, connection.ErrState) {
		t.Fatalf("second send: %v, want ErrState", err)
	}
	if err := rep.Send(ctx, []byte("x")); !errors.Is(err, connection.ErrState) {
		t.Fatalf("reply before request: %v, want ErrState", err)
	}
	// The request was never answered: Reset makes the Request usable.
	if err := req.Reset(); err != nil {
		t.Fatal(err)
	}
	serveEcho(t, rep, "rep")
	// rep first answers the stale "a" (to the closed socket), then ours.
	if m, err := req.Call(ctx, []byte("c")); err != nil || string(m.Payload()) != "rep:c" {
		t.Fatalf("after reset: %q %v", m, err)
	}
}

// A Call whose reply does not come in time fails with ErrTimeout and
// leaves the Request usable.
func TestRequestTimeoutThenRecover(t *testing.T) {
	rep := ok(connection.NewResponse("tcp://*:0"))(t)
	req := ok(connection.NewRequest(rep.Endpoint()))(t)
	closeAll(t, req, rep)
	ctx := tctx(t, 5*time.Second)
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err := req.Call(short, []byte("lost"))
	if !errors.Is(err, connection.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want ErrTimeout and DeadlineExceeded", err)
	}
	// The first request is now waiting at rep; answer it, then serve.
	if m, err := rep.Recv(ctx); err != nil || string(m.Payload()) != "lost" {
		t.Fatalf("rep got %q %v", m, err)
	}
	rep.Send(ctx, []byte("too late"))
	serveEcho(t, rep, "rep")
	if m, err := req.Call(ctx, []byte("again")); err != nil || string(m.Payload()) != "rep:again" {
		t.Fatalf("after timeout: %q %v", m, err)
	}
}

// A Response process killed and restarted on the same port: the Request
// side recovers (its Call times out, resets, and the retry succeeds).
func TestResponseRestart(t *testing.T) {
	port := testutil.Port(t)
	ep := fmt.Sprintf("tcp://*:%d", port)
	h := testproc.Start(t, "echo-response", ep)
	req := ok(connection.NewRequest(fmt.Sprintf("tcp://127.0.0.1:%d", port)))(t)
	closeAll(t, req)
	ctx := tctx(t, 20*time.Second)
	call := func(ctx context.Context, s string) (string, error) {
		c, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		m, err := req.Call(c, []byte(s))
		return string(m.Payload()), err
	}
	if got, err := call(ctx, "one"); err != nil || got != "echo:one" {
		t.Fatalf("before kill: %q %v", got, err)
	}
	h.Kill()
	if _, err := call(ctx, "two"); !errors.Is(err, connection.ErrTimeout) {
		t.Fatalf("with the peer dead: %v, want ErrTimeout", err)
	}
	testproc.Start(t, "echo-response", ep)
	for {
		got, err := call(ctx, "three")
		if err == nil {
			if got != "echo:three" {
				t.Fatalf("after restart: %q", got)
			}
			break
		}
		if !errors.Is(err, connection.ErrTimeout) || ctx.Err() != nil {
			t.Fatalf("after restart: %v", err)
		}
	}
}

// A Request or Response waiting for its message waits, for its first
// moments, in libzmq's own blocking receive (the way raw zmq_recv does,
// which saves system calls per round trip). Close and a cancelled
// context still end that wait promptly, with ErrClosed and
// context.Canceled.
func TestReqRepWaitEndsOnCloseAndCancel(t *testing.T) {
	ctx := tctx(t, 10*time.Second)
	silent := ok(connection.NewResponse("tcp://127.0.0.1:0"))(t) // never answers
	closeAll(t, silent)
	for _, how := range []string{"close", "cancel"} {
		t.Run(how, func(t *testing.T) {
			req := ok(connection.NewRequest(silent.Endpoint()))(t)
			closeAll(t, req)
			cctx, cancel := context.WithCancel(ctx)
			defer cancel()
			errc := make(chan error, 1)
			go func() { _, err := req.Call(cctx, []byte("anyone?")); errc <- err }()
			// The request has gone once the silent side has it.
			if m, err := silent.Recv(ctx); err != nil || string(m.Payload()) != "anyone?" {
				t.Fatalf("silent side got %q %v", m, err)
			}
			start := time.Now()
			want := connection.ErrClosed
			if how == "close" {
				if err := req.Close(); err != nil {
					t.Fatal(err)
				}
			} else {
				cancel()
				want = context.Canceled
			}
			select {
			case err := <-errc:
				if !errors.Is(err, want) {
					t.Fatalf("Call returned %v, want %v", err, want)
				}
			case <-ctx.Done():
				t.Fatalf("Call still waiting after %s", how)
			}
			if el := time.Since(start); el > time.Second {
				t.Errorf("the wait took %v to end after %s", el, how)
			}
			// Answer (and so free) the silent side for the next round.
			if err := silent.Send(ctx, []byte("late")); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Wait on a Response (a read-side wait that receives nothing) reports
// whether a request is there, idle or not, and the request is still
// there to receive afterwards.
func TestResponseWait(t *testing.T) {
	rep := ok(connection.NewResponse("tcp://127.0.0.1:0"))(t)
	req := ok(connection.NewRequest(rep.Endpoint()))(t)
	closeAll(t, req, rep)
	ctx := tctx(t, 10*time.Second)
	if ready(rep, 20*time.Millisecond) {
		t.Fatal("Wait reported a request on an idle Response")
	}
	errc := make(chan error, 1)
	go func() { _, err := req.Call(ctx, []byte("q")); errc <- err }()
	if !ready(rep, 5*time.Second) {
		t.Fatal("Wait did not see the request")
	}
	if m, err := rep.Recv(ctx); err != nil || string(m.Payload()) != "q" {
		t.Fatalf("after Wait: %q %v", m, err)
	}
	if err := rep.Send(ctx, []byte("a")); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}
