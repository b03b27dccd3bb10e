package interop_test

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/internal/testpb"
	"github.com/dividere-go/dividere/internal/testutil"
	"github.com/dividere-go/dividere/messaging"
)

// The wire scenarios of the original's own suites (tests/*.py), with one
// side Go and the other the original's classes (interop/original/runner.py).

// originalTypes returns one of each message type of the original's
// tests/TestMsg.proto, filled from i.
func originalTypes(i int) []proto.Message {
	var out []proto.Message
	msgs := testpb.File_Original_proto.Messages()
	for j := 0; j < msgs.Len(); j++ {
		if msgs.Get(j).Name() == "Msg02" { // the guide's, not the tests'
			continue
		}
		mt, err := protoregistry.GlobalTypes.FindMessageByName(msgs.Get(j).FullName())
		if err != nil {
			panic(err)
		}
		out = append(out, fill(mt.New().Interface(), i))
	}
	msg01 := &testpb.Msg01{Content: fmt.Sprintf("content %d", i)} // the original's Msg01 has content only
	return append(out, msg01)
}

// fill sets every field of m from i, nested messages' too.
func fill(m proto.Message, i int) proto.Message {
	fillReflect(m.ProtoReflect(), i)
	return m
}

func fillReflect(m protoreflect.Message, i int) {
	fields := m.Descriptor().Fields()
	for j := 0; j < fields.Len(); j++ {
		f := fields.Get(j)
		var v protoreflect.Value
		switch f.Kind() {
		case protoreflect.MessageKind:
			fillReflect(m.Mutable(f).Message(), i)
			continue
		case protoreflect.DoubleKind:
			v = protoreflect.ValueOfFloat64(float64(i) + 0.25)
		case protoreflect.FloatKind:
			v = protoreflect.ValueOfFloat32(float32(i) + 0.25)
		case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
			v = protoreflect.ValueOfInt32(int32(-(i + 1) * 104729))
		case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
			v = protoreflect.ValueOfInt64(-int64(i+1) << 40)
		case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
			v = protoreflect.ValueOfUint32(uint32(i+1) * 104729)
		case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
			v = protoreflect.ValueOfUint64(uint64(i+1) << 40)
		case protoreflect.BoolKind:
			v = protoreflect.ValueOfBool(i%2 == 1)
		case protoreflect.StringKind:
			v = protoreflect.ValueOfString(fmt.Sprintf("go %d ✓", i))
		case protoreflect.BytesKind:
			v = protoreflect.ValueOfBytes([]byte{byte(i), 0, 0xff, 0x80})
		default:
			continue
		}
		m.Set(f, v)
	}
}

// echoReactor serves eps with a Reactor that answers every request with
// itself, until the test ends, and then closes them.
func echoReactor(t *testing.T, eps ...messaging.Endpoint) {
	t.Helper()
	for _, ep := range eps {
		t.Cleanup(func() { ep.(io.Closer).Close() }) // after the Reactor's end (cleanups run last first)
	}
	r := messaging.NewReactor(eps, messaging.WithLogger(quiet))
	messaging.HandleNamed(r, "", func(_ context.Context, m proto.Message, _ messaging.Peer) (proto.Message, error) { return m, nil })
	testutil.Serve(t, r)
}

// handshake sends with send every 50 ms until something comes back on
// got: the relay's subscriber is connected to us, and ours to the relay's
// publisher, so that nothing sent after it is lost to a late joiner.
func handshake[T any](t *testing.T, ctx context.Context, send func() error, got <-chan T) {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := send(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-got:
			return
		case <-tick.C:
		case <-ctx.Done():
			t.Fatal("nothing came back through the original")
		}
	}
}

// expectAll waits for each of the lines, in order.
func (p *pyPeer) expectAll(t *testing.T, ctx context.Context, want ...string) {
	t.Helper()
	for _, w := range want {
		p.expect(t, ctx, w)
	}
}

// okLines is what the runner says when every TestMsg type came back.
func okLines() []string {
	var out []string
	for _, m := range originalTypes(0) {
		out = append(out, "OK "+string(m.ProtoReflect().Descriptor().Name()))
	}
	return append(out, "DONE")
}

// Request/Response over every TestMsg type (the original's messagingTests
// test02, test03), both ways.
func TestOriginalRequestResponseEveryType(t *testing.T) {
	t.Run("Go requests, the original answers", func(t *testing.T) {
		port := testutil.Port(t)
		rep := startOriginal(t, "rep", strconv.Itoa(port))
		defer rep.Stdin.Close()
		req, err := messaging.NewRequest("tcp://127.0.0.1:" + strconv.Itoa(port))
		if err != nil {
			t.Fatal(err)
		}
		defer req.Close()
		ctx := tctx(t, 60*time.Second)
		for i := range 5 {
			for _, m := range originalTypes(i) {
				got, err := messaging.Call[proto.Message](ctx, req, m)
				if err != nil {
					t.Fatalf("%T: %v", m, err)
				}
				if !proto.Equal(got, m) {
					t.Fatalf("the original's echo of %v: %v", m, got)
				}
			}
		}
	})
	t.Run("the original requests, Go answers", func(t *testing.T) {
		resp, err := messaging.NewResponse("tcp://127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		echoReactor(t, resp)
		req := startOriginal(t, "req-all", resp.Endpoint(), "5")
		defer req.Stdin.Close()
		req.expectAll(t, tctx(t, 60*time.Second), okLines()...)
	})
}

// Pub/sub over every TestMsg type (messagingTests test00, test01): a Go
// publisher to an original subscriber, whose original publisher sends it
// all on to a Go subscriber.
func TestOriginalPubSubEveryType(t *testing.T) {
	pub, err := messaging.NewPublisher("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	port := testutil.Port(t)
	relay := startOriginal(t, "sub-echo", pub.Endpoint(), strconv.Itoa(port))
	defer relay.Stdin.Close()
	sub, err := messaging.NewSubscriber("tcp://127.0.0.1:" + strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ctx := tctx(t, 60*time.Second)
	if err := pub.WaitSubscribers(ctx, &testpb.TestMsg01{}, 1); err != nil {
		t.Fatal(err)
	}
	// The relay's subscriber is there; whether ours has reached the
	// relay's publisher shows only when something comes through.
	sync := &testpb.TestMsg01{Field1: "sync"}
	got := make(chan proto.Message, 4096)
	go func() {
		for {
			m, err := sub.Recv(ctx)
			if err != nil {
				close(got)
				return
			}
			got <- m
		}
	}()
	handshake(t, ctx, func() error { return pub.Send(ctx, sync) }, got)
	var sent []proto.Message
	for i := range 3 {
		for _, m := range originalTypes(i) {
			if err := pub.Send(ctx, m); err != nil {
				t.Fatal(err)
			}
			sent = append(sent, m)
		}
	}
	for _, want := range sent {
		for {
			m, ok := <-got
			if !ok {
				t.Fatalf("subscriber ended waiting for %v", want)
			}
			if proto.Equal(m, sync) {
				continue // a late one of the handshake
			}
			if !proto.Equal(m, want) {
				t.Fatalf("through the original: %v, want %v", m, want)
			}
			break
		}
	}
}

// Type filters. The original's Subscriber filters right only on names of
// 8 characters (its topic hard-codes that length): Int32Msg and Int64Msg.
func TestOriginalTypeFilters(t *testing.T) {
	t.Run("the original filters what Go publishes", func(t *testing.T) {
		pub, err := messaging.NewPublisher("tcp://127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer pub.Close()
		sub := startOriginal(t, "sub-types", pub.Endpoint(), "3", "Int32Msg", "Int64Msg")
		defer sub.Stdin.Close()
		ctx := tctx(t, 30*time.Second)
		for _, m := range []proto.Message{&testpb.Int32Msg{}, &testpb.Int64Msg{}} {
			if err := pub.WaitSubscribers(ctx, m, 1); err != nil {
				t.Fatal(err)
			}
		}
		for _, m := range []proto.Message{
			&testpb.StringMsg{Value: "not this"}, &testpb.Int32Msg{Value: 1}, &testpb.StringMsg{Value: "nor this"},
			&testpb.Int64Msg{Value: 2}, &testpb.Int32Msg{Value: 3},
		} {
			if err := pub.Send(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
		sub.expectAll(t, ctx, "GOT Int32Msg value: 1", "GOT Int64Msg value: 2", "GOT Int32Msg value: 3")
	})
	t.Run("Go filters what the original publishes", func(t *testing.T) {
		port := testutil.Port(t)
		pub := startOriginal(t, "pub-tick", strconv.Itoa(port), "StringMsg", "Int32Msg", "testDtMsg03")
		defer pub.Stdin.Close()
		ep := "tcp://127.0.0.1:" + strconv.Itoa(port)
		filtered, err := messaging.NewSubscriber(ep, messaging.WithTypes(&testpb.Int32Msg{}, &testpb.TestDtMsg03{}))
		if err != nil {
			t.Fatal(err)
		}
		defer filtered.Close()
		all, err := messaging.NewSubscriber(ep)
		if err != nil {
			t.Fatal(err)
		}
		defer all.Close()
		ctx := tctx(t, 30*time.Second)
		seen := map[string]int{}
		for len(seen) < 3 {
			m, err := all.Recv(ctx)
			if err != nil {
				t.Fatal(err)
			}
			seen[string(m.ProtoReflect().Descriptor().Name())]++
		}
		for range 12 {
			m, err := filtered.Recv(ctx)
			if err != nil {
				t.Fatal(err)
			}
			switch m.(type) {
			case *testpb.Int32Msg, *testpb.TestDtMsg03:
			default:
				t.Fatalf("the filtered subscriber got %T", m)
			}
		}
	})
}

// Dealers (messagingTests test08, test11, test12): the original's Dealer
// against a Go Router, a Go Response (as a REQ would, with the empty
// frame) and a Go Dealer; and a Go Dealer against the original's.
func TestOriginalDealer(t *testing.T) {
	t.Run("the original's Dealer calls a Go Router", func(t *testing.T) {
		r, err := connection.NewRouter("tcp://127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ctx := tctx(t, 60*time.Second)
		go func() { // the original's test12: a raw router sending back what comes
			for {
				m, err := r.Recv(ctx)
				if err != nil {
					return
				}
				r.Send(ctx, m...)
			}
		}()
		defer r.Close()
		d := startOriginal(t, "dealer-call", r.Endpoint(), "21")
		defer d.Stdin.Close()
		d.expectAll(t, ctx, okLines()...)
	})
	t.Run("the original's Dealer calls a Go Response", func(t *testing.T) {
		resp, err := messaging.NewResponse("tcp://127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		echoReactor(t, resp)
		d := startOriginal(t, "dealer-call", resp.Endpoint(), "21", "empty")
		defer d.Stdin.Close()
		d.expectAll(t, tctx(t, 60*time.Second), okLines()...)
	})
	t.Run("the original's Dealer calls a Go Dealer", func(t *testing.T) {
		gd, err := messaging.NewDealer("@tcp://127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		echoReactor(t, gd)
		d := startOriginal(t, "dealer-call", gd.Endpoint(), "21")
		defer d.Stdin.Close()
		d.expectAll(t, tctx(t, 60*time.Second), okLines()...)
	})
	t.Run("a Go Dealer calls the original's", func(t *testing.T) {
		port := testutil.Port(t)
		od := startOriginal(t, "dealer-echo", "tcp://*:"+strconv.Itoa(port))
		defer od.Stdin.Close()
		d, err := messaging.NewDealer("tcp://127.0.0.1:" + strconv.Itoa(port))
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		ctx := tctx(t, 60*time.Second)
		for _, m := range originalTypes(7) {
			if err := d.Send(ctx, nil, m); err != nil {
				t.Fatal(err)
			}
			got, _, err := d.Recv(ctx)
			if err != nil || !proto.Equal(got, m) {
				t.Fatalf("the original Dealer's echo of %v: %v %v", m, got, err)
			}
			od.expect(t, ctx, "GOT "+string(m.ProtoReflect().Descriptor().Name()))
		}
	})
}

// Proxies (messagingTests test05, test07): Go clients and workers across
// the original's connection-level Proxy, and the original's across a Go
// Proxy.
func TestOriginalProxy(t *testing.T) {
	t.Run("Go across the original's Proxy", func(t *testing.T) {
		fe, be := testutil.Port(t), testutil.Port(t)
		p := startOriginal(t, "proxy", strconv.Itoa(fe), strconv.Itoa(be))
		defer p.Stdin.Close()
		ctx := tctx(t, 60*time.Second)
		resp, err := messaging.NewResponse(fmt.Sprintf(">tcp://127.0.0.1:%d", be))
		if err != nil {
			t.Fatal(err)
		}
		echoReactor(t, resp)
		req, err := messaging.NewRequest(fmt.Sprintf("tcp://127.0.0.1:%d", fe))
		if err != nil {
			t.Fatal(err)
		}
		defer req.Close()
		for i := range 9 {
			m := &testpb.TestDtMsg01{Field1: float64(i)}
			got, err := messaging.Call[proto.Message](ctx, req, m)
			if err != nil || !proto.Equal(got, m) {
				t.Fatalf("request %d across the original's proxy: %v %v", i, got, err)
			}
		}
	})
	t.Run("a Go Dealer to the original's across the original's Proxy", func(t *testing.T) {
		fe, be := testutil.Port(t), testutil.Port(t)
		p := startOriginal(t, "proxy", strconv.Itoa(fe), strconv.Itoa(be))
		defer p.Stdin.Close()
		ctx := tctx(t, 60*time.Second)
		od := startOriginal(t, "dealer-echo", fmt.Sprintf("tcp://localhost:%d", be))
		defer od.Stdin.Close()
		d, err := messaging.NewDealer(fmt.Sprintf("tcp://127.0.0.1:%d", fe))
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		for _, m := range originalTypes(3) {
			if err := d.Send(ctx, nil, m); err != nil {
				t.Fatal(err)
			}
			got, _, err := d.Recv(ctx)
			if err != nil || !proto.Equal(got, m) {
				t.Fatalf("a Go Dealer to the original's across its proxy: %v %v", got, err)
			}
			od.expect(t, ctx, "GOT "+string(m.ProtoReflect().Descriptor().Name()))
		}
	})
	t.Run("the original across a Go Proxy", func(t *testing.T) {
		p, err := connection.NewProxy("tcp://127.0.0.1:0", "tcp://127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		testutil.Serve(t, p)
		ctx := tctx(t, 60*time.Second)
		rep := startOriginal(t, "rep", p.Backend.Endpoint())
		defer rep.Stdin.Close()
		req := startOriginal(t, "req", p.Frontend.Endpoint(), "one", "two", "three")
		defer req.Stdin.Close()
		for _, n := range []string{"one", "two", "three"} {
			req.expect(t, ctx, fmt.Sprintf(`REPLY ServiceLookupReq serviceName: "%s"`, n))
		}
		d := startOriginal(t, "dealer-call", p.Frontend.Endpoint(), "21", "empty") // to the Response behind
		defer d.Stdin.Close()
		d.expectAll(t, ctx, okLines()...)
	})
}

// The guide's two examples (examples/simplePubSub.py, msgReactor.py), one
// side each the original as the example has it, the other Go.
func TestOriginalGuideExamples(t *testing.T) {
	t.Run("simplePubSub: Go publishes", func(t *testing.T) {
		pub, err := messaging.NewPublisher("tcp://127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer pub.Close()
		sub := startOriginal(t, "guide-sub", pub.Endpoint())
		defer sub.Stdin.Close()
		ctx := tctx(t, 30*time.Second)
		if err := pub.WaitSubscribers(ctx, &testpb.Msg01{}, 1); err != nil {
			t.Fatal(err)
		}
		if err := pub.Send(ctx, &testpb.Msg01{Content: "abcd"}); err != nil {
			t.Fatal(err)
		}
		sub.expect(t, ctx, `GOT Msg01 field1: "abcd"`)
	})
	t.Run("simplePubSub: Go subscribes", func(t *testing.T) {
		port := testutil.Port(t)
		pub := startOriginal(t, "guide-pub", strconv.Itoa(port))
		defer pub.Stdin.Close()
		sub, err := messaging.NewSubscriber("tcp://127.0.0.1:" + strconv.Itoa(port))
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		m, err := sub.Recv(tctx(t, 30*time.Second))
		if err != nil || !proto.Equal(m, &testpb.Msg01{Content: "abcd"}) {
			t.Fatalf("the example's message: %v %v", m, err)
		}
	})
	for _, kind := range []string{"mt", "mp"} {
		name := map[string]string{"mt": "MtMsgReactor", "mp": "MpMsgReactor"}[kind]
		t.Run("msgReactor: "+name+", Go client and publisher", func(t *testing.T) {
			pub, err := messaging.NewPublisher("tcp://127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer pub.Close()
			port := testutil.Port(t)
			r := startOriginal(t, "guide-reactor", kind, strconv.Itoa(port), pub.Endpoint())
			defer r.Stdin.Close()
			ctx := tctx(t, 60*time.Second)
			req, err := messaging.NewRequest("tcp://127.0.0.1:" + strconv.Itoa(port))
			if err != nil {
				t.Fatal(err)
			}
			defer req.Close()
			got, err := messaging.Call[*testpb.Msg01](ctx, req, &testpb.Msg01{Content: "hello"})
			if err != nil || got.Content != "olleh" {
				t.Fatalf("the reactor's answer: %v %v", got, err)
			}
			if err := pub.WaitSubscribers(ctx, &testpb.Msg02{}, 1); err != nil {
				t.Fatal(err)
			}
			if err := pub.Send(ctx, &testpb.Msg02{Field1: "some published event"}); err != nil {
				t.Fatal(err)
			}
			r.expect(t, ctx, "GOT Msg02 some published event")
		})
	}
}
