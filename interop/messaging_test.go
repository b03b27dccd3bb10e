package interop_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dividere-go/dividere/internal/testpb"
	"github.com/dividere-go/dividere/messaging"
	"github.com/dividere-go/dividere/msglib"
)

func TestPythonEnvelopeResponseGoRequest(t *testing.T) {
	const n = 20
	py := startPython(t, "msg_peer.py", "rep", "tcp://127.0.0.1:*", fmt.Sprint(n))
	req, err := messaging.NewRequest(py.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer req.Close()
	ctx := tctx(t, 20*time.Second)
	for i := range n {
		rep, err := messaging.Call[*testpb.StringMsg](ctx, req, &testpb.StringMsg{Value: fmt.Sprintf("r%d", i)})
		if err != nil || rep.Value != fmt.Sprintf("py:r%d", i) {
			t.Fatalf("call %d: %v %v", i, rep, err)
		}
	}
	py.Wait(t, ctx)
}

func TestGoEnvelopeResponsePythonRequest(t *testing.T) {
	const n = 20
	rep, err := messaging.NewResponse("tcp://*:0")
	if err != nil {
		t.Fatal(err)
	}
	defer rep.Close()
	py := startPython(t, "msg_peer.py", "req", rep.Endpoint(), fmt.Sprint(n))
	ctx := tctx(t, 20*time.Second)
	for range n {
		m, err := messaging.RecvAs[*testpb.StringMsg](ctx, rep)
		if err != nil {
			t.Fatal(err)
		}
		if err := rep.Send(ctx, &testpb.StringMsg{Value: "go:" + m.Value}); err != nil {
			t.Fatal(err)
		}
	}
	py.Wait(t, ctx)
}

// A Go subscriber filtered by type receives only that type from a Python
// publisher.
func TestPythonPublisherGoTypedSubscriber(t *testing.T) {
	const n = 25
	py := startPython(t, "msg_peer.py", "pub", "tcp://127.0.0.1:*", fmt.Sprint(n))
	sub, err := messaging.NewSubscriber(py.Endpoint, messaging.WithTypes(&testpb.StringMsg{}, &msglib.ShutdownEvent{}))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ctx := tctx(t, 20*time.Second)
	for i := 0; ; i++ {
		m, err := sub.Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, done := m.(*msglib.ShutdownEvent); done {
			if i != n {
				t.Fatalf("got %d StringMsg, want %d", i, n)
			}
			break
		}
		s, ok := m.(*testpb.StringMsg)
		if !ok || s.Value != fmt.Sprintf("s%d", i) {
			t.Fatalf("message %d: %T %v", i, m, m)
		}
	}
	py.Wait(t, ctx)
}

// A Python subscriber using the exact type prefix (computed in Python)
// receives Msg01 and not Msg012 from a Go publisher.
func TestGoPublisherPythonTypedSubscriber(t *testing.T) {
	pub, err := messaging.NewPublisher("tcp://*:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	py := startPython(t, "msg_peer.py", "sub", pub.Endpoint())
	ctx := tctx(t, 20*time.Second)
	if err := pub.WaitSubscribers(ctx, &testpb.Msg01{}, 1); err != nil {
		t.Fatal(err)
	}
	if err := pub.WaitSubscribers(ctx, &msglib.ShutdownEvent{}, 1); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		pub.Send(ctx, &testpb.Msg012{N: int32(100 + i)})
		pub.Send(ctx, &testpb.Msg01{N: int32(i)})
		pub.Send(ctx, &testpb.StringMsg{Value: "not for python"})
	}
	pub.Send(ctx, &msglib.ShutdownEvent{})
	var got []string
	for l := range py.Lines {
		got = append(got, l)
	}
	py.Wait(t, ctx)
	if want := "Msg01 0|Msg01 1|Msg01 2|ShutdownEvent "; strings.Join(got, "|") != want {
		t.Fatalf("python subscriber got %q, want %q", strings.Join(got, "|"), want)
	}
}
