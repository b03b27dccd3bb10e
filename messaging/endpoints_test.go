package messaging_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/internal/testpb"
	"github.com/dividere-go/dividere/internal/testutil"
	"github.com/dividere-go/dividere/messaging"
	"github.com/dividere-go/dividere/msglib"
)

func TestPubSubEachType(t *testing.T) {
	pub := ok(messaging.NewPublisher("tcp://*:0"))(t)
	sub := ok(messaging.NewSubscriber(pub.Endpoint()))(t)
	closeAll(t, pub, sub)
	ctx := tctx(t, 10*time.Second)
	if err := pub.WaitSubscribers(ctx, &testpb.Int32Msg{}, 1); err != nil {
		t.Fatal(err)
	}
	samples := scalarSamples()
	for _, m := range samples {
		if err := pub.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range samples {
		got, err := sub.Recv(ctx)
		if err != nil || !proto.Equal(got, want) {
			t.Fatalf("got %v %v, want %v", got, err, want)
		}
	}
}

// echoResponse answers every request with the request itself.
func echoResponse(t *testing.T, rep *messaging.Response) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			m, err := rep.Recv(ctx)
			if err != nil {
				if ctx.Err() != nil || errors.Is(err, connection.ErrClosed) {
					return
				}
				continue // bad input was answered by Recv itself
			}
			if rep.Send(ctx, m) != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
}

func TestReqRepEachType50Rounds(t *testing.T) {
	rep := ok(messaging.NewResponse("tcp://*:0"))(t)
	closeAll(t, rep)
	echoResponse(t, rep)
	req := ok(messaging.NewRequest(rep.Endpoint()))(t)
	closeAll(t, req)
	ctx := tctx(t, 30*time.Second)
	for _, m := range scalarSamples() {
		for range 50 {
			got, err := messaging.Call[proto.Message](ctx, req, m)
			if err != nil || !proto.Equal(got, m) {
				t.Fatalf("got %v %v, want %v", got, err, m)
			}
		}
	}
}

func TestTypedHelpers(t *testing.T) {
	rep := ok(messaging.NewResponse("inproc://typed"))(t)
	closeAll(t, rep)
	echoResponse(t, rep)
	req := ok(messaging.NewRequest("inproc://typed"))(t)
	closeAll(t, req)
	ctx := tctx(t, 5*time.Second)
	s, err := messaging.Call[*testpb.StringMsg](ctx, req, &testpb.StringMsg{Value: "typed"})
	if err != nil || s.Value != "typed" {
		t.Fatalf("Call: %v %v", s, err)
	}
	_, err = messaging.Call[*testpb.Int32Msg](ctx, req, &testpb.StringMsg{Value: "typed"})
	if !errors.Is(err, messaging.ErrWrongType) || !strings.Contains(err.Error(), "got StringMsg, want Int32Msg") {
		t.Fatalf("wrong type: %v", err)
	}
}

func TestPerTypeSubscription(t *testing.T) {
	pub := ok(messaging.NewPublisher("tcp://*:0"))(t)
	closeAll(t, pub)
	long := &testpb.AMessageNameLongerThanOneHundredTwentySevenCharactersSoThatItsLengthTakesTwoBytesOfVarintInTheEnvelopePrefixXXXXXXXXXXXXXXXXXXXXXXX{N: 4}
	all := []proto.Message{&testpb.A{N: 1}, &testpb.Msg01{N: 2}, &testpb.Msg012{N: 3}, &testpb.Msg0123456{N: 5}, long}
	for i, m := range all {
		// Each subscriber takes exactly one type.
		sub := ok(messaging.NewSubscriber(pub.Endpoint(), messaging.WithTypes(m)))(t)
		closeAll(t, sub)
		ctx := tctx(t, 10*time.Second)
		if err := pub.WaitSubscribers(ctx, m, 1); err != nil {
			t.Fatal(err)
		}
		for _, other := range all {
			pub.Send(ctx, other)
		}
		got, err := sub.Recv(ctx)
		if err != nil || !proto.Equal(got, m) {
			t.Fatalf("subscriber %d: got %v %v, want %v", i, got, err, m)
		}
		wctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
		_, err = connection.WaitAny(wctx, sub)
		cancel()
		if err == nil {
			extra, _ := sub.Recv(ctx)
			t.Fatalf("subscriber to %T also got %T", m, extra)
		}
		sub.Close()
	}
	// Subscribing later adds types.
	sub := ok(messaging.NewSubscriber(pub.Endpoint(), messaging.WithTypes(&testpb.A{})))(t)
	closeAll(t, sub)
	ctx := tctx(t, 10*time.Second)
	if err := sub.Subscribe(&testpb.Msg012{}); err != nil {
		t.Fatal(err)
	}
	if err := pub.WaitSubscribers(ctx, &testpb.Msg012{}, 1); err != nil {
		t.Fatal(err)
	}
	if err := pub.WaitSubscribers(ctx, &testpb.A{}, 1); err != nil {
		t.Fatal(err)
	}
	for _, m := range all {
		pub.Send(ctx, m)
	}
	for _, want := range []proto.Message{&testpb.A{N: 1}, &testpb.Msg012{N: 3}} {
		got, err := sub.Recv(ctx)
		if err != nil || !proto.Equal(got, want) {
			t.Fatalf("got %v %v, want %v", got, err, want)
		}
	}
}

// Bad input on a subscriber: each bad frame is an error for that frame;
// the good ones around it arrive.
func TestSubscriberBadInput(t *testing.T) {
	raw := ok(connection.NewPublisher("tcp://*:0"))(t)
	sub := ok(messaging.NewSubscriber(raw.Endpoint()))(t)
	closeAll(t, raw, sub)
	ctx := tctx(t, 5*time.Second)
	if err := raw.WaitSubscribers(ctx, "", 1); err != nil {
		t.Fatal(err)
	}
	good, _ := messaging.Encode(&testpb.StringMsg{Value: "good"}, nil)
	unknown := append([]byte{0x0a, 0x04}, "Nope"...) // a type nobody here knows
	unknown = append(unknown, 0x12, 0x13, 0x0a, 0x11)
	unknown = append(unknown, "type.example/Nope"...)
	raw.Send(ctx, []byte("garbage"))
	raw.Send(ctx, []byte{})
	raw.Send(ctx, unknown)
	raw.Send(ctx, good)
	for _, want := range []error{messaging.ErrUndecodable, messaging.ErrUndecodable, messaging.ErrUndecodable} {
		if _, err := sub.Recv(ctx); !errors.Is(err, want) {
			t.Fatalf("got %v, want %v", err, want)
		}
	}
	if m, err := sub.Recv(ctx); err != nil || m.(*testpb.StringMsg).Value != "good" {
		t.Fatalf("after bad input: %v %v", m, err)
	}
	if st := sub.MessageStats(); st.DecodeErrors != 3 || st.NotEnvelope != 2 || st.UnknownType != 1 || st.Received != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// A garbage request to a Response is answered with ack{ok: false}, and
// the Response goes on serving.
func TestResponseBadInput(t *testing.T) {
	rep := ok(messaging.NewResponse("tcp://*:0"))(t)
	closeAll(t, rep)
	echoResponse(t, rep)
	raw := ok(connection.NewRequest(rep.Endpoint()))(t)
	closeAll(t, raw)
	ctx := tctx(t, 5*time.Second)
	reply, err := raw.Call(ctx, []byte("not an envelope"))
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := messaging.Decode(reply.Payload(), nil)
	if ack, _ := m.(*msglib.Ack); err != nil || ack == nil || ack.Ok || messaging.Code(ack.Code) != messaging.InvalidArgument ||
		!strings.Contains(ack.Message, "not a message envelope") {
		t.Fatalf("reply to garbage: %v %v, want INVALID_ARGUMENT", m, err)
	}
	good, _ := messaging.Encode(&testpb.Int64Msg{Value: 7}, nil)
	reply, err = raw.Call(ctx, good)
	if err != nil {
		t.Fatal(err)
	}
	if m, _, _ := messaging.Decode(reply.Payload(), nil); !proto.Equal(m, &testpb.Int64Msg{Value: 7}) {
		t.Fatalf("after garbage: %v", m)
	}
}

func TestRoundRobinAndProxy(t *testing.T) {
	ctx := tctx(t, 30*time.Second)
	t.Run("1:N", func(t *testing.T) {
		var eps []string
		for range 3 {
			rep := ok(messaging.NewResponse("tcp://*:0"))(t)
			closeAll(t, rep)
			echoResponse(t, rep)
			eps = append(eps, rep.Endpoint())
		}
		req := ok(messaging.NewRequest(strings.Join(eps, ",")))(t)
		closeAll(t, req)
		if err := req.WaitPeers(ctx, 3); err != nil {
			t.Fatal(err)
		}
		for i := range 30 {
			if _, err := messaging.Call[proto.Message](ctx, req, &testpb.Int32Msg{Value: int32(i)}); err != nil {
				t.Fatal(err)
			}
		}
	})
	for _, shape := range [][2]int{{40, 60}, {60, 40}} {
		t.Run(fmt.Sprintf("%dx%d via proxy", shape[0], shape[1]), func(t *testing.T) {
			clients, workers := shape[0], shape[1]
			proxy := ok(connection.NewProxy("tcp://*:0", "tcp://*:0"))(t)
			testutil.Serve(t, proxy)
			closeAll(t, proxy)
			for w := range workers {
				rep := ok(messaging.NewResponse(">" + proxy.Backend.Endpoint()))(t)
				closeAll(t, rep)
				go func() {
					for {
						m, err := rep.Recv(ctx)
						if err != nil {
							return
						}
						in := m.(*testpb.Work)
						rep.Send(ctx, &testpb.WorkDone{Seq: in.Seq, Digest: uint64(in.Rounds)*1000 + uint64(w)})
					}
				}()
			}
			var wg sync.WaitGroup
			errc := make(chan error, clients)
			for c := range clients {
				req := ok(messaging.NewRequest(proxy.Frontend.Endpoint()))(t)
				closeAll(t, req)
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range 20 {
						seq := int64(c*1000 + i)
						rep, err := messaging.Call[*testpb.WorkDone](ctx, req, &testpb.Work{Seq: seq, Rounds: int32(i)})
						if err != nil {
							errc <- err
							return
						}
						if rep.Seq != seq || rep.Digest/1000 != uint64(i) {
							errc <- fmt.Errorf("client %d: reply %v to request %d", c, rep, seq)
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errc)
			for err := range errc {
				t.Fatal(err)
			}
		})
	}
}

func TestDealerPairs(t *testing.T) {
	ctx := tctx(t, 10*time.Second)
	t.Run("dealer-proxy-dealer", func(t *testing.T) {
		proxy := ok(connection.NewProxy("tcp://*:0", "tcp://*:0"))(t)
		testutil.Serve(t, proxy)
		closeAll(t, proxy)
		worker := ok(messaging.NewDealer(proxy.Backend.Endpoint()))(t)
		client := ok(messaging.NewDealer(proxy.Frontend.Endpoint()))(t)
		closeAll(t, worker, client)
		go func() {
			for {
				m, route, err := worker.Recv(ctx)
				if err != nil {
					return
				}
				worker.Send(ctx, route, &testpb.StringMsg{Value: "re:" + m.(*testpb.StringMsg).Value})
			}
		}()
		for i := range 10 {
			client.Send(ctx, nil, &testpb.StringMsg{Value: fmt.Sprint(i)})
		}
		for i := range 10 {
			m, route, err := client.Recv(ctx)
			if err != nil || route != nil || m.(*testpb.StringMsg).Value != fmt.Sprintf("re:%d", i) {
				t.Fatalf("got %v %q %v", m, route, err)
			}
		}
	})
	t.Run("dealer-rep", func(t *testing.T) {
		rep := ok(messaging.NewResponse("tcp://*:0"))(t)
		closeAll(t, rep)
		echoResponse(t, rep)
		d := ok(messaging.NewDealer(rep.Endpoint()))(t)
		closeAll(t, d)
		d.Send(ctx, [][]byte{{}}, &testpb.BoolMsg{Value: true})
		m, route, err := d.Recv(ctx)
		if err != nil || !proto.Equal(m, &testpb.BoolMsg{Value: true}) || len(route) != 1 || len(route[0]) != 0 {
			t.Fatalf("got %v %q %v", m, route, err)
		}
	})
	t.Run("dealer-dealer", func(t *testing.T) {
		a := ok(messaging.NewDealer("@tcp://127.0.0.1:0"))(t)
		b := ok(messaging.NewDealer(a.Endpoint()))(t)
		closeAll(t, a, b)
		b.Send(ctx, nil, nested())
		if m, _, err := a.Recv(ctx); err != nil || !proto.Equal(m, nested()) {
			t.Fatalf("got %v %v", m, err)
		}
	})
}

// Each received message keeps what it was sent with, however many arrive
// after it in the same receive batch and whatever the caller does to
// another one (a guard for any receive path that would share a frame's
// memory with the message decoded from it).
func TestReceivedBytesFieldsAreTheirOwn(t *testing.T) {
	pub := ok(messaging.NewPublisher("tcp://*:0"))(t)
	sub := ok(messaging.NewSubscriber(pub.Endpoint()))(t)
	closeAll(t, pub, sub)
	ctx := tctx(t, 20*time.Second)
	if err := pub.WaitSubscribers(ctx, &testpb.BytesMsg{}, 1); err != nil {
		t.Fatal(err)
	}
	const n = 2000
	want := func(i int) []byte { return []byte(fmt.Sprintf("payload %06d %s", i, strings.Repeat("x", i%300))) }
	for i := range n {
		if err := pub.Send(ctx, &testpb.BytesMsg{Value: want(i)}); err != nil {
			t.Fatal(err)
		}
	}
	var got []*testpb.BytesMsg
	for range n {
		r, err := sub.Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		m := r.(*testpb.BytesMsg)
		got = append(got, m)
		if i := len(got) - 1; i > 0 { // the caller scribbling over the one before
			prev := got[i-1].Value
			saved := append([]byte(nil), prev...)
			for j := range prev {
				prev[j] = '!'
			}
			if string(m.Value) != string(want(i)) {
				t.Fatalf("message %d changed with message %d: %.30q", i, i-1, m.Value)
			}
			copy(prev, saved)
		}
	}
	for i, m := range got {
		if string(m.Value) != string(want(i)) {
			t.Fatalf("message %d holds %.30q, want %.30q", i, m.Value, want(i))
		}
	}
}

// Decode, given a buffer the caller keeps, copies out of it.
func TestDecodeDoesNotKeepTheBuffer(t *testing.T) {
	b, err := messaging.Encode(&testpb.BytesMsg{Value: []byte("kept")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := messaging.Decode(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 0
	}
	if v := m.(*testpb.BytesMsg).Value; string(v) != "kept" {
		t.Fatalf("the decoded message changed with the buffer: %q", v)
	}
}
