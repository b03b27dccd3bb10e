package zmtp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dividere-go/dividere/internal/zmtptest"
)

// TestXPubNoDropInproc fills one subscriber's inproc pipe (capacity: the
// publisher's send mark plus the subscriber's receive mark) and checks
// that a further message goes to nobody, is not counted as a drop, and
// goes to everyone once the full subscriber has room.
func TestXPubNoDropInproc(t *testing.T) {
	for _, typ := range []Type{PUB, XPUB} {
		t.Run(typ.String(), func(t *testing.T) {
			ctx := ctxT(t)
			ep := fmt.Sprintf("inproc://nodrop-%s-%d", typ, time.Now().UnixNano())
			pub := newSock(t, typ, Options{SendHWM: 1, XPubNoDrop: true})
			if _, err := pub.Bind(ep); err != nil {
				t.Fatal(err)
			}
			full := newSock(t, SUB, Options{RecvHWM: 1})
			roomy := newSock(t, SUB, Options{})
			other := newSock(t, SUB, Options{RecvHWM: 1})
			for _, s := range []*Socket{full, roomy, other} {
				if err := s.Connect(ep); err != nil {
					t.Fatal(err)
				}
			}
			full.Subscribe([]byte("t"))
			roomy.Subscribe([]byte("t"))
			other.Subscribe([]byte("o"))
			for i := 0; i < 2; i++ {
				if err := pub.TrySend(frames("t", fmt.Sprint(i))); err != nil {
					t.Fatalf("send %d: %v", i, err)
				}
			}
			if err := pub.TrySend(frames("t", "2")); !errors.Is(err, ErrAgain) {
				t.Fatalf("TrySend to a full subscriber: %v, want ErrAgain", err)
			}
			short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
			err := pub.Send(short, frames("t", "2"))
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Send to a full subscriber: %v, want the context's end", err)
			}
			// A subscriber the message does not match is no reason to wait.
			for i := 0; i < 5; i++ {
				if err := pub.TrySend(frames("o", fmt.Sprint(i))); err != nil && i < 2 {
					t.Fatalf("send to the other subscriber: %v", err)
				}
			}
			if st := pub.Stats(); st.DroppedHWM != 0 {
				t.Fatalf("DroppedHWM %d with XPubNoDrop", st.DroppedHWM)
			}
			for i := 0; i < 2; i++ {
				if m := mustRecv(t, ctx, roomy); !eq(m, "t", fmt.Sprint(i)) {
					t.Fatalf("roomy got %q", m)
				}
			}
			if m, err := roomy.TryRecv(); !errors.Is(err, ErrAgain) {
				t.Fatalf("roomy got %q (%v) of a message that was not sent", m, err)
			}
			sent := make(chan error, 1)
			go func() { sent <- pub.Send(ctx, frames("t", "2")) }()
			if m := mustRecv(t, ctx, full); !eq(m, "t", "0") {
				t.Fatalf("full got %q", m)
			}
			if err := <-sent; err != nil {
				t.Fatalf("Send once there is room: %v", err)
			}
			for _, s := range []*Socket{full, roomy} {
				var got []string
				for len(got) == 0 || got[len(got)-1] != "2" {
					got = append(got, string(mustRecv(t, ctx, s)[1]))
				}
			}
		})
	}
}

// TestXPubDropsByDefault: without XPubNoDrop a full subscriber misses
// the message, and the miss is counted.
func TestXPubDropsByDefault(t *testing.T) {
	ep := fmt.Sprintf("inproc://drop-%d", time.Now().UnixNano())
	pub := newSock(t, PUB, Options{SendHWM: 1})
	if _, err := pub.Bind(ep); err != nil {
		t.Fatal(err)
	}
	sub := newSock(t, SUB, Options{RecvHWM: 1})
	if err := sub.Connect(ep); err != nil {
		t.Fatal(err)
	}
	sub.Subscribe(nil)
	for i := 0; i < 5; i++ {
		if err := pub.TrySend(frames("m")); err != nil {
			t.Fatal(err)
		}
	}
	if st := pub.Stats(); st.DroppedHWM != 3 || st.Sent != 5 {
		t.Fatalf("sent %d, dropped %d; want 5 and 3", st.Sent, st.DroppedHWM)
	}
}

// TestXPubNoDropTCP fills a tcp subscriber that does not read, and checks
// that the publisher then waits instead of dropping, and delivers every
// message once the subscriber reads.
func TestXPubNoDropTCP(t *testing.T) {
	ctx := ctxT(t)
	pub := newSock(t, PUB, Options{SendHWM: 2, XPubNoDrop: true})
	ep, err := pub.Bind("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	z, err := zmtptest.Dial(ep, "SUB")
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	z.Send([]byte("\x01"))
	waitSubscribers(t, pub, "x", 1)
	body := bytes.Repeat([]byte("b"), 1<<20)
	sent := 0
	for ; sent < 200; sent++ { // the socket buffers fill long before
		if err := pub.TrySend([][]byte{[]byte(fmt.Sprint(sent)), body}); err != nil {
			if !errors.Is(err, ErrAgain) {
				t.Fatal(err)
			}
			break
		}
	}
	if sent == 200 {
		t.Fatal("200 MiB queued to a subscriber that does not read")
	}
	if st := pub.Stats(); st.DroppedHWM != 0 {
		t.Fatalf("DroppedHWM %d with XPubNoDrop", st.DroppedHWM)
	}
	done := make(chan error, 1)
	go func() { done <- pub.Send(ctx, [][]byte{[]byte(fmt.Sprint(sent)), body}) }()
	for i := 0; i <= sent; i++ {
		m, err := z.Recv(5 * time.Second)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if string(m[0]) != fmt.Sprint(i) || len(m[1]) != len(body) {
			t.Fatalf("message %d: got %q and %d bytes", i, m[0], len(m[1]))
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestXPubNoDropPeerGone: a publisher waiting for a full subscriber
// goes on when that subscriber goes away.
func TestXPubNoDropPeerGone(t *testing.T) {
	ctx := ctxT(t)
	pub := newSock(t, PUB, Options{SendHWM: 1, XPubNoDrop: true})
	ep, err := pub.Bind("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	z, err := zmtptest.Dial(ep, "SUB")
	if err != nil {
		t.Fatal(err)
	}
	z.Send([]byte("\x01"))
	waitSubscribers(t, pub, "x", 1)
	body := bytes.Repeat([]byte("b"), 1<<20)
	for i := 0; i < 200; i++ {
		if err := pub.TrySend([][]byte{body}); errors.Is(err, ErrAgain) {
			break
		}
	}
	done := make(chan error, 1)
	go func() { done <- pub.Send(ctx, [][]byte{body}) }()
	z.Close()
	if err := <-done; err != nil {
		t.Fatalf("Send after the full subscriber left: %v", err)
	}
}

func recvWithin(t *testing.T, s *Socket, d time.Duration) ([][]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return s.Recv(ctx)
}

// TestRouterHandover: with RouterHandover a second peer with an identity
// in use takes it, and the first peer's connection is closed.
func TestRouterHandover(t *testing.T) {
	for tr, ep := range endpoints(t) {
		t.Run(tr, func(t *testing.T) {
			ctx := ctxT(t)
			router := newSock(t, ROUTER, Options{RouterHandover: true})
			ep, err := router.Bind(ep)
			if err != nil {
				t.Fatal(err)
			}
			once := Options{Identity: []byte("x"), ReconnectInterval: -1}
			first := newSock(t, DEALER, once)
			first.Connect(ep)
			first.Send(ctx, frames("hello"))
			if m := mustRecv(t, ctx, router); !eq(m, "x", "hello") {
				t.Fatalf("router got %q", m)
			}
			second := newSock(t, DEALER, once)
			second.Connect(ep)
			// Until the second is up, "x" is still the first.
			for i := 0; ; i++ {
				if err := router.Send(ctx, frames("x", fmt.Sprint(i))); err != nil {
					t.Fatal(err)
				}
				if m, err := recvWithin(t, second, 20*time.Millisecond); err == nil {
					if string(m[0]) != fmt.Sprint(i) {
						t.Fatalf("second got %q", m)
					}
					break
				}
				if ctx.Err() != nil {
					t.Fatal("the second peer never took the identity over")
				}
			}
			if tr != "inproc" {
				waitFor(t, func() bool { return first.Stats().Peers == 0 })
			}
			second.Send(ctx, frames("from second"))
			for {
				m := mustRecv(t, ctx, router)
				if eq(m, "x", "from second") {
					break
				}
			}
		})
	}
}

// TestRouterNoHandover: without RouterHandover the first peer keeps its
// identity and the newcomer's connection is refused.
func TestRouterNoHandover(t *testing.T) {
	ctx := ctxT(t)
	refused := make(chan error, 10)
	router := newSock(t, ROUTER, Options{Events: func(e Event) {
		if e.Kind == EventDisconnected && e.Err != nil && strings.Contains(e.Err.Error(), "taken") {
			refused <- e.Err
		}
	}})
	ep, err := router.Bind("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	once := Options{Identity: []byte("x"), ReconnectInterval: -1}
	first := newSock(t, DEALER, once)
	first.Connect(ep)
	first.Send(ctx, frames("hello"))
	mustRecv(t, ctx, router)
	second := newSock(t, DEALER, once)
	second.Connect(ep)
	select {
	case <-refused:
	case <-ctx.Done():
		t.Fatal("the newcomer with a taken identity was not refused")
	}
	router.Send(ctx, frames("x", "still first"))
	if m := mustRecv(t, ctx, first); !eq(m, "still first") {
		t.Fatalf("first got %q", m)
	}
	if m, err := second.TryRecv(); err == nil {
		t.Fatalf("the refused newcomer got %q", m)
	}
}

// TestXSubUpstreamWithoutPeerCounted: an XSUB's message upstream while
// it has no publisher is dropped, as in libzmq, and counted.
func TestXSubUpstreamWithoutPeerCounted(t *testing.T) {
	x := newSock(t, XSUB, Options{})
	if err := x.TrySend(frames("hello")); err != nil {
		t.Fatal(err)
	}
	if err := x.TrySend(frames("\x01topic")); err != nil { // a subscription is kept, not dropped
		t.Fatal(err)
	}
	if st := x.Stats(); st.DroppedNoPeer != 1 {
		t.Fatalf("DroppedNoPeer %d, want 1", st.DroppedNoPeer)
	}
}
