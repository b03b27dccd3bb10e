package patterns_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/internal/testutil"
	"github.com/dividere-go/dividere/patterns"
)

func TestBrokerServesAndBalances(t *testing.T) {
	b := ok(patterns.NewBroker("tcp://*:0", "tcp://*:0", fastBeat))(t)
	testutil.Serve(t, b)
	closeAll(t, b)
	var served [3]atomic.Int64
	for i := range served {
		runWorker(t, ok(patterns.NewWorker(b.Backend(), func(_ context.Context, req []byte) ([]byte, error) {
			served[i].Add(1)
			return append([]byte(fmt.Sprintf("w%d:", i)), req...), nil
		}, fastBeat))(t))
	}
	ctx := tctx(t, 10*time.Second)
	if err := b.WaitWorkers(ctx, 3); err != nil {
		t.Fatal(err)
	}
	c := ok(patterns.NewClient(b.Frontend()))(t)
	closeAll(t, c)
	for i := range 30 {
		rep, err := c.Request(ctx, fmt.Appendf(nil, "%d", i))
		if err != nil || !strings.HasSuffix(string(rep), fmt.Sprintf(":%d", i)) {
			t.Fatalf("request %d: %q %v", i, rep, err)
		}
	}
	// Least recently used first: one at a time, the three take turns.
	for i := range served {
		if n := served[i].Load(); n != 10 {
			t.Errorf("worker %d served %d of 30, want 10", i, n)
		}
	}
	// A plain REQ client works through the broker too.
	req := ok(connection.NewRequest(b.Frontend()))(t)
	closeAll(t, req)
	if rep, err := req.Call(ctx, []byte("plain")); err != nil || !strings.HasSuffix(string(rep.Payload()), ":plain") {
		t.Fatalf("REQ client: %q %v", rep, err)
	}
}

// No worker at all for a while: requests wait in the queue, then a
// worker arrives and serves them.
func TestBrokerQueuesUntilAWorkerArrives(t *testing.T) {
	b := ok(patterns.NewBroker("tcp://*:0", "tcp://*:0", fastBeat))(t)
	testutil.Serve(t, b)
	closeAll(t, b)
	c := ok(patterns.NewClient(b.Frontend(), patterns.WithRetry(10*time.Second, 0, 0)))(t)
	closeAll(t, c)
	ctx := tctx(t, 20*time.Second)
	const n = 20
	errc := make(chan error, n)
	for i := range n {
		go func() {
			rep, err := c.Request(ctx, fmt.Appendf(nil, "%d", i))
			if err == nil && string(rep) != fmt.Sprintf("late:%d", i) {
				err = fmt.Errorf("request %d got %q", i, rep)
			}
			errc <- err
		}()
	}
	for b.Stats().Queued < n { // wait until the broker holds them all
		select {
		case err := <-errc:
			t.Fatalf("answered with no worker: %v", err)
		case <-time.After(5 * time.Millisecond):
		}
		if ctx.Err() != nil {
			t.Fatalf("queued %d of %d", b.Stats().Queued, n)
		}
	}
	runWorker(t, ok(patterns.NewWorker(b.Backend(), echo("late"), fastBeat))(t))
	for range n {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	// The broker counts a reply once it has passed it on, which can be
	// just after the client has it.
	deadline := time.Now().Add(5 * time.Second)
	for st := b.Stats(); st.Queued != 0 || st.Replies != n; st = b.Stats() {
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestBrokerQueueLimitAndExpiry(t *testing.T) {
	b := ok(patterns.NewBroker("tcp://*:0", "tcp://*:0", fastBeat, patterns.WithQueue(3, 100*time.Millisecond, 0),
		patterns.WithLogger(quiet)))(t)
	testutil.Serve(t, b)
	closeAll(t, b)
	raw := ok(connection.NewDealer(b.Frontend()))(t)
	closeAll(t, raw)
	ctx := tctx(t, 10*time.Second)
	for i := range 5 {
		raw.Send(ctx, fmt.Appendf(nil, "%d", i))
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := b.Stats()
		if st.Dropped == 2 && st.Expired == 3 && st.Queued == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v, want 2 dropped (queue full) and 3 expired", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A worker that ignores every other request (the original's "unreliable
// server"), with 1–8 clients and 1–8 workers: every request is answered,
// correctly.
func TestUnreliableWorkers(t *testing.T) {
	for _, shape := range [][2]int{{1, 1}, {1, 8}, {8, 1}, {3, 5}, {8, 8}} {
		clients, workers := shape[0], shape[1]
		t.Run(fmt.Sprintf("%dx%d", clients, workers), func(t *testing.T) {
			b := ok(patterns.NewBroker("tcp://*:0", "tcp://*:0", fastBeat))(t)
			testutil.Serve(t, b)
			closeAll(t, b)
			for i := range workers {
				var n atomic.Int64
				runWorker(t, ok(patterns.NewWorker(b.Backend(), func(_ context.Context, req []byte) ([]byte, error) {
					if n.Add(1)%2 == 0 {
						return nil, patterns.ErrDrop
					}
					return append([]byte(fmt.Sprintf("w%d:", i)), req...), nil
				}, fastBeat, patterns.WithLogger(quiet)))(t))
			}
			ctx := tctx(t, 60*time.Second)
			if err := b.WaitWorkers(ctx, workers); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			errc := make(chan error, clients)
			for c := range clients {
				cl := ok(patterns.NewClient(b.Frontend(), patterns.WithRetry(50*time.Millisecond, 40, 0), patterns.WithLogger(quiet)))(t)
				closeAll(t, cl)
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range 20 {
						req := fmt.Sprintf("c%d-%d", c, i)
						rep, err := cl.Request(ctx, []byte(req))
						if err != nil || !strings.HasSuffix(string(rep), ":"+req) {
							errc <- fmt.Errorf("%s: %q %v", req, rep, err)
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errc)
			for err := range errc {
				t.Fatal(err)
			}
		})
	}
}

// A client whose requests never get a reply fails with a typed error
// after its retries, and a late reply to an earlier request is never taken
// for a later one's.
func TestClientRetriesAndLateReplies(t *testing.T) {
	b := ok(patterns.NewBroker("tcp://*:0", "tcp://*:0", fastBeat))(t)
	testutil.Serve(t, b)
	closeAll(t, b)
	release := make(chan struct{})
	runWorker(t, ok(patterns.NewWorker(b.Backend(), func(ctx context.Context, req []byte) ([]byte, error) {
		if string(req) == "slow" {
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		return append([]byte("re:"), req...), nil
	}, fastBeat, patterns.WithCapacity(4)))(t))
	ctx := tctx(t, 10*time.Second)
	if err := b.WaitWorkers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	c := ok(patterns.NewClient(b.Frontend(), patterns.WithRetry(50*time.Millisecond, 2, 10*time.Millisecond), patterns.WithLogger(quiet)))(t)
	closeAll(t, c)
	_, err := c.Request(ctx, []byte("slow"))
	if !errors.Is(err, patterns.ErrRetriesExhausted) || !errors.Is(err, connection.ErrTimeout) {
		t.Fatalf("got %v, want ErrRetriesExhausted and ErrTimeout", err)
	}
	if st := c.Stats(); st.Sent != 1 || st.Resent != 2 {
		t.Fatalf("stats %+v, want 1 sent and 2 resent", st)
	}
	close(release) // the three slow attempts now answer, late
	// Late replies are found (and dropped) by the requests that receive
	// after them; none answers one of those requests.
	for i := 0; c.Stats().Late < 3; i++ {
		req := fmt.Sprintf("fast-%d", i)
		rep, err := c.Request(ctx, []byte(req))
		if err != nil || string(rep) != "re:"+req {
			t.Fatalf("after late replies: %q %v (stats %+v)", rep, err, c.Stats())
		}
	}
	if st := c.Stats(); st.Late != 3 {
		t.Fatalf("stats %+v, want 3 late replies dropped", st)
	}
}

// One Client shared by many goroutines: replies overtake each other (the
// workers take different times) and whichever request is receiving hands
// the others theirs; each gets its own, exactly once.
func TestClientSharedByManyGoroutines(t *testing.T) {
	b := ok(patterns.NewBroker("tcp://*:0", "tcp://*:0", fastBeat))(t)
	testutil.Serve(t, b)
	closeAll(t, b)
	for range 4 {
		runWorker(t, ok(patterns.NewWorker(b.Backend(), func(ctx context.Context, req []byte) ([]byte, error) {
			if req[len(req)-1]%3 == 0 { // some answers take longer
				select {
				case <-time.After(time.Millisecond):
				case <-ctx.Done():
				}
			}
			return append([]byte("re:"), req...), nil
		}, fastBeat, patterns.WithCapacity(4)))(t))
	}
	ctx := tctx(t, 30*time.Second)
	if err := b.WaitWorkers(ctx, 4); err != nil {
		t.Fatal(err)
	}
	c := ok(patterns.NewClient(b.Frontend(), patterns.WithRetry(5*time.Second, 0, 0)))(t)
	closeAll(t, c)
	const goroutines, each = 16, 50
	errc := make(chan error, goroutines)
	for g := range goroutines {
		go func() {
			for i := range each {
				req := fmt.Sprintf("g%d-%d", g, i)
				rep, err := c.Request(ctx, []byte(req))
				if err != nil || string(rep) != "re:"+req {
					errc <- fmt.Errorf("%s: %q %v", req, rep, err)
					return
				}
			}
			errc <- nil
		}()
	}
	for range goroutines {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	if st := c.Stats(); st.Sent != goroutines*each || st.Resent != 0 || st.Late != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// Garbage on either side of the broker is counted and does not stop it.
func TestBrokerMalformedInput(t *testing.T) {
	b := ok(patterns.NewBroker("tcp://*:0", "tcp://*:0", fastBeat, patterns.WithLogger(quiet)))(t)
	testutil.Serve(t, b)
	closeAll(t, b)
	runWorker(t, ok(patterns.NewWorker(b.Backend(), echo("ok"), fastBeat))(t))
	bad := ok(connection.NewDealer(b.Backend()))(t)
	closeAll(t, bad)
	ctx := tctx(t, 10*time.Second)
	bad.Send(ctx, []byte("not a control message"))
	bad.Send(ctx, []byte{0x7f})
	c := ok(patterns.NewClient(b.Frontend()))(t)
	closeAll(t, c)
	if rep, err := c.Request(ctx, []byte("x")); err != nil || string(rep) != "ok:x" {
		t.Fatalf("%q %v", rep, err)
	}
	for b.Stats().Malformed < 2 && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	if st := b.Stats(); st.Malformed != 2 || st.Workers != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// Shutdown finishes what is in hand: a request a worker is handling is
// answered through the broker before either stops.
func TestShutdownFinishesWorkInHand(t *testing.T) {
	b := ok(patterns.NewBroker("tcp://127.0.0.1:0", "tcp://127.0.0.1:0", fastBeat, patterns.WithLogger(quiet)))(t)
	started, release := make(chan struct{}), make(chan struct{})
	w := ok(patterns.NewWorker(b.Backend(), func(ctx context.Context, req []byte) ([]byte, error) {
		close(started)
		<-release
		return append([]byte("done "), req...), nil
	}, fastBeat, patterns.WithLogger(quiet)))(t)
	ctx := tctx(t, 20*time.Second)
	brokerDone, workerDone := make(chan error, 1), make(chan error, 1)
	go func() { brokerDone <- b.Serve(ctx) }()
	go func() { workerDone <- w.Serve(ctx) }()
	if err := b.WaitWorkers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	c := ok(patterns.NewClient(b.Frontend(), patterns.WithRetry(10*time.Second, 0, 0), patterns.WithLogger(quiet)))(t)
	closeAll(t, c)
	reply := make(chan string, 1)
	go func() {
		rep, err := c.Request(ctx, []byte("job"))
		if err != nil {
			rep = []byte(err.Error())
		}
		reply <- string(rep)
	}()
	<-started
	shut := make(chan error, 2)
	go func() { shut <- w.Shutdown(ctx) }()
	go func() { shut <- b.Shutdown(ctx) }()
	close(release)
	if got := <-reply; got != "done job" {
		t.Fatalf("the request in hand: %q", got)
	}
	for range 2 {
		if err := <-shut; err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	}
	for _, done := range []chan error{brokerDone, workerDone} {
		if err := <-done; !errors.Is(err, connection.ErrServerClosed) {
			t.Fatalf("Serve after Shutdown: %v", err)
		}
	}
}
