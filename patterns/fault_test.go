package patterns_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dividere-go/dividere/internal/testproc"
	"github.com/dividere-go/dividere/internal/testutil"
	"github.com/dividere-go/dividere/patterns"
)

// A worker process killed while it holds a request: the client still gets
// exactly one correct reply, from another worker.
func TestWorkerKilledMidRequest(t *testing.T) {
	b := ok(patterns.NewBroker("tcp://*:0", "tcp://*:0", fastBeat))(t)
	testutil.Serve(t, b)
	closeAll(t, b)
	victim := testproc.Start(t, "worker", b.Backend())
	ctx := tctx(t, 20*time.Second)
	if err := b.WaitWorkers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	c := ok(patterns.NewClient(b.Frontend(), patterns.WithRetry(300*time.Millisecond, 10, 0), patterns.WithLogger(quiet)))(t)
	closeAll(t, c)
	type result struct {
		rep []byte
		err error
	}
	res := make(chan result, 1)
	go func() {
		rep, err := c.Request(ctx, []byte("hang"))
		res <- result{rep, err}
	}()
	victim.Expect(t, "GOT hang", 10*time.Second) // the victim holds the request
	runWorker(t, ok(patterns.NewWorker(b.Backend(), func(_ context.Context, req []byte) ([]byte, error) {
		return append([]byte("survivor:"), req...), nil
	}, fastBeat))(t))
	victim.Kill()
	r := <-res
	if r.err != nil || string(r.rep) != "survivor:hang" {
		t.Fatalf("got %q %v, want one reply from the survivor", r.rep, r.err)
	}
	if st := c.Stats(); st.Resent == 0 {
		t.Fatalf("stats %+v: the request was never resent", st)
	}
	deadline := time.Now().Add(5 * time.Second)
	for b.Stats().Deaths == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("broker never gave the dead worker up: %+v", b.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The broker process killed and restarted on the same ports: workers
// announce themselves again, clients' requests complete.
func TestBrokerRestart(t *testing.T) {
	fport := testutil.Port(t)
	bport := testutil.Port(t)
	front, back := fmt.Sprintf("tcp://*:%d", fport), fmt.Sprintf("tcp://*:%d", bport)
	broker := testproc.Start(t, "broker", front, back)
	w := ok(patterns.NewWorker(fmt.Sprintf("tcp://127.0.0.1:%d", bport), echo("w"), fastBeat,
		patterns.WithReconnectBackoffMax(100*time.Millisecond), patterns.WithLogger(quiet)))(t)
	runWorker(t, w)
	c := ok(patterns.NewClient(fmt.Sprintf("tcp://127.0.0.1:%d", fport), patterns.WithRetry(200*time.Millisecond, 50, 0), patterns.WithLogger(quiet)))(t)
	closeAll(t, c)
	ctx := tctx(t, 30*time.Second)
	if rep, err := c.Request(ctx, []byte("before")); err != nil || string(rep) != "w:before" {
		t.Fatalf("before restart: %q %v", rep, err)
	}
	broker.Kill()
	testproc.Start(t, "broker", front, back)
	for i := range 10 {
		req := fmt.Sprintf("after-%d", i)
		if rep, err := c.Request(ctx, []byte(req)); err != nil || string(rep) != "w:"+req {
			t.Fatalf("after restart: %q %v", rep, err)
		}
	}
	if w.Stats().Reconnects == 0 {
		t.Log("the worker's heartbeats reached the new broker before it noticed the old one was gone")
	}
}

// 10,000 requests while worker processes are killed and restarted: every
// request is answered correctly or ends with a typed error; none is lost.
func TestTenThousandRequestsWithFaults(t *testing.T) {
	const total, clients = 10_000, 8
	b := ok(patterns.NewBroker("tcp://*:0", "tcp://*:0", fastBeat, patterns.WithLogger(quiet)))(t)
	testutil.Serve(t, b)
	closeAll(t, b)
	// One steady in-process worker and three worker processes that keep dying.
	runWorker(t, ok(patterns.NewWorker(b.Backend(), echo("w"), fastBeat, patterns.WithCapacity(4)))(t))
	ctx := tctx(t, 3*time.Minute)
	var procs []*testproc.Proc
	for range 3 {
		procs = append(procs, testproc.Start(t, "worker", b.Backend()))
	}
	stopKilling := make(chan struct{})
	var kills atomic.Int64
	var killer sync.WaitGroup
	killer.Add(1)
	go func() {
		defer killer.Done()
		tick := time.NewTicker(150 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stopKilling:
				return
			case <-tick.C:
			}
			procs[i%3].Kill()
			kills.Add(1)
			procs[i%3] = testproc.Start(t, "worker", b.Backend())
		}
	}()

	var answered, failed, wrong atomic.Int64
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for range clients {
		c := ok(patterns.NewClient(b.Frontend(), patterns.WithRetry(250*time.Millisecond, 8, 0), patterns.WithLogger(quiet)))(t)
		closeAll(t, c)
		for range 4 { // four requests in flight per client
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := next.Add(1)
					if i > total {
						return
					}
					req := fmt.Sprintf("r%d", i)
					rep, err := c.Request(ctx, []byte(req))
					switch {
					case err != nil:
						if !errors.Is(err, patterns.ErrRetriesExhausted) && !errors.Is(err, context.DeadlineExceeded) {
							t.Errorf("untyped error: %v", err)
						}
						failed.Add(1)
					case string(rep) != "w:"+req:
						wrong.Add(1)
						t.Errorf("%s answered %q", req, rep)
					default:
						answered.Add(1)
					}
				}
			}()
		}
	}
	wg.Wait()
	close(stopKilling)
	killer.Wait()
	got := answered.Load() + failed.Load() + wrong.Load()
	t.Logf("%d requests: %d answered correctly, %d typed errors, %d wrong; %d worker processes killed; broker %+v",
		total, answered.Load(), failed.Load(), wrong.Load(), kills.Load(), b.Stats())
	if got != total || wrong.Load() != 0 {
		t.Fatalf("accounted for %d of %d requests, %d wrong", got, total, wrong.Load())
	}
	if kills.Load() == 0 {
		t.Fatal("no fault was injected")
	}
}
