package zmtp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newSock(t *testing.T, typ Type, opt Options) *Socket {
	t.Helper()
	s, err := New(typ, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		select {
		case <-s.Done():
		case <-time.After(5 * time.Second):
			t.Errorf("%s: goroutines still running 5 s after Close", typ)
		}
	})
	return s
}

// endpoints gives one bindable endpoint per transport.
func endpoints(t *testing.T) map[string]string {
	return map[string]string{
		"tcp":    "tcp://127.0.0.1:0",
		"ipc":    "ipc://" + filepath.Join(t.TempDir(), "s"),
		"inproc": fmt.Sprintf("inproc://%s-%d", t.Name(), time.Now().UnixNano()),
	}
}

func pair(t *testing.T, bindT, connT Type, bind string, bo, co Options) (*Socket, *Socket) {
	t.Helper()
	b := newSock(t, bindT, bo)
	ep, err := b.Bind(bind)
	if err != nil {
		t.Fatal(err)
	}
	c := newSock(t, connT, co)
	if err := c.Connect(ep); err != nil {
		t.Fatal(err)
	}
	return b, c
}

func mustRecv(t *testing.T, ctx context.Context, s *Socket) [][]byte {
	t.Helper()
	m, err := s.Recv(ctx)
	if err != nil {
		t.Fatalf("%s recv: %v", s.typ, err)
	}
	return m
}

func eq(a [][]byte, b ...string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if string(a[i]) != b[i] {
			return false
		}
	}
	return true
}

func frames(s ...string) [][]byte {
	out := make([][]byte, len(s))
	for i, f := range s {
		out[i] = []byte(f)
	}
	return out
}

func TestReqRep(t *testing.T) {
	for tr, ep := range endpoints(t) {
		t.Run(tr, func(t *testing.T) {
			ctx := ctxT(t)
			rep, req := pair(t, REP, REQ, ep, Options{}, Options{})
			for i := 0; i < 3; i++ {
				if err := req.Send(ctx, frames("hello", fmt.Sprint(i))); err != nil {
					t.Fatal(err)
				}
				if err := req.Send(ctx, frames("again")); !errors.Is(err, ErrState) {
					t.Fatalf("second send before the reply: %v, want ErrState", err)
				}
				if m := mustRecv(t, ctx, rep); !eq(m, "hello", fmt.Sprint(i)) {
					t.Fatalf("rep got %q", m)
				}
				if err := rep.Send(ctx, frames("world")); err != nil {
					t.Fatal(err)
				}
				if m := mustRecv(t, ctx, req); !eq(m, "world") {
					t.Fatalf("req got %q", m)
				}
			}
		})
	}
}

func TestPubSubPrefix(t *testing.T) {
	for tr, ep := range endpoints(t) {
		t.Run(tr, func(t *testing.T) {
			ctx := ctxT(t)
			pub, sub := pair(t, PUB, SUB, ep, Options{}, Options{})
			sub.Subscribe([]byte("a."))
			waitSubscribers(t, pub, "a.x", 1)
			for _, topic := range []string{"b.1", "a.1", "a", "a.2"} {
				pub.Send(ctx, frames(topic, "payload"))
			}
			if m := mustRecv(t, ctx, sub); !eq(m, "a.1", "payload") {
				t.Fatalf("got %q", m)
			}
			if m := mustRecv(t, ctx, sub); !eq(m, "a.2", "payload") {
				t.Fatalf("got %q", m)
			}
			sub.Unsubscribe([]byte("a."))
			waitSubscribers(t, pub, "a.x", 0)
		})
	}
}

func waitSubscribers(t *testing.T, pub *Socket, topic string, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for pub.Subscribers([]byte(topic)) != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d subscribers to %q, want %d", pub.Subscribers([]byte(topic)), topic, n)
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond) // polling a condition, bounded above
	}
}

func TestDealerRouter(t *testing.T) {
	for tr, ep := range endpoints(t) {
		t.Run(tr, func(t *testing.T) {
			ctx := ctxT(t)
			router, dealer := pair(t, ROUTER, DEALER, ep, Options{}, Options{Identity: []byte("d1")})
			big := bytes.Repeat([]byte("x"), 10<<20)
			for _, m := range [][][]byte{frames(""), frames("a", "", "b"), {make([]byte, 255)}, {make([]byte, 256)}, {big}} {
				if err := dealer.Send(ctx, m); err != nil {
					t.Fatal(err)
				}
				got := mustRecv(t, ctx, router)
				if string(got[0]) != "d1" || len(got) != len(m)+1 {
					t.Fatalf("router got %d frames, identity %q", len(got), got[0])
				}
				for i := range m {
					if !bytes.Equal(got[i+1], m[i]) {
						t.Fatalf("frame %d differs", i)
					}
				}
				if err := router.Send(ctx, got); err != nil {
					t.Fatal(err)
				}
				back := mustRecv(t, ctx, dealer)
				if len(back) != len(m) {
					t.Fatalf("dealer got %d frames back", len(back))
				}
			}
			// Unknown identity: counted as dropped, or an error when mandatory.
			router.Send(ctx, frames("nobody", "x"))
			if st := router.Stats(); st.DroppedNoPeer != 1 {
				t.Fatalf("DroppedNoPeer %d", st.DroppedNoPeer)
			}
		})
	}
}

func TestRouterMandatory(t *testing.T) {
	r := newSock(t, ROUTER, Options{RouterMandatory: true})
	if err := r.TrySend(frames("nobody", "x")); !errors.Is(err, ErrHostUnreachable) {
		t.Fatalf("%v", err)
	}
}

func TestPushPullRoundRobinAndFairQueue(t *testing.T) {
	ctx := ctxT(t)
	pull := newSock(t, PULL, Options{})
	ep, _ := pull.Bind("tcp://127.0.0.1:0")
	var pushes []*Socket
	for i := 0; i < 3; i++ {
		p := newSock(t, PUSH, Options{})
		p.Connect(ep)
		pushes = append(pushes, p)
	}
	for i, p := range pushes {
		for j := 0; j < 10; j++ {
			p.Send(ctx, frames(fmt.Sprint(i)))
		}
	}
	count := map[string]int{}
	for i := 0; i < 30; i++ {
		count[string(mustRecv(t, ctx, pull)[0])]++
	}
	if count["0"] != 10 || count["1"] != 10 || count["2"] != 10 {
		t.Fatalf("%v", count)
	}
	// One PUSH to two PULLs: round robin.
	push := newSock(t, PUSH, Options{})
	var pulls []*Socket
	for i := 0; i < 2; i++ {
		p := newSock(t, PULL, Options{})
		e, _ := p.Bind("tcp://127.0.0.1:0")
		push.Connect(e)
		pulls = append(pulls, p)
	}
	for i := 0; i < 10; i++ {
		push.Send(ctx, frames("m"))
	}
	for _, p := range pulls {
		for i := 0; i < 5; i++ {
			mustRecv(t, ctx, p)
		}
	}
}

func TestIncompatibleRefused(t *testing.T) {
	ctx := ctxT(t)
	var events = make(chan Event, 100)
	req := newSock(t, REQ, Options{Events: func(e Event) {
		select {
		case events <- e:
		default:
		}
	}})
	pub := newSock(t, PUB, Options{})
	ep, _ := pub.Bind("tcp://127.0.0.1:0")
	req.Connect(ep)
	for {
		select {
		case e := <-events:
			if e.Kind == EventHandshakeProtocol {
				if !errors.Is(e.Err, ErrIncompatible) {
					t.Fatalf("handshake failed with %v", e.Err)
				}
				return
			}
			if e.Kind == EventHandshakeSucceeded {
				t.Fatal("a REQ completed a handshake with a PUB")
			}
		case <-ctx.Done():
			t.Fatal("no handshake failure event")
		}
	}
}

func TestXPubSeesSubscriptions(t *testing.T) {
	ctx := ctxT(t)
	xpub, sub := pair(t, XPUB, SUB, "tcp://127.0.0.1:0", Options{}, Options{})
	sub.Subscribe([]byte("t"))
	if m := mustRecv(t, ctx, xpub); !bytes.Equal(m[0], []byte("\x01t")) {
		t.Fatalf("%q", m)
	}
	sub.Unsubscribe([]byte("t"))
	if m := mustRecv(t, ctx, xpub); !bytes.Equal(m[0], []byte("\x00t")) {
		t.Fatalf("%q", m)
	}
}

func TestReconnectKeepsQueue(t *testing.T) {
	ctx := ctxT(t)
	ep := "ipc://" + filepath.Join(t.TempDir(), "r")
	dealer := newSock(t, DEALER, Options{ReconnectInterval: 10 * time.Millisecond})
	if err := dealer.Connect(ep); err != nil {
		t.Fatal(err)
	}
	// Sent before anyone listens: waits in the pipe.
	dealer.Send(ctx, frames("early"))
	r1 := newSock(t, ROUTER, Options{})
	if _, err := r1.Bind(ep); err != nil {
		t.Fatal(err)
	}
	if m := mustRecv(t, ctx, r1); string(m[1]) != "early" {
		t.Fatalf("%q", m)
	}
	r1.Close()
	<-r1.Done()
	// A message sent before the dealer has seen the connection end may go
	// out on the dead connection and be lost (and counted), as in libzmq.
	waitFor(t, func() bool { return dealer.Stats().Peers == 0 })
	r2 := newSock(t, ROUTER, Options{})
	if _, err := r2.Bind(ep); err != nil {
		t.Fatal(err)
	}
	dealer.Send(ctx, frames("after"))
	if m := mustRecv(t, ctx, r2); string(m[1]) != "after" {
		t.Fatalf("%q", m)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5 s")
		}
		time.Sleep(time.Millisecond) // polling a condition, bounded above
	}
}

func TestCloseWakesWaiters(t *testing.T) {
	s := newSock(t, PULL, Options{})
	errc := make(chan error)
	go func() {
		_, err := s.Recv(context.Background())
		errc <- err
	}()
	s.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrClosed) {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Recv still blocked after Close")
	}
}
