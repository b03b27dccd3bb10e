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
	"github.com/dividere-go/dividere/internal/testproc"
	"github.com/dividere-go/dividere/internal/testutil"
	"github.com/dividere-go/dividere/patterns"
)

// ready is a byte-level announcement of capacity n.
func ready(n uint64) []byte { return binary.AppendUvarint([]byte{0x01}, n) }

// synced waits until the broker has handled everything the fake worker
// sent: the fake sends a "reply" to the probe client last, and the broker
// handles a worker's messages in order.
func synced(ctx context.Context, t *testing.T, fake, probe *connection.Dealer) {
	t.Helper()
	// The broker routes to the probe only once it has the probe's
	// handshake, which may come a moment after the probe has the
	// broker's: the token is sent again until it arrives, and a token of
	// its own keeps an earlier call's late copy from counting.
	token := fmt.Sprintf("sync-%d", syncSeq.Add(1))
	for {
		if err := fake.Send(ctx, []byte(probe.Identity()), []byte(token)); err != nil {
			t.Fatal(err)
		}
		wait, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		for {
			m, err := probe.Recv(wait)
			if err != nil {
				break
			}
			if string(m[len(m)-1]) == token {
				cancel()
				return
			}
		}
		cancel()
		if ctx.Err() != nil {
			t.Fatalf("no sync through the broker: %v", ctx.Err())
		}
	}
}

var syncSeq atomic.Uint64

// probeClient is a client of the broker's front end that synced uses.
func probeClient(ctx context.Context, t *testing.T, front string) *connection.Dealer {
	t.Helper()
	p := ok(connection.NewDealer(front))(t)
	closeAll(t, p)
	if err := p.WaitPeers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	return p
}

// One fake worker announcing capacity 65,536 again and again used to make
// the broker keep a slot per announced request: 150 announcements took a
// broker process from 28 MB to 750-900 MB. Now an announcement replaces
// the last, capacity is capped, and the broker process barely grows.
func TestBrokerAnnouncementsCannotGrowIt(t *testing.T) {
	broker := testproc.Start(t, "broker", "tcp://*:0", "tcp://*:0")
	front, back := broker.Fields[0], broker.Fields[1]
	ctx := tctx(t, 30*time.Second)
	fake := ok(connection.NewDealer(back))(t)
	closeAll(t, fake)
	probe := probeClient(ctx, t, front)
	fake.Send(ctx, ready(1))
	synced(ctx, t, fake, probe) // warm up: the broker is serving
	before := broker.RSS(t)
	for range 150 {
		if err := fake.Send(ctx, ready(65536)); err != nil {
			t.Fatal(err)
		}
	}
	synced(ctx, t, fake, probe)
	after := broker.RSS(t)
	t.Logf("broker RSS %d MB before, %d MB after 150 announcements of capacity 65536", before>>20, after>>20)
	if after-before > 16<<20 {
		t.Fatalf("broker grew by %d MB", (after-before)>>20)
	}
	// It still serves: a real worker answers a client (the fake holds at
	// most InitialCredit requests, which the client sends again).
	runWorker(t, ok(patterns.NewWorker(back, echo("real"), fastBeat, patterns.WithLogger(quiet)))(t))
	c := ok(patterns.NewClient(front, patterns.WithRetry(300*time.Millisecond, 10, 0), patterns.WithLogger(quiet)))(t)
	closeAll(t, c)
	for i := range 5 {
		rep, err := c.Request(ctx, []byte(fmt.Sprint(i)))
		if err != nil || string(rep) != fmt.Sprintf("real:%d", i) {
			t.Fatalf("request %d: %q %v", i, rep, err)
		}
	}
}

// What a worker announces is capped and replaces what it said before; a
// worker that has not answered yet may hold only InitialCredit requests.
func TestBrokerAnnouncementReplaces(t *testing.T) {
	// The fake never heartbeats: a liveness long enough that a loaded
	// machine does not expire it between its announcements and the check.
	b := ok(patterns.NewBroker("tcp://*:0", "tcp://*:0", patterns.WithHeartbeat(time.Second, 30*time.Second), patterns.WithLogger(quiet)))(t)
	testutil.Serve(t, b)
	closeAll(t, b)
	ctx := tctx(t, 10*time.Second)
	fake := ok(connection.NewDealer(b.Backend(), connection.WithIdentity("fake-1")))(t)
	closeAll(t, fake)
	probe := probeClient(ctx, t, b.Frontend())
	for range 10 {
		fake.Send(ctx, ready(65536))
	}
	synced(ctx, t, fake, probe)
	capacity, credit, busy, line := patterns.WorkerState(b, "fake-1")
	if capacity != patterns.MaxCapacity || credit != patterns.InitialCredit || busy != 0 || line != 1 {
		t.Fatalf("after 10 announcements: capacity %d credit %d busy %d line %d", capacity, credit, busy, line)
	}
	fake.Send(ctx, ready(2))
	synced(ctx, t, fake, probe)
	if capacity, credit, _, line = patterns.WorkerState(b, "fake-1"); capacity != 2 || credit != 2 || line != 1 {
		t.Fatalf("after announcing 2: capacity %d credit %d line %d", capacity, credit, line)
	}
}

// A fake worker that announced capacity 100 and never answered used to
// swallow every request it was given until its liveness ran out; one that
// heartbeats never runs out. Now it gets InitialCredit requests and no
// more, and the client's retries find the real worker.
func TestBlackHoleWorkerSwallowsLittle(t *testing.T) {
	b := ok(patterns.NewBroker("tcp://*:0", "tcp://*:0", fastBeat, patterns.WithLogger(quiet),
		patterns.WithRetry(300*time.Millisecond, 0, 0)))(t)
	testutil.Serve(t, b)
	closeAll(t, b)
	ctx := tctx(t, 30*time.Second)
	fake := ok(connection.NewDealer(b.Backend()))(t)
	closeAll(t, fake)
	probe := probeClient(ctx, t, b.Frontend())
	fake.Send(ctx, ready(100))
	synced(ctx, t, fake, probe)
	var swallowed atomic.Int64
	fakeCtx, stopFake := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // it stays alive...
		defer wg.Done()
		tk := time.NewTicker(20 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-fakeCtx.Done():
				return
			case <-tk.C:
				fake.Send(fakeCtx, binary.AppendUvarint([]byte{0x02}, 100))
			}
		}
	}()
	go func() { // ...and answers nothing
		defer wg.Done()
		for {
			m, err := fake.Recv(fakeCtx)
			if err != nil {
				return
			}
			if len(m) > 1 {
				swallowed.Add(1)
			}
		}
	}()
	defer func() { stopFake(); wg.Wait() }()
	runWorker(t, ok(patterns.NewWorker(b.Backend(), echo("real"), fastBeat, patterns.WithLogger(quiet)))(t))
	if err := b.WaitWorkers(ctx, 2); err != nil {
		t.Fatal(err)
	}
	c := ok(patterns.NewClient(b.Frontend(), patterns.WithRetry(300*time.Millisecond, 10, 0), patterns.WithLogger(quiet)))(t)
	closeAll(t, c)
	var failed atomic.Int64
	var cw sync.WaitGroup
	for i := range 40 {
		cw.Add(1)
		go func() {
			defer cw.Done()
			if rep, err := c.Request(ctx, []byte(fmt.Sprint(i))); err != nil || string(rep) != fmt.Sprintf("real:%d", i) {
				failed.Add(1)
			}
		}()
	}
	cw.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of 40 requests failed", failed.Load())
	}
	if n := swallowed.Load(); n > patterns.InitialCredit {
		t.Fatalf("the black hole swallowed %d requests, want at most %d", n, patterns.InitialCredit)
	}
	t.Logf("black hole swallowed %d requests; client stats %+v", swallowed.Load(), c.Stats())
}

// Requests waiting for a worker are bounded in bytes as well as in
// number: clients cannot make a broker with no free worker hold more.
func TestBrokerQueueBoundedInBytes(t *testing.T) {
	b := ok(patterns.NewBroker("tcp://*:0", "tcp://*:0", patterns.WithLogger(quiet), patterns.WithQueue(0, 0, 1<<20)))(t)
	testutil.Serve(t, b)
	closeAll(t, b)
	ctx := tctx(t, 10*time.Second)
	client := ok(connection.NewDealer(b.Frontend()))(t)
	closeAll(t, client)
	payload := make([]byte, 100<<10)
	for i := range 20 {
		if err := client.Send(ctx, []byte{byte(i)}, payload); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 5*time.Second, "every request received", func() bool { return b.Stats().Requests == 20 })
	// Each request is its route (the client's identity, 13 bytes), its
	// id frame and 100 KiB: ten fit in 1 MiB.
	if st := b.Stats(); st.Queued != 10 || st.Dropped != 10 {
		t.Fatalf("stats %+v, want 10 queued and 10 dropped", st)
	}
}

func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, d, what, cond)
}
