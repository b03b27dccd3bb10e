package patterns_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/dividere-go/dividere/internal/testpb"
	"github.com/dividere-go/dividere/internal/testutil"
	"github.com/dividere-go/dividere/messaging"
	"github.com/dividere-go/dividere/patterns"
)

func TestMsgWorkerAndClient(t *testing.T) {
	b := ok(patterns.NewBroker("tcp://*:0", "tcp://*:0", fastBeat, patterns.WithLogger(quiet)))(t)
	testutil.Serve(t, b)
	closeAll(t, b)
	for i := range 2 {
		w := ok(patterns.NewMsgWorker(b.Backend(), fastBeat, patterns.WithCapacity(2), patterns.WithLogger(quiet)))(t)
		messaging.Handle(w, func(ctx context.Context, m *testpb.Work, _ messaging.Peer) (*testpb.WorkDone, error) {
			return &testpb.WorkDone{Seq: m.Seq, Digest: uint64(i)}, nil
		})
		messaging.HandleMessage(w, func(ctx context.Context, m *testpb.StringMsg, from messaging.Peer) error {
			switch m.Value {
			case "panic":
				panic("handler panic")
			case "not found":
				return messaging.Errorf(messaging.NotFound, "no %s here", m.Value)
			}
			return nil // no reply: the worker answers ack{ok: false}
		})
		runWorker(t, w)
	}
	ctx := tctx(t, 20*time.Second)
	if err := b.WaitWorkers(ctx, 2); err != nil {
		t.Fatal(err)
	}
	c := ok(patterns.NewClient(b.Frontend(), patterns.WithLogger(quiet)))(t)
	closeAll(t, c)
	digests := map[uint64]int{}
	for i := range 20 {
		done, err := patterns.Call[*testpb.WorkDone](ctx, c, &testpb.Work{Seq: int64(i)})
		if err != nil || done.Seq != int64(i) {
			t.Fatalf("call %d: %v %v", i, done, err)
		}
		digests[done.Digest]++
	}
	if len(digests) != 2 {
		t.Fatalf("replies came from %v, want both workers", digests)
	}
	// Failures travel through the broker with their codes.
	for _, tc := range []struct {
		bad  proto.Message
		code messaging.Code
	}{
		{&testpb.StringMsg{Value: "silent"}, messaging.Internal},    // handler did not reply
		{&testpb.StringMsg{Value: "panic"}, messaging.Internal},     // handler panicked
		{&testpb.BoolMsg{Value: true}, messaging.Unimplemented},     // no handler for the type
		{&testpb.StringMsg{Value: "not found"}, messaging.NotFound}, // the handler's own code
	} {
		got, err := patterns.Call[proto.Message](ctx, c, tc.bad)
		var e *messaging.Error
		if !errors.As(err, &e) || e.Code != tc.code {
			t.Fatalf("%v: got %v %v, want %v", tc.bad, got, err, tc.code)
		}
	}
	_, err := patterns.Call[*testpb.WorkDone](ctx, c, &testpb.BoolMsg{})
	if messaging.CodeOf(err) != messaging.Unimplemented {
		t.Fatalf("typed call of an unhandled type: %v", err)
	}
	// Workers heartbeat with envelopes; the broker answers in kind and
	// keeps them alive well past the dead-after time.
	deadline := time.Now().Add(400 * time.Millisecond)
	for time.Now().Before(deadline) {
		if st := b.Stats(); st.Workers != 2 || st.Deaths != 0 {
			t.Fatalf("broker lost a heartbeating worker: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A request queued at the broker whose client's deadline passes before a
// worker is free is dropped there, counted, and never handed to one.
func TestBrokerDropsLateRequests(t *testing.T) {
	b := ok(patterns.NewBroker("tcp://127.0.0.1:0", "tcp://127.0.0.1:0", fastBeat, patterns.WithLogger(quiet)))(t)
	testutil.Serve(t, b)
	c := ok(patterns.NewClient(b.Frontend(), patterns.WithLogger(quiet), patterns.WithRetry(time.Second, 0, 0)))(t)
	closeAll(t, b, c)
	ctx := tctx(t, 20*time.Second)
	var seen []string
	var mu sync.Mutex
	worker := func() *patterns.MsgWorker {
		w := ok(patterns.NewMsgWorker(b.Backend(), fastBeat, patterns.WithLogger(quiet)))(t)
		messaging.Handle(w, func(ctx context.Context, m *testpb.StringMsg, _ messaging.Peer) (*testpb.StringMsg, error) {
			mu.Lock()
			seen = append(seen, m.Value)
			mu.Unlock()
			return m, nil
		})
		runWorker(t, w)
		if err := b.WaitWorkers(ctx, 1); err != nil {
			t.Fatal(err)
		}
		return w
	}
	// A first call through a first worker: the client is connected (a
	// request that waits in the client's own socket for the connection
	// is not aged: its header counts the time left when it was encoded).
	first := worker()
	if _, err := patterns.Call[*testpb.StringMsg](ctx, c, &testpb.StringMsg{Value: "warm"}); err != nil {
		t.Fatal(err)
	}
	first.Close()
	for b.Stats().Workers != 0 {
		select {
		case <-ctx.Done():
			t.Fatal("the broker did not notice the first worker leave")
		case <-time.After(5 * time.Millisecond):
		}
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := patterns.Call[proto.Message](short, c, &testpb.StringMsg{Value: "late"}); err == nil {
		t.Fatal("answered with no worker")
	}
	worker()
	if got, err := patterns.Call[*testpb.StringMsg](ctx, c, &testpb.StringMsg{Value: "on time"}); err != nil || got.Value != "on time" {
		t.Fatalf("on time: %v %v", got, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if st := b.Stats(); st.Late != 1 || st.Queued != 0 || len(seen) != 2 || seen[0] != "warm" || seen[1] != "on time" {
		t.Fatalf("workers saw %v; broker %+v", seen, st)
	}
}

// Each retry carries the time that remains, not the time there was.
func TestRetriesSendTheRemainingTime(t *testing.T) {
	b := ok(patterns.NewBroker("tcp://127.0.0.1:0", "tcp://127.0.0.1:0", fastBeat, patterns.WithLogger(quiet)))(t)
	testutil.Serve(t, b)
	c := ok(patterns.NewClient(b.Frontend(), patterns.WithLogger(quiet), patterns.WithRetry(300*time.Millisecond, 2, 0)))(t)
	closeAll(t, b, c)
	left := make(chan time.Duration, 4)
	release := make(chan struct{})
	var calls atomic.Int32
	for range 2 {
		w := ok(patterns.NewMsgWorker(b.Backend(), fastBeat, patterns.WithLogger(quiet)))(t)
		messaging.Handle(w, func(ctx context.Context, m *testpb.StringMsg, _ messaging.Peer) (*testpb.StringMsg, error) {
			d, _ := ctx.Deadline()
			left <- time.Until(d)
			if calls.Add(1) == 1 { // the first attempt goes unanswered until the test ends
				<-release
			}
			return m, nil
		})
		runWorker(t, w)
	}
	ctx := tctx(t, 20*time.Second)
	if err := b.WaitWorkers(ctx, 2); err != nil {
		t.Fatal(err)
	}
	call, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	defer close(release)
	if _, err := patterns.Call[proto.Message](call, c, &testpb.StringMsg{Value: "retried"}); err != nil {
		t.Fatal(err)
	}
	first, second := <-left, <-left
	if first > 5*time.Second || second > first-250*time.Millisecond {
		t.Fatalf("time left at the first attempt %v, at the retry %v", first, second)
	}
}
