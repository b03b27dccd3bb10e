package messaging_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/internal/testpb"
	"github.com/dividere-go/dividere/internal/testutil"
	"github.com/dividere-go/dividere/messaging"
	"github.com/dividere-go/dividere/msglib"
)

func TestCodeOf(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want messaging.Code
	}{
		{nil, messaging.OK},
		{messaging.Errorf(messaging.NotFound, "no %s", "x"), messaging.NotFound},
		{fmt.Errorf("wrapped: %w", messaging.Errorf(messaging.Aborted, "why")), messaging.Aborted},
		{context.DeadlineExceeded, messaging.DeadlineExceeded},
		{fmt.Errorf("recv: %w", connection.ErrTimeout), messaging.DeadlineExceeded},
		{context.Canceled, messaging.Canceled},
		{unknownTypeErr(t), messaging.Unimplemented},
		{messaging.ErrUndecodable, messaging.InvalidArgument},
		{messaging.ErrWrongType, messaging.InvalidArgument},
		{errors.New("plain"), messaging.Unknown},
	} {
		if got := messaging.CodeOf(tc.err); got != tc.want {
			t.Errorf("CodeOf(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
	if s := messaging.Code(99).String(); s != "CODE(99)" {
		t.Errorf("unknown code: %s", s)
	}
	// An error a handler wraps stays reachable on the serving side.
	cause := errors.New("disk full")
	if err := messaging.Errorf(messaging.ResourceExhausted, "saving: %w", cause); !errors.Is(err, cause) ||
		err.Error() != "RESOURCE_EXHAUSTED: saving: disk full" {
		t.Errorf("Errorf: %v", err)
	}
	// What travels, and what the caller makes of it; a v1 peer's
	// ack{ok: false} is UNKNOWN.
	ack := &msglib.Ack{Code: uint32(messaging.NotFound), Message: "no such order"}
	var e *messaging.Error
	if err := messaging.ReplyError(ack); !errors.As(err, &e) || e.Code != messaging.NotFound || e.Message != "no such order" {
		t.Errorf("ReplyError: %v", err)
	}
	if err := messaging.ReplyError(&msglib.Ack{}); messaging.CodeOf(err) != messaging.Unknown {
		t.Errorf("v1 refusal: %v", err)
	}
	if err := messaging.ReplyError(&msglib.Ack{Ok: true}); err != nil {
		t.Errorf("ack{ok: true}: %v", err)
	}
}

// The header goes last, so that the type prefix is v1's; without one the
// envelope is v1's byte for byte.
func TestHeaderEncoding(t *testing.T) {
	m := &testpb.StringMsg{Value: "hello"}
	v1, _ := messaging.Encode(m, nil)
	for _, h := range []*messaging.Header{nil, {}} {
		if b, err := messaging.Encode(m, h); err != nil || !bytes.Equal(b, v1) {
			t.Fatalf("empty header %v: %x, want %x", h, b, v1)
		}
	}
	h := &messaging.Header{TimeoutUs: 1500, Traceparent: "00-abc-def-01", Metadata: map[string]string{"k": "v"}, Publisher: "p", Sequence: 7}
	b, err := messaging.Encode(m, h)
	if err != nil || !bytes.HasPrefix(b, v1) || !bytes.HasPrefix(b, []byte(messaging.Topic(m))) {
		t.Fatalf("v2 envelope %x does not start as v1 %x", b, v1)
	}
	got, gh, err := messaging.Decode(b, nil)
	if err != nil || !proto.Equal(got, m) || !proto.Equal(gh, h) {
		t.Fatalf("decoded %v %v %v", got, gh, err)
	}
	if _, gh, err := messaging.DecodeHeader(v1); gh != nil || err != nil {
		t.Fatalf("v1 header: %v %v", gh, err)
	}
	// A v1 decoder (the generated msgEnvelope, which knows no header
	// field in the original's schema) reads the message all the same.
	var env msglib.MsgEnvelope
	if err := proto.Unmarshal(b, &env); err != nil || env.MsgName != "dividere.test.StringMsg" && env.MsgName == "" {
		t.Fatalf("as a v1 envelope: %v %v", &env, err)
	}
	// A header that is not a message is the envelope's fault.
	bad := append(slices.Clone(v1), 0x1a, 0x02, 0xff, 0xff)
	if _, _, err := messaging.Decode(bad, nil); !errors.Is(err, messaging.ErrUndecodable) {
		t.Fatalf("bad header: %v", err)
	}
}

// unknownTypeErr is the error of decoding an envelope of a type nobody
// knows.
func unknownTypeErr(t *testing.T) error {
	t.Helper()
	b, err := proto.Marshal(&msglib.MsgEnvelope{MsgName: "NoSuchType", Msg: &anypb.Any{TypeUrl: "type.googleapis.com/NoSuchType"}})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = messaging.Decode(b, nil)
	if !errors.Is(err, messaging.ErrUndecodable) {
		t.Fatalf("decoding an unknown type: %v", err)
	}
	return err
}

// reactorOn serves rep with handlers registered by reg, for the test.
func reactorOn(t *testing.T, eps []messaging.Endpoint, reg func(r *messaging.Reactor), opts ...messaging.ReactorOption) *messaging.Reactor {
	t.Helper()
	r := messaging.NewReactor(eps, append(opts, messaging.WithLogger(quiet))...)
	reg(r)
	runReactor(t, r)
	return r
}

// A caller's deadline travels; the handler's context ends at it, and
// never later than the server's own limit; a handler that runs out of
// time is answered DEADLINE_EXCEEDED.
func TestDeadlinesCrossHops(t *testing.T) {
	rep := ok(messaging.NewResponse("tcp://127.0.0.1:0"))(t)
	req := ok(messaging.NewRequest(rep.Endpoint()))(t)
	closeAll(t, rep, req)
	type seen struct {
		left time.Duration
		has  bool
	}
	seenc := make(chan seen, 10)
	reactorOn(t, []messaging.Endpoint{rep}, func(r *messaging.Reactor) {
		messaging.Handle(r, func(ctx context.Context, m *testpb.StringMsg, _ messaging.Peer) (*testpb.StringMsg, error) {
			d, has := ctx.Deadline()
			seenc <- seen{time.Until(d), has}
			if m.Value == "wait" {
				<-ctx.Done()
				return nil, ctx.Err()
			}
			return m, nil
		})
	}, messaging.WithHandlerTimeout(300*time.Millisecond))
	ctx := tctx(t, 10*time.Second)

	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := messaging.Call[proto.Message](short, req, &testpb.StringMsg{Value: "quick"}); err != nil {
		t.Fatal(err)
	}
	if s := <-seenc; !s.has || s.left > 100*time.Millisecond || s.left <= 0 {
		t.Fatalf("handler's time with a caller's 100ms: %+v", s)
	}
	// The caller allows 10 s; the server's limit is 300 ms.
	start := time.Now()
	_, err := messaging.Call[proto.Message](ctx, req, &testpb.StringMsg{Value: "wait"})
	if messaging.CodeOf(err) != messaging.DeadlineExceeded || time.Since(start) > 5*time.Second {
		t.Fatalf("handler out of time: %v after %v", err, time.Since(start))
	}
	if s := <-seenc; !s.has || s.left > 300*time.Millisecond {
		t.Fatalf("handler's time under the server's limit: %+v", s)
	}
}

// A request whose requester's deadline passed while it waited for a
// handler is answered DEADLINE_EXCEEDED, and no handler sees it.
func TestExpiredRequestsAreNotHandled(t *testing.T) {
	router := ok(messaging.NewRouter("tcp://127.0.0.1:0", messaging.AnswerEveryRequest()))(t)
	d := ok(messaging.NewDealer(router.Endpoint()))(t)
	closeAll(t, router, d)
	release := make(chan struct{})
	var mu sync.Mutex
	var handled []string
	r := reactorOn(t, []messaging.Endpoint{router}, func(r *messaging.Reactor) {
		messaging.Handle(r, func(ctx context.Context, m *testpb.StringMsg, _ messaging.Peer) (*testpb.StringMsg, error) {
			mu.Lock()
			handled = append(handled, m.Value)
			mu.Unlock()
			if m.Value == "block" {
				<-release
			}
			return m, nil
		})
	}, messaging.WithWorkers(2))
	ctx := tctx(t, 10*time.Second)
	// One peer's requests are handled in order: the second and third
	// wait behind the first.
	if err := d.Send(ctx, [][]byte{{}}, &testpb.StringMsg{Value: "block"}); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := d.Send(short, [][]byte{{}}, &testpb.StringMsg{Value: "late"}); err != nil {
		t.Fatal(err)
	}
	if err := d.Send(ctx, [][]byte{{}}, &testpb.StringMsg{Value: "patient"}); err != nil {
		t.Fatal(err)
	}
	<-short.Done() // the requester gives up on "late"
	// The reactor's own deadline for "late" runs from when it received
	// it, a little after the send: once it has all three, its deadline
	// has passed 50 ms later (and a margin for the step from counting a
	// request to dating it).
	for r.Stats().Received < 3 {
		select {
		case <-ctx.Done():
			t.Fatal("the reactor did not receive the three requests")
		case <-time.After(time.Millisecond):
		}
	}
	<-time.After(100 * time.Millisecond)
	close(release)
	var replies []string
	for range 3 {
		m, _, err := d.Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if s, isStr := m.(*testpb.StringMsg); isStr {
			replies = append(replies, s.Value)
		} else {
			replies = append(replies, messaging.CodeOf(messaging.ReplyError(m)).String())
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(replies, []string{"block", "DEADLINE_EXCEEDED", "patient"}) || !slices.Equal(handled, []string{"block", "patient"}) ||
		r.Stats().Expired != 1 {
		t.Fatalf("replies %v, handled %v, stats %+v", replies, handled, r.Stats())
	}
}

// Metadata and trace context travel; middleware sees them, in order, and
// can refuse a request.
func TestMetadataTraceAndMiddleware(t *testing.T) {
	rep := ok(messaging.NewResponse("tcp://127.0.0.1:0"))(t)
	req := ok(messaging.NewRequest(rep.Endpoint(), messaging.WithOutgoing(func(ctx context.Context, m proto.Message, h *messaging.Header) {
		h.Traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	})))(t)
	closeAll(t, rep, req)
	var mu sync.Mutex
	var order []string
	mark := func(name string) func(messaging.HandlerFunc) messaging.HandlerFunc {
		return func(next messaging.HandlerFunc) messaging.HandlerFunc {
			return func(ctx context.Context, m proto.Message, from messaging.Peer) error {
				mu.Lock()
				order = append(order, name+":"+messaging.IncomingHeader(ctx).GetTraceparent()[:5])
				mu.Unlock()
				if messaging.IncomingHeader(ctx).GetMetadata()["user"] == "mallory" {
					return messaging.Errorf(messaging.PermissionDenied, "not you")
				}
				return next(ctx, m, from)
			}
		}
	}
	reactorOn(t, []messaging.Endpoint{rep}, func(r *messaging.Reactor) {
		messaging.Handle(r, func(ctx context.Context, m *testpb.StringMsg, _ messaging.Peer) (*testpb.StringMsg, error) {
			return &testpb.StringMsg{Value: "hello " + messaging.IncomingHeader(ctx).GetMetadata()["user"]}, nil
		})
	}, messaging.WithMiddleware(mark("outer"), mark("inner")))
	ctx := tctx(t, 10*time.Second)
	got, err := messaging.Call[*testpb.StringMsg](messaging.AppendMetadata(ctx, "user", "ann"), req, &testpb.StringMsg{})
	if err != nil || got.Value != "hello ann" {
		t.Fatalf("with metadata: %v %v", got, err)
	}
	_, err = messaging.Call[*testpb.StringMsg](messaging.AppendMetadata(ctx, "user", "mallory"), req, &testpb.StringMsg{})
	if messaging.CodeOf(err) != messaging.PermissionDenied {
		t.Fatalf("refused by middleware: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(order, []string{"outer:00-4b", "inner:00-4b", "outer:00-4b"}) {
		t.Fatalf("middleware calls: %v", order)
	}
}

// Hidden errors keep the code and drop the text.
func TestHiddenErrors(t *testing.T) {
	rep := ok(messaging.NewResponse("tcp://127.0.0.1:0"))(t)
	req := ok(messaging.NewRequest(rep.Endpoint()))(t)
	closeAll(t, rep, req)
	reactorOn(t, []messaging.Endpoint{rep}, func(r *messaging.Reactor) {
		messaging.HandleMessage(r, func(ctx context.Context, m *testpb.StringMsg, from messaging.Peer) error {
			if m.Value == "mine" {
				return messaging.Errorf(messaging.FailedPrecondition, "say this")
			}
			return errors.New("password=hunter2 in /etc/secret")
		})
	}, messaging.WithHiddenErrors())
	ctx := tctx(t, 10*time.Second)
	_, err := messaging.Call[proto.Message](ctx, req, &testpb.StringMsg{})
	if err == nil || err.Error() != "UNKNOWN: internal error" {
		t.Fatalf("hidden: %v", err)
	}
	if _, err = messaging.Call[proto.Message](ctx, req, &testpb.StringMsg{Value: "mine"}); err == nil || err.Error() != "FAILED_PRECONDITION: say this" {
		t.Fatalf("a handler's own *Error: %v", err)
	}
}

// Sequences are per (publisher, type): a subscriber that filters types
// sees no false gap, and a restarted publisher is a new sequence.
func TestSequencesHaveNoFalseGaps(t *testing.T) {
	port := testutil.Port(t)
	ep := "tcp://127.0.0.1:" + strconv.Itoa(port)
	sub := ok(messaging.NewSubscriber(ep, messaging.WithTypes(&testpb.Int64Msg{})))(t)
	closeAll(t, sub)
	ctx := tctx(t, 20*time.Second)
	// The subscriber reads all along, as one does: libzmq resends its
	// subscriptions to a restarted publisher only as the socket is used.
	got := make(chan int64, 200)
	rctx, stop := context.WithCancel(ctx)
	defer func() {
		stop()
		for range got { // until the reader has returned
		}
	}()
	go func() {
		for {
			m, err := messaging.RecvAs[*testpb.Int64Msg](rctx, sub)
			if err != nil {
				close(got)
				return
			}
			got <- m.Value
		}
	}()
	var ids []string
	for life := range 2 { // the second publisher is the first restarted
		pub := ok(messaging.NewPublisher(ep))(t)
		ids = append(ids, pub.ID())
		if err := pub.WaitSubscribers(ctx, &testpb.Int64Msg{}, 1); err != nil {
			t.Fatalf("life %d: %v", life, err)
		}
		for i := range 100 {
			if err := pub.Send(ctx, &testpb.Int64Msg{Value: int64(i)}); err != nil {
				t.Fatal(err)
			}
			if err := pub.Send(ctx, &testpb.StringMsg{Value: "filtered out"}); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 100 {
			if v := <-got; v != int64(i) {
				t.Fatalf("life %d, message %d: %d", life, i, v)
			}
		}
		pub.Close()
	}
	if ids[0] == ids[1] || ids[0] == "" {
		t.Fatalf("publisher ids %q", ids)
	}
	if st := sub.MessageStats(); st.Lost != 0 || st.Received != 200 {
		t.Fatalf("stats %+v", st)
	}
}

// A gap in a sequence is counted, per publisher, exactly.
func TestGapsAreCounted(t *testing.T) {
	raw := ok(connection.NewPublisher("tcp://127.0.0.1:0"))(t)
	sub := ok(messaging.NewSubscriber(raw.Endpoint(), messaging.WithLogger(quiet)))(t)
	closeAll(t, raw, sub)
	ctx := tctx(t, 10*time.Second)
	if err := raw.WaitSubscribers(ctx, "", 1); err != nil {
		t.Fatal(err)
	}
	send := func(pub string, seq uint64) {
		b, err := messaging.Encode(&testpb.Int64Msg{Value: int64(seq)}, &messaging.Header{Publisher: pub, Sequence: seq})
		if err != nil {
			t.Fatal(err)
		}
		if err := raw.Send(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []uint64{1, 2, 5, 6, 10} { // 3, 4 and 7-9 lost
		send("p1", s)
	}
	send("p2", 40) // a publisher first heard mid-sequence: no loss
	send("p2", 41)
	for range 7 {
		if _, err := sub.Recv(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if st, by := sub.MessageStats(), sub.LostByPublisher(); st.Lost != 5 || len(by) != 1 || by["p1"] != 5 {
		t.Fatalf("lost %d, by publisher %v", st.Lost, by)
	}
}
