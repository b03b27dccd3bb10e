package messaging_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/dividere-go/dividere/internal/testpb"
	"github.com/dividere-go/dividere/messaging"
	"github.com/dividere-go/dividere/msglib"
)

// Handle's reply is what the handler returns, typed; its error is the
// refusal; and the reply goes out once, whatever the endpoint.
func TestTypedHandle(t *testing.T) {
	rep := ok(messaging.NewResponse("tcp://127.0.0.1:0"))(t)
	req := ok(messaging.NewRequest(rep.Endpoint()))(t)
	pub := ok(messaging.NewPublisher("tcp://127.0.0.1:0"))(t)
	sub := ok(messaging.NewSubscriber(pub.Endpoint()))(t)
	closeAll(t, rep, req, pub, sub)
	published := make(chan string, 1)
	reactorOn(t, []messaging.Endpoint{rep, sub}, func(r *messaging.Reactor) {
		messaging.Handle(r, func(ctx context.Context, m *testpb.StringMsg, from messaging.Peer) (*testpb.Int64Msg, error) {
			switch m.Value {
			case "nil":
				return nil, nil
			case "missing":
				return nil, messaging.Errorf(messaging.NotFound, "no %s", m.Value)
			}
			if from.Endpoint() == sub.Name() {
				published <- m.Value
			}
			return &testpb.Int64Msg{Value: int64(len(m.Value))}, nil
		})
	})
	ctx := tctx(t, 10*time.Second)
	got, err := messaging.Call[*testpb.Int64Msg](ctx, req, &testpb.StringMsg{Value: "four"})
	if err != nil || got.Value != 4 {
		t.Fatalf("typed reply: %v %v", got, err)
	}
	if _, err := messaging.Call[proto.Message](ctx, req, &testpb.StringMsg{Value: "missing"}); messaging.CodeOf(err) != messaging.NotFound {
		t.Fatalf("typed refusal: %v", err)
	}
	var e *messaging.Error
	if _, err := messaging.Call[proto.Message](ctx, req, &testpb.StringMsg{Value: "nil"}); !errors.As(err, &e) || e.Code != messaging.Internal {
		t.Fatalf("nil reply: %v", err)
	}
	// Published, the same handler runs and its reply is dropped.
	if err := pub.WaitSubscribers(ctx, &testpb.StringMsg{}, 1); err != nil {
		t.Fatal(err)
	}
	pub.Send(ctx, &testpb.StringMsg{Value: "event"})
	select {
	case v := <-published:
		if v != "event" {
			t.Fatalf("published: %q", v)
		}
	case <-ctx.Done():
		t.Fatal("the handler did not see the published message")
	}
	if _, err := messaging.Call[*msglib.Ack](ctx, req, &testpb.BoolMsg{}); messaging.CodeOf(err) != messaging.Unimplemented {
		t.Fatalf("no handler: %v", err)
	}
}

// Reply is for conversations: refused on a Response (a request there is
// answered by what a Handle handler returns), once per request on a
// Router that answers every request, as often as wanted on a Dealer.
func TestReplyOnlyInConversations(t *testing.T) {
	rep := ok(messaging.NewResponse("tcp://127.0.0.1:0"))(t)
	req := ok(messaging.NewRequest(rep.Endpoint()))(t)
	router := ok(messaging.NewRouter("tcp://127.0.0.1:0", messaging.AnswerEveryRequest()))(t)
	d := ok(messaging.NewDealer(router.Endpoint()))(t)
	closeAll(t, rep, req, router, d)
	replyErrs := make(chan error, 4)
	reactorOn(t, []messaging.Endpoint{rep, router}, func(r *messaging.Reactor) {
		messaging.HandleMessage(r, func(ctx context.Context, m *testpb.StringMsg, from messaging.Peer) error {
			replyErrs <- from.Reply(ctx, m)
			if from.Endpoint() == router.Name() {
				replyErrs <- from.Reply(ctx, m) // a second reply to one request
			}
			return nil
		})
	})
	ctx := tctx(t, 10*time.Second)
	if _, err := messaging.Call[proto.Message](ctx, req, &testpb.StringMsg{Value: "rep"}); messaging.CodeOf(err) != messaging.Internal {
		t.Fatalf("a Response's request a HandleMessage handler could not answer: %v", err)
	}
	if err := <-replyErrs; !errors.Is(err, messaging.ErrNoReply) {
		t.Fatalf("Reply on a Response: %v", err)
	}
	if err := d.Send(ctx, [][]byte{{}}, &testpb.StringMsg{Value: "router"}); err != nil {
		t.Fatal(err)
	}
	if m, _, err := d.Recv(ctx); err != nil || m.(*testpb.StringMsg).Value != "router" {
		t.Fatalf("the Router's reply: %v %v", m, err)
	}
	if first, second := <-replyErrs, <-replyErrs; first != nil || !errors.Is(second, messaging.ErrNoReply) {
		t.Fatalf("replies on a Router that answers every request: %v, %v", first, second)
	}
}

// HandleNamed answers a type given by name, and Types lists it with the
// typed ones (a default handler is not a type).
func TestHandleNamedAndTypes(t *testing.T) {
	rep := ok(messaging.NewResponse("tcp://127.0.0.1:0"))(t)
	req := ok(messaging.NewRequest(rep.Endpoint()))(t)
	closeAll(t, rep, req)
	mux := messaging.NewMux()
	messaging.HandleNamed(mux, "StringMsg", func(_ context.Context, m proto.Message, _ messaging.Peer) (proto.Message, error) {
		return &testpb.Int64Msg{Value: int64(len(m.(*testpb.StringMsg).Value))}, nil
	})
	messaging.Handle(mux, func(_ context.Context, m *testpb.Int32Msg, _ messaging.Peer) (*testpb.Int32Msg, error) { return m, nil })
	messaging.HandleNamed(mux, "", func(_ context.Context, m proto.Message, _ messaging.Peer) (proto.Message, error) { return m, nil })
	if got := mux.Types(); len(got) != 2 || got[0] != "Int32Msg" || got[1] != "StringMsg" {
		t.Fatalf("Types = %v", got)
	}
	reactorOn(t, []messaging.Endpoint{rep}, func(r *messaging.Reactor) {}, messaging.WithMux(mux))
	ctx := tctx(t, 10*time.Second)
	got, err := messaging.Call[*testpb.Int64Msg](ctx, req, &testpb.StringMsg{Value: "four"})
	if err != nil || got.Value != 4 {
		t.Fatalf("named handler: %v %v", got, err)
	}
}
