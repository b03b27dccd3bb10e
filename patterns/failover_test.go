package patterns_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/internal/testpb"
	"github.com/dividere-go/dividere/internal/testutil"
	"github.com/dividere-go/dividere/messaging"
	"github.com/dividere-go/dividere/patterns"
)

// requestID is a request id frame as a Client makes it: 8 bytes naming
// the sender, 8 of sequence.
func requestID(sender string, seq uint64) []byte {
	id := make([]byte, 8, patterns.RequestIDSize)
	copy(id, sender)
	return binary.BigEndian.AppendUint64(id, seq)
}

// rawClient sends [id, payload] to a broker's front end as a Client does,
// with ids of the test's choosing.
func rawClient(t *testing.T, endpoint string) *connection.Dealer {
	d := ok(connection.NewDealer(endpoint, connection.WithLinger(0)))(t)
	closeAll(t, d)
	return d
}

// recvReply receives one [id, reply] and returns its parts.
func recvReply(t *testing.T, ctx context.Context, d *connection.Dealer) ([]byte, string) {
	t.Helper()
	m, err := d.Recv(ctx)
	if err != nil || len(m) != 2 {
		t.Fatalf("reply: %q %v", m, err)
	}
	return m[0], string(m[1])
}

// A request sent again with the same id is answered with the reply the
// worker kept: the handler runs once. A request with a new id runs; so do
// a REQ client's requests, which carry no id (their route ends in the
// empty delimiter).
func TestWorkerReplaysARequestSentAgain(t *testing.T) {
	b := ok(patterns.NewBroker("tcp://*:0", "tcp://*:0", fastBeat))(t)
	testutil.Serve(t, b)
	closeAll(t, b)
	var runs atomic.Int64
	w := ok(patterns.NewWorker(b.Backend(), func(_ context.Context, req []byte) ([]byte, error) {
		return fmt.Appendf(nil, "run %d: %s", runs.Add(1), req), nil
	}, fastBeat))(t)
	runWorker(t, w)
	ctx := tctx(t, 20*time.Second)
	if err := b.WaitWorkers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	d := rawClient(t, b.Frontend())
	id := requestID("replay01", 1)
	for i := range 3 {
		if err := d.Send(ctx, id, []byte("pay")); err != nil {
			t.Fatal(err)
		}
		rid, rep := recvReply(t, ctx, d)
		if string(rid) != string(id) || rep != "run 1: pay" {
			t.Fatalf("attempt %d: id %x reply %q, want the first run's reply", i, rid, rep)
		}
	}
	if n := runs.Load(); n != 1 {
		t.Fatalf("the handler ran %d times for one request id", n)
	}
	// The counters move just after the reply is sent.
	testutil.Eventually(t, 10*time.Second, "2 replayed, 1 handled, 1 kept", func() bool {
		st := w.Stats()
		return st.Replayed == 2 && st.Handled == 1 && st.Kept == 1
	})
	if err := d.Send(ctx, requestID("replay01", 2), []byte("new")); err != nil {
		t.Fatal(err)
	}
	if _, rep := recvReply(t, ctx, d); rep != "run 2: new" {
		t.Fatalf("a new id: %q", rep)
	}
	req := ok(connection.NewRequest(b.Frontend()))(t)
	closeAll(t, req)
	for i := range 2 {
		rep, err := req.Call(ctx, []byte("plain"))
		if want := fmt.Sprintf("run %d: plain", 3+i); err != nil || string(rep.Payload()) != want {
			t.Fatalf("REQ request %d: %q %v, want %q", i, rep, err, want)
		}
	}
}

// An attempt that arrives while the first is still running waits for
// it and gets its reply: a Client whose timeout is shorter than the
// handler resends, and the handler still runs once.
func TestClientRetryWhileRunningRunsOnce(t *testing.T) {
	// A worker that gives its broker up ends its handlers: beats slow
	// enough that a loaded machine does not make it.
	beat := patterns.WithHeartbeat(100*time.Millisecond, 2*time.Second)
	b := ok(patterns.NewBroker("tcp://*:0", "tcp://*:0", beat))(t)
	testutil.Serve(t, b)
	closeAll(t, b)
	var runs atomic.Int64
	release := make(chan struct{})
	w := ok(patterns.NewWorker(b.Backend(), func(ctx context.Context, req []byte) ([]byte, error) {
		runs.Add(1)
		select {
		case <-release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return append([]byte("done:"), req...), nil
	}, beat, patterns.WithCapacity(4)))(t)
	runWorker(t, w)
	ctx := tctx(t, 30*time.Second)
	if err := b.WaitWorkers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	c := ok(patterns.NewClient(b.Frontend(), patterns.WithRetry(100*time.Millisecond, 1000, 0)))(t)
	closeAll(t, c)
	got := make(chan string, 1)
	go func() {
		rep, err := c.Request(ctx, []byte("slow"))
		got <- fmt.Sprint(string(rep), err)
	}()
	// Resent twice: three attempts have reached the worker.
	testutil.Eventually(t, 20*time.Second, "two resends", func() bool { return c.Stats().Resent >= 2 && b.Stats().Requests >= 3 })
	close(release)
	if rep := <-got; rep != "done:slow<nil>" {
		t.Fatalf("reply %q", rep)
	}
	if n := runs.Load(); n != 1 {
		t.Fatalf("the handler ran %d times for one request", n)
	}
	testutil.Eventually(t, 10*time.Second, "the resends replayed", func() bool { return w.Stats().Replayed >= 2 })
}

// The kept replies are bounded: past the limit the oldest goes, is
// counted, and a request sent again after that runs again. The window
// ends what is kept.
func TestWorkerDedupBounds(t *testing.T) {
	b := ok(patterns.NewBroker("tcp://*:0", "tcp://*:0", fastBeat))(t)
	testutil.Serve(t, b)
	closeAll(t, b)
	var runs atomic.Int64
	w := ok(patterns.NewWorker(b.Backend(), func(_ context.Context, req []byte) ([]byte, error) {
		runs.Add(1)
		return req, nil
	}, fastBeat, patterns.WithDedup(2, 3*time.Second, 0)))(t)
	runWorker(t, w)
	ctx := tctx(t, 20*time.Second)
	if err := b.WaitWorkers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	d := rawClient(t, b.Frontend())
	call := func(seq uint64) {
		t.Helper()
		if err := d.Send(ctx, requestID("bounds01", seq), fmt.Appendf(nil, "%d", seq)); err != nil {
			t.Fatal(err)
		}
		if _, rep := recvReply(t, ctx, d); rep != fmt.Sprint(seq) {
			t.Fatalf("request %d: %q", seq, rep)
		}
	}
	for seq := range uint64(3) {
		call(seq)
	}
	// The counters move just after the reply is sent.
	testutil.Eventually(t, 10*time.Second, "2 kept and 1 evicted after 3 replies with room for 2", func() bool {
		st := w.Stats()
		return st.Kept == 2 && st.Evicted == 1
	})
	call(2) // kept: replayed
	if n := runs.Load(); n != 3 {
		t.Fatalf("a kept request ran again: %d runs", n)
	}
	call(0) // evicted: runs again
	if n := runs.Load(); n != 4 {
		t.Fatalf("an evicted request did not run again: %d runs", n)
	}
	testutil.Eventually(t, 10*time.Second, "the window to end", func() bool { return w.Stats().Kept == 0 })
	call(2)
	if n := runs.Load(); n != 5 {
		t.Fatalf("a request whose window ended did not run again: %d runs", n)
	}
	testutil.Eventually(t, 10*time.Second, "2 evicted (expiry is not eviction), 1 replayed, 1 kept", func() bool {
		st := w.Stats()
		return st.Evicted == 2 && st.Replayed == 1 && st.Kept == 1
	})

	// WithDedup(0, …) keeps nothing: every attempt runs.
	var plain atomic.Int64
	w0 := ok(patterns.NewWorker(b.Backend(), func(_ context.Context, req []byte) ([]byte, error) {
		plain.Add(1)
		return req, nil
	}, fastBeat, patterns.WithDedup(0, 0, 0)))(t)
	w.Close()
	runWorker(t, w0)
	testutil.Eventually(t, 10*time.Second, "the second worker alone", func() bool {
		st := b.Stats()
		return st.Workers == 1 && st.Deaths >= 1
	})
	for range 2 {
		call(7)
	}
	if n := plain.Load(); n != 2 {
		t.Fatalf("without dedup, 2 attempts ran %d times", n)
	}
}

// Two brokers, active/active: workers serve both, clients spread over
// both; when one broker dies the clients go on through the other at
// once, every request answered once, and no worker runs a request twice.
func TestTwoBrokersOneDies(t *testing.T) {
	// Heartbeats slower than fastBeat: a loaded machine must not make
	// workers give a living broker up; the dying one closes its sockets.
	beat := patterns.WithHeartbeat(100*time.Millisecond, time.Second)
	var brokers [2]*patterns.Broker
	for i := range brokers {
		brokers[i] = ok(patterns.NewBroker("tcp://127.0.0.1:0", "tcp://127.0.0.1:0", beat))(t)
		testutil.Serve(t, brokers[i])
		closeAll(t, brokers[i])
	}
	backs := brokers[0].Backend() + "," + brokers[1].Backend()
	fronts := brokers[0].Frontend() + "," + brokers[1].Frontend()
	var mu sync.Mutex
	runs := map[string]int{} // worker/request → runs
	var workers []*patterns.Worker
	for i := range 3 {
		w := ok(patterns.NewWorker(backs, func(_ context.Context, req []byte) ([]byte, error) {
			mu.Lock()
			runs[fmt.Sprintf("w%d/%s", i, req)]++
			mu.Unlock()
			return append([]byte("ok:"), req...), nil
		}, beat, patterns.WithCapacity(2)))(t)
		runWorker(t, w)
		workers = append(workers, w)
	}
	ctx := tctx(t, 60*time.Second)
	for _, b := range brokers {
		if err := b.WaitWorkers(ctx, 3); err != nil {
			t.Fatal(err)
		}
	}
	const clients, each = 4, 150
	var answered atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, 2*clients)
	cs := make([]*patterns.Client, clients)
	for i := range cs {
		cs[i] = ok(patterns.NewClient(fronts, patterns.WithRetry(2*time.Second, 5, 0)))(t)
		closeAll(t, cs[i])
	}
	// Each client is shared by two goroutines, so that a broken
	// connection ends several attempts of one client at once.
	for i, c := range cs {
		for g := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := g; j < each; j += 2 {
					key := fmt.Sprintf("c%d-%d", i, j)
					rep, err := c.Request(ctx, []byte(key))
					if err != nil || string(rep) != "ok:"+key {
						errc <- fmt.Errorf("%s: %q %v", key, rep, err)
						return
					}
					answered.Add(1)
				}
			}()
		}
	}
	testutil.Eventually(t, 30*time.Second, "every client answered through both brokers", func() bool {
		for _, c := range cs {
			for _, b := range c.Stats().Brokers {
				if b.Replies == 0 {
					return false
				}
			}
		}
		return true
	})
	if n := answered.Load(); n >= clients*each*2/3 {
		t.Logf("%d of %d answered before the failure: little load left for it", n, clients*each)
	}
	brokers[0].Close()
	died := answered.Load()
	testutil.Eventually(t, 20*time.Second, "the clients to see the broker gone", func() bool {
		for _, c := range cs {
			if c.Stats().Brokers[0].Up {
				return false
			}
		}
		return true
	})
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if n := answered.Load(); n != clients*each {
		t.Fatalf("answered %d of %d", n, clients*each)
	}
	mu.Lock()
	for k, n := range runs {
		if n > 1 {
			t.Errorf("%s ran %d times on one worker", k, n)
		}
	}
	mu.Unlock()
	var late uint64
	for _, c := range cs {
		st := c.Stats()
		late += st.Late
		if st.Brokers[1].Replies == 0 {
			t.Errorf("nothing through the living broker: %+v", st)
		}
	}
	st1 := brokers[1].Stats()
	t.Logf("answered %d before the failure; living broker %+v; late replies dropped %d", died, st1, late)
	for _, w := range workers {
		t.Logf("worker %s: %+v", w.ID(), w.Stats())
	}
}

// A broker that hangs keeps its connections up: an attempt that times
// out there goes to the other broker, and first attempts avoid the hung
// one for an attempt timeout after that, so that it costs one timeout per
// timeout's worth of requests rather than half of them.
func TestClientAvoidsAHungBroker(t *testing.T) {
	hung := ok(connection.NewRouter("tcp://127.0.0.1:0"))(t) // accepts, never answers
	closeAll(t, hung)
	b := ok(patterns.NewBroker("tcp://127.0.0.1:0", "tcp://127.0.0.1:0", fastBeat))(t)
	testutil.Serve(t, b)
	closeAll(t, b)
	runWorker(t, ok(patterns.NewWorker(b.Backend(), echo("w"), fastBeat))(t))
	ctx := tctx(t, 60*time.Second)
	if err := b.WaitWorkers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	const timeout = 300 * time.Millisecond
	c := ok(patterns.NewClient(hung.Endpoint()+","+b.Frontend(), patterns.WithRetry(timeout, 3, 0)))(t)
	closeAll(t, c)
	testutil.Eventually(t, 20*time.Second, "both brokers connected", func() bool {
		st := c.Stats()
		return st.Brokers[0].Up && st.Brokers[1].Up
	})
	start := time.Now()
	const n = 40
	for i := range n {
		if rep, err := c.Request(ctx, fmt.Appendf(nil, "%d", i)); err != nil || string(rep) != fmt.Sprintf("w:%d", i) {
			t.Fatalf("request %d: %q %v", i, rep, err)
		}
	}
	elapsed := time.Since(start)
	st := c.Stats()
	// Each attempt at the hung broker costs a timeout and makes it
	// suspect for one more: at most one per timeout's worth of time.
	if most := uint64(elapsed/timeout) + 1; st.Brokers[0].Attempts > most || st.Brokers[0].Replies != 0 {
		t.Fatalf("%d attempts at the hung broker in %v (at most %d): %+v", st.Brokers[0].Attempts, elapsed, most, st)
	}
	if st.Brokers[1].Replies != n {
		t.Fatalf("replies through the live broker: %+v", st)
	}
}

// A Client's Call resends (each a new envelope, with the time left in its
// header, under the same request id) reach a MsgWorker still running the
// first: the handler runs once, and every attempt gets its reply.
func TestCallRetryRunsOnce(t *testing.T) {
	beat := patterns.WithHeartbeat(100*time.Millisecond, 2*time.Second) // as in TestClientRetryWhileRunningRunsOnce
	b := ok(patterns.NewBroker("tcp://*:0", "tcp://*:0", beat, patterns.WithLogger(quiet)))(t)
	testutil.Serve(t, b)
	closeAll(t, b)
	w := ok(patterns.NewMsgWorker(b.Backend(), beat, patterns.WithCapacity(4), patterns.WithLogger(quiet)))(t)
	var runs atomic.Int64
	release := make(chan struct{})
	messaging.Handle(w, func(ctx context.Context, m *testpb.Work, _ messaging.Peer) (*testpb.WorkDone, error) {
		runs.Add(1)
		select {
		case <-release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return &testpb.WorkDone{Seq: m.Seq}, nil
	})
	runWorker(t, w)
	ctx := tctx(t, 30*time.Second)
	if err := b.WaitWorkers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	c := ok(patterns.NewClient(b.Frontend(), patterns.WithRetry(100*time.Millisecond, 1000, 0)))(t)
	closeAll(t, c)
	got := make(chan error, 1)
	go func() {
		rep, err := patterns.Call[*testpb.WorkDone](ctx, c, &testpb.Work{Seq: 7})
		if err == nil && rep.Seq != 7 {
			err = fmt.Errorf("reply %v", rep)
		}
		got <- err
	}()
	testutil.Eventually(t, 20*time.Second, "two resends at the broker", func() bool { return c.Stats().Resent >= 2 && b.Stats().Requests >= 3 })
	close(release)
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if n := runs.Load(); n != 1 {
		t.Fatalf("the handler ran %d times for one request", n)
	}
	testutil.Eventually(t, 10*time.Second, "the resends replayed", func() bool { return w.Stats().Replayed >= 2 })
}

// The kept replies are bounded in bytes too: large replies make the
// oldest go sooner, counted.
func TestWorkerDedupBytes(t *testing.T) {
	b := ok(patterns.NewBroker("tcp://*:0", "tcp://*:0", fastBeat))(t)
	testutil.Serve(t, b)
	closeAll(t, b)
	const size, limit = 1000, 10_000
	w := ok(patterns.NewWorker(b.Backend(), func(_ context.Context, req []byte) ([]byte, error) {
		return make([]byte, size), nil
	}, fastBeat, patterns.WithDedup(10_000, 0, limit)))(t)
	runWorker(t, w)
	ctx := tctx(t, 20*time.Second)
	if err := b.WaitWorkers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	d := rawClient(t, b.Frontend())
	const n = 50
	for seq := range uint64(n) {
		if err := d.Send(ctx, requestID("bytes001", seq), []byte("x")); err != nil {
			t.Fatal(err)
		}
		if _, rep := recvReply(t, ctx, d); len(rep) != size {
			t.Fatalf("reply of %d bytes", len(rep))
		}
	}
	testutil.Eventually(t, 10*time.Second, "every reply kept or evicted", func() bool {
		st := w.Stats()
		return st.Kept+int(st.Evicted) == n
	})
	// Each costs its bytes, its id and some bookkeeping: fewer than
	// limit/size fit.
	if st := w.Stats(); st.Kept == 0 || st.Kept*(size+patterns.RequestIDSize) > limit {
		t.Fatalf("%d replies of %d bytes kept under a bound of %d bytes: %+v", st.Kept, size, limit, st)
	}
}
