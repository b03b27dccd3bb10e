package interop_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/dividere-go/dividere/connection"
)

func TestPythonResponseGoRequest(t *testing.T) {
	const n = 20
	py := startPython(t, "conn_peer.py", "rep", "tcp://127.0.0.1:*", fmt.Sprint(n))
	req, err := connection.NewRequest(py.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer req.Close()
	ctx := tctx(t, 20*time.Second)
	for i := range n {
		m, err := req.Call(ctx, fmt.Appendf(nil, "q%d", i))
		if err != nil || string(m.Payload()) != fmt.Sprintf("py:q%d", i) {
			t.Fatalf("call %d: %q %v", i, m, err)
		}
	}
	py.Wait(t, ctx)
}

func TestGoResponsePythonRequest(t *testing.T) {
	const n = 20
	rep, err := connection.NewResponse("tcp://*:0")
	if err != nil {
		t.Fatal(err)
	}
	defer rep.Close()
	py := startPython(t, "conn_peer.py", "req", rep.Endpoint(), fmt.Sprint(n))
	ctx := tctx(t, 20*time.Second)
	for range n {
		m, err := rep.Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := rep.Send(ctx, append([]byte("go:"), m.Payload()...)); err != nil {
			t.Fatal(err)
		}
	}
	py.Wait(t, ctx)
}

func TestPythonPublisherGoSubscriber(t *testing.T) {
	const n = 50
	py := startPython(t, "conn_peer.py", "pub", "tcp://127.0.0.1:*", fmt.Sprint(n))
	sub, err := connection.NewSubscriber(py.Endpoint, connection.WithTopics("b.", "END"))
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
		if string(m.Payload()) == "END" {
			if i != n {
				t.Fatalf("got %d messages, want %d", i, n)
			}
			break
		}
		if want := fmt.Sprintf("b.%d", i); string(m.Payload()) != want {
			t.Fatalf("got %q, want %q (topic filter or order broken)", m.Payload(), want)
		}
	}
	py.Wait(t, ctx)
}

func TestGoPublisherPythonSubscriber(t *testing.T) {
	pub, err := connection.NewPublisher("tcp://*:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	py := startPython(t, "conn_peer.py", "sub", pub.Endpoint(), "weather.")
	ctx := tctx(t, 20*time.Second)
	// The Python SUB subscribes to "weather." and "END": wait for both.
	if err := pub.WaitSubscribers(ctx, "weather.x", 1); err != nil {
		t.Fatal(err)
	}
	if err := pub.WaitSubscribers(ctx, "END", 1); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"sports.x", "weather.1", "news", "weather.2", "END"} {
		if err := pub.Send(ctx, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for l := range py.Lines {
		got = append(got, l)
	}
	py.Wait(t, ctx)
	if fmt.Sprint(got) != "[weather.1 weather.2 END]" {
		t.Fatalf("python subscriber got %q", got)
	}
}

func TestGoDealerPythonRouter(t *testing.T) {
	const n = 30
	py := startPython(t, "conn_peer.py", "router", "tcp://127.0.0.1:*", fmt.Sprint(n))
	d, err := connection.NewDealer(py.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := tctx(t, 20*time.Second)
	for i := range n {
		if err := d.Send(ctx, fmt.Appendf(nil, "m%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		m, err := d.Recv(ctx)
		if err != nil || string(m.Payload()) != fmt.Sprintf("py:m%d", i) {
			t.Fatalf("reply %d: %q %v", i, m, err)
		}
	}
	py.Wait(t, ctx)
}

func TestPythonDealerGoRouter(t *testing.T) {
	const n = 30
	r, err := connection.NewRouter("tcp://*:0")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	py := startPython(t, "conn_peer.py", "dealer", r.Endpoint(), fmt.Sprint(n))
	ctx := tctx(t, 20*time.Second)
	for range n {
		m, err := r.Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(m) != 2 {
			t.Fatalf("router got %q, want [identity, payload]", m)
		}
		if err := r.Send(ctx, m.Reply(append([]byte("go:"), m.Payload()...))...); err != nil {
			t.Fatal(err)
		}
	}
	py.Wait(t, ctx)
}
