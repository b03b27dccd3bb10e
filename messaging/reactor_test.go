package messaging_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/internal/testpb"
	"github.com/dividere-go/dividere/messaging"
	"github.com/dividere-go/dividere/msglib"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// runReactor runs r until the test ends and checks that it stops promptly.
func runReactor(t *testing.T, r *messaging.Reactor) {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- r.Serve(context.Background()) }()
	t.Cleanup(func() {
		start := time.Now()
		r.Close()
		select {
		case err := <-errc:
			if !errors.Is(err, connection.ErrServerClosed) {
				t.Errorf("Serve: %v, want ErrServerClosed", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Reactor did not stop")
		}
		if el := time.Since(start); el > time.Second {
			t.Errorf("Close took %v", el)
		}
	})
}

// The original guide's msgReactor example: one reactor answers requests
// on a Response and takes published events from a Subscriber at once.
func TestReactorGuideExample(t *testing.T) {
	rep := ok(messaging.NewResponse("tcp://*:0"))(t)
	pub := ok(messaging.NewPublisher("tcp://*:0"))(t)
	sub := ok(messaging.NewSubscriber(pub.Endpoint()))(t)
	closeAll(t, rep, pub, sub)

	events := make(chan string, 10)
	r := messaging.NewReactor([]messaging.Endpoint{rep, sub})
	messaging.Handle(r, func(ctx context.Context, m *testpb.StringMsg, _ messaging.Peer) (*testpb.StringMsg, error) {
		return &testpb.StringMsg{Value: "answer to " + m.Value}, nil
	})
	messaging.HandleMessage(r, func(ctx context.Context, m *testpb.Int64Msg, from messaging.Peer) error {
		events <- fmt.Sprintf("event %d from %s", m.Value, from.Endpoint())
		return nil
	})
	runReactor(t, r)

	ctx := tctx(t, 10*time.Second)
	req := ok(messaging.NewRequest(rep.Endpoint()))(t)
	closeAll(t, req)
	for i := range 5 {
		m, err := messaging.Call[*testpb.StringMsg](ctx, req, &testpb.StringMsg{Value: fmt.Sprint(i)})
		if err != nil || m.Value != fmt.Sprintf("answer to %d", i) {
			t.Fatalf("call %d: %v %v", i, m, err)
		}
	}
	if err := pub.WaitSubscribers(ctx, &testpb.Int64Msg{}, 1); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		pub.Send(ctx, &testpb.Int64Msg{Value: int64(i)})
	}
	for i := range 3 {
		select {
		case e := <-events:
			if e != fmt.Sprintf("event %d from %s", i, sub.Name()) {
				t.Fatalf("got %q", e)
			}
		case <-ctx.Done():
			t.Fatal("event not handled")
		}
	}
	// A handler's count is taken after it returns: stop the reactor, which
	// waits for handlers, before reading it.
	if err := r.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if st := r.Stats(); st.Received != 8 || st.Handled != 8 {
		t.Fatalf("stats %+v", st)
	}
}

// A handler that fails or panics is counted and logged; the reactor goes
// on, and a request it did not answer is answered with ack{ok: false} —
// by a Response, and by a Router made with AnswerEveryRequest served by
// several workers.
func TestReactorSurvivesBadHandlersAndInput(t *testing.T) {
	t.Run("Response", func(t *testing.T) {
		rep := ok(messaging.NewResponse("tcp://*:0", messaging.WithLogger(quiet)))(t)
		closeAll(t, rep)
		survives(t, rep, rep.Endpoint(), rep.MessageStats)
	})
	t.Run("Router", func(t *testing.T) {
		router := ok(messaging.NewRouter("tcp://*:0", messaging.WithLogger(quiet), messaging.AnswerEveryRequest()))(t)
		closeAll(t, router)
		survives(t, router, router.Endpoint(), router.MessageStats, messaging.WithWorkers(4))
	})
}

func survives(t *testing.T, ep messaging.Endpoint, endpoint string, stats func() messaging.Stats, opts ...messaging.ReactorOption) {
	r := messaging.NewReactor([]messaging.Endpoint{ep}, append(opts, messaging.WithLogger(quiet))...)
	messaging.Handle(r, func(ctx context.Context, m *testpb.Int32Msg, _ messaging.Peer) (*testpb.Int32Msg, error) {
		switch m.Value {
		case 1:
			return nil, errors.New("handler error")
		case 2:
			panic("handler panic")
		case 3:
			return nil, nil // no reply: refused for it
		}
		return m, nil
	})
	var unhandled atomic.Int32
	messaging.HandleNamed(r, "", func(ctx context.Context, m proto.Message, from messaging.Peer) (proto.Message, error) {
		unhandled.Add(1)
		return &msglib.Ack{Ok: true}, nil
	})
	runReactor(t, r)

	ctx := tctx(t, 10*time.Second)
	raw := ok(connection.NewRequest(endpoint))(t)
	req := ok(messaging.NewRequest(endpoint))(t)
	closeAll(t, raw, req)
	for _, tc := range []struct {
		in   proto.Message
		want proto.Message
		code messaging.Code
		text string
	}{
		{in: &testpb.Int32Msg{Value: 1}, code: messaging.Unknown, text: "handler error"},
		{in: &testpb.Int32Msg{Value: 2}, code: messaging.Internal, text: "handler panicked"},
		{in: &testpb.Int32Msg{Value: 3}, code: messaging.Internal, text: "the handler of Int32Msg returned no reply"},
		{in: &testpb.Int32Msg{Value: 4}, want: &testpb.Int32Msg{Value: 4}},
		{in: &testpb.StringMsg{Value: "no typed handler"}, want: &msglib.Ack{Ok: true}},
	} {
		got, err := messaging.Call[proto.Message](ctx, req, tc.in)
		if tc.want != nil {
			if err != nil || !proto.Equal(got, tc.want) {
				t.Fatalf("%v: got %v %v, want %v", tc.in, got, err, tc.want)
			}
			continue
		}
		var e *messaging.Error
		if !errors.As(err, &e) || e.Code != tc.code || e.Message != tc.text || messaging.CodeOf(err) != tc.code {
			t.Fatalf("%v: got %v %v, want %v: %s", tc.in, got, err, tc.code, tc.text)
		}
	}
	// Garbage bytes: answered, counted by the endpoint, reactor unharmed.
	reply, err := raw.Call(ctx, []byte("garbage"))
	if m, _, _ := messaging.Decode(reply.Payload(), nil); err != nil || messaging.CodeOf(messaging.ReplyError(m)) != messaging.InvalidArgument {
		t.Fatalf("garbage: %v %v", m, err)
	}
	if got, err := messaging.Call[proto.Message](ctx, req, &testpb.Int32Msg{Value: 5}); err != nil || !proto.Equal(got, &testpb.Int32Msg{Value: 5}) {
		t.Fatalf("after garbage: %v %v", got, err)
	}
	st := r.Stats()
	if st.Failed != 3 || st.Panics != 1 || st.Unanswered != 3 || st.Refused != 4 || unhandled.Load() != 1 || stats().DecodeErrors != 1 {
		t.Fatalf("stats %+v, unhandled %d, endpoint %+v", st, unhandled.Load(), stats())
	}
}

func TestReactorUnhandledIdleAndShutdownEvent(t *testing.T) {
	d := ok(messaging.NewDealer("@inproc://reactor-idle"))(t)
	peer := ok(messaging.NewDealer("inproc://reactor-idle"))(t)
	rep := ok(messaging.NewResponse("inproc://reactor-idle-rep"))(t)
	req := ok(messaging.NewRequest("inproc://reactor-idle-rep"))(t)
	closeAll(t, d, peer, rep, req)
	idles := make(chan struct{}, 100)
	r := messaging.NewReactor([]messaging.Endpoint{d, rep}, messaging.WithLogger(quiet), messaging.WithShutdownFrom(d),
		messaging.WithIdle(20*time.Millisecond, func(context.Context) { idles <- struct{}{} }))
	messaging.Handle(r, func(ctx context.Context, m *testpb.StringMsg, _ messaging.Peer) (*testpb.StringMsg, error) {
		return m, nil
	})
	errc := make(chan error, 1)
	go func() { errc <- r.Serve(context.Background()) }()
	ctx := tctx(t, 10*time.Second)
	select {
	case <-idles:
	case <-ctx.Done():
		t.Fatal("idle hook not called")
	}
	// A ShutdownEvent from a peer of an endpoint not named by
	// WithShutdownFrom stops nothing: it is refused and counted, and the
	// reactor goes on answering.
	for range 3 {
		if _, err := messaging.Call[*msglib.Ack](ctx, req, &msglib.ShutdownEvent{}); messaging.CodeOf(err) != messaging.PermissionDenied {
			t.Fatalf("ShutdownEvent request: %v, want PERMISSION_DENIED", err)
		}
	}
	if got, err := messaging.Call[*testpb.StringMsg](ctx, req, &testpb.StringMsg{Value: "still here"}); err != nil || got.Value != "still here" {
		t.Fatalf("after ShutdownEvents: %v %v", got, err)
	}
	peer.Send(ctx, nil, &testpb.BoolMsg{}) // no handler: counted
	peer.Send(ctx, nil, &msglib.ShutdownEvent{})
	select {
	case err := <-errc:
		if !errors.Is(err, connection.ErrServerClosed) {
			t.Fatalf("Serve after a ShutdownEvent: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("ShutdownEvent did not stop the reactor")
	}
	if st := r.Stats(); st.Unhandled != 1 || st.Received != 6 || st.ShutdownsIgnored != 3 || st.Refused != 3 {
		t.Fatalf("stats %+v", st)
	}
	if err := r.Serve(ctx); !errors.Is(err, connection.ErrServerClosed) {
		t.Fatalf("Serve of a stopped reactor: %v", err)
	}
}

func TestReactorContextCancel(t *testing.T) {
	sub := ok(messaging.NewSubscriber("inproc://nothing-here"))(t)
	closeAll(t, sub)
	r := messaging.NewReactor([]messaging.Endpoint{sub})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- r.Serve(ctx) }()
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve ignored cancellation")
	}
	if err := r.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// With several workers, replies on a Router still go to the right
// client, and a Response still answers each request before the next.
func TestReactorWorkersRouteReplies(t *testing.T) {
	router := ok(messaging.NewRouter("tcp://*:0"))(t)
	rep := ok(messaging.NewResponse("tcp://*:0"))(t)
	closeAll(t, router, rep)
	r := messaging.NewReactor([]messaging.Endpoint{router, rep}, messaging.WithWorkers(4))
	messaging.Handle(r, func(ctx context.Context, m *testpb.Work, _ messaging.Peer) (*testpb.WorkDone, error) {
		return &testpb.WorkDone{Seq: m.Seq, Digest: burn(int(m.Rounds))}, nil
	})
	runReactor(t, r)
	ctx := tctx(t, 30*time.Second)
	errc := make(chan error, 10)
	for c := range 8 {
		go func() {
			d, err := messaging.NewDealer(router.Endpoint())
			if err != nil {
				errc <- err
				return
			}
			defer d.Close()
			for i := range 50 {
				seq := int64(c*1000 + i)
				d.Send(ctx, nil, &testpb.Work{Seq: seq, Rounds: int32(i % 5)})
			}
			seen := map[int64]bool{}
			for range 50 {
				m, _, err := d.Recv(ctx)
				if err != nil {
					errc <- err
					return
				}
				done := m.(*testpb.WorkDone)
				if done.Seq/1000 != int64(c) || seen[done.Seq] || done.Digest != burn(int(done.Seq%1000%5)) {
					errc <- fmt.Errorf("client %d got %v", c, done)
					return
				}
				seen[done.Seq] = true
			}
			errc <- nil
		}()
	}
	for c := range 2 {
		go func() {
			req, err := messaging.NewRequest(rep.Endpoint())
			if err != nil {
				errc <- err
				return
			}
			defer req.Close()
			for i := range 50 {
				seq := int64(c*1000 + i)
				done, err := messaging.Call[*testpb.WorkDone](ctx, req, &testpb.Work{Seq: seq, Rounds: 2})
				if err != nil || done.Seq != seq {
					errc <- fmt.Errorf("req %d: %v %v", seq, done, err)
					return
				}
			}
			errc <- nil
		}()
	}
	for range 10 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}

// burn is a CPU-bound function: rounds × 10,000 steps of a 64-bit LCG.
func burn(rounds int) uint64 {
	x := uint64(rounds) + 1
	for range rounds * 10_000 {
		x = x*6364136223846793005 + 1442695040888963407
	}
	return x
}

// A Router that answers every request handles each peer's requests in the
// order they came, even with several workers, as a REP would: a DEALER
// that pipelines "register" then "unregister" must not see them swapped.
func TestAnswerEveryRequestKeepsEachPeersOrder(t *testing.T) {
	router := ok(messaging.NewRouter("tcp://*:0", messaging.WithLogger(quiet), messaging.AnswerEveryRequest()))(t)
	d := ok(messaging.NewDealer(router.Endpoint(), messaging.WithLogger(quiet)))(t)
	closeAll(t, router, d)
	r := messaging.NewReactor([]messaging.Endpoint{router}, messaging.WithWorkers(4), messaging.WithLogger(quiet))
	second := make(chan struct{})
	var overtaken atomic.Bool
	messaging.Handle(r, func(ctx context.Context, m *testpb.Int32Msg, _ messaging.Peer) (*testpb.Int32Msg, error) {
		switch m.Value {
		case 1: // slow: the second request must wait for it
			select {
			case <-second:
				overtaken.Store(true)
			case <-time.After(300 * time.Millisecond):
			}
		case 2:
			close(second)
		}
		return m, nil
	})
	runReactor(t, r)
	ctx := tctx(t, 10*time.Second)
	for v := range int32(2) {
		if err := d.Send(ctx, [][]byte{{}}, &testpb.Int32Msg{Value: v + 1}); err != nil {
			t.Fatal(err)
		}
	}
	for want := range int32(2) {
		m, _, err := d.Recv(ctx)
		if got, ok := m.(*testpb.Int32Msg); err != nil || !ok || got.Value != want+1 {
			t.Fatalf("reply %d: %v %v", want+1, m, err)
		}
	}
	if overtaken.Load() {
		t.Fatal("the second request was handled while the first was still running")
	}
}

// Shutdown lets the handler in progress, and the messages queued behind
// it, finish; Close does not wait.
func TestReactorShutdownFinishesWorkInHand(t *testing.T) {
	router := ok(messaging.NewRouter("tcp://127.0.0.1:0", messaging.AnswerEveryRequest()))(t)
	d := ok(messaging.NewDealer(router.Endpoint()))(t)
	closeAll(t, router, d)
	started, release := make(chan struct{}, 3), make(chan struct{})
	r := messaging.NewReactor([]messaging.Endpoint{router}, messaging.WithWorkers(2), messaging.WithLogger(quiet))
	messaging.Handle(r, func(ctx context.Context, m *testpb.StringMsg, _ messaging.Peer) (*testpb.StringMsg, error) {
		started <- struct{}{}
		<-release
		return m, nil
	})
	ctx := tctx(t, 10*time.Second)
	served := make(chan error, 1)
	go func() { served <- r.Serve(ctx) }()
	for _, v := range []string{"one", "two", "three"} { // one peer: handled in turn
		if err := d.Send(ctx, [][]byte{{}}, &testpb.StringMsg{Value: v}); err != nil {
			t.Fatal(err)
		}
	}
	<-started
	// "two" and "three" are queued behind "one" once the receiver has
	// them; Shutdown must finish all three.
	for r.Stats().Received < 3 {
		select {
		case <-ctx.Done():
			t.Fatal("the reactor did not receive the three requests")
		case <-time.After(time.Millisecond):
		}
	}
	shut := make(chan error, 1)
	go func() { shut <- r.Shutdown(ctx) }()
	close(release)
	for _, want := range []string{"one", "two", "three"} {
		m, _, err := d.Recv(ctx)
		if got, isStr := m.(*testpb.StringMsg); err != nil || !isStr || got.Value != want {
			t.Fatalf("reply %v %v, want %s", m, err, want)
		}
	}
	if err := <-shut; err != nil {
		t.Fatal(err)
	}
	if err := <-served; !errors.Is(err, connection.ErrServerClosed) {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
	if st := r.Stats(); st.Handled != 3 || st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
}
