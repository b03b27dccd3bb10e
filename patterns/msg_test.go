package patterns_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/dividere-go/dividere/internal/testpb"
	"github.com/dividere-go/dividere/messaging"
	"github.com/dividere-go/dividere/patterns"
)

func TestMsgWorkerAndClient(t *testing.T) {
	b := ok(patterns.NewBroker("tcp://*:0", "tcp://*:0", fastBeat, patterns.WithLogger(quiet)))(t)
	closeAll(t, b)
	for i := range 2 {
		w := patterns.NewMsgWorker(b.Backend(), fastBeat, patterns.WithCapacity(2), patterns.WithLogger(quiet))
		messaging.Handle(w, func(ctx context.Context, m *testpb.Work, from messaging.Source) error {
			return from.Reply(ctx, &testpb.WorkDone{Seq: m.Seq, Digest: uint64(i)})
		})
		messaging.Handle(w, func(ctx context.Context, m *testpb.StringMsg, from messaging.Source) error {
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
	c := ok(patterns.NewMsgClient(b.Frontend(), patterns.WithLogger(quiet)))(t)
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
		got, err := c.Call(ctx, tc.bad)
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
