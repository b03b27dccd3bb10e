package connection_test

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/internal/testutil"
)

// pubSub makes a bound Publisher and a Subscriber connected to it, and
// waits until the subscription has reached the publisher.
func pubSub(t *testing.T, bind string, topics ...string) (*connection.Publisher, *connection.Subscriber) {
	t.Helper()
	pub := ok(connection.NewPublisher(bind))(t)
	closeAll(t, pub)
	var opts []connection.SubscriberOption
	if topics != nil {
		opts = append(opts, connection.WithTopics(topics...))
	}
	sub := ok(connection.NewSubscriber(pub.Endpoint(), opts...))(t)
	closeAll(t, sub)
	want := ""
	if len(topics) > 0 {
		want = topics[0]
	}
	if err := pub.WaitSubscribers(tctx(t, 5*time.Second), want, 1); err != nil {
		t.Fatal(err)
	}
	return pub, sub
}

func ipcEndpoint(t *testing.T) string {
	return "ipc://" + filepath.Join(t.TempDir(), "sock")
}

func TestPubSubOrdered(t *testing.T) {
	for _, tc := range []struct{ name, bind string }{
		{"tcp", "tcp://*:0"},
		{"ipc", ""},
		{"inproc", "inproc://pubsub-ordered"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bind := tc.bind
			if bind == "" {
				bind = ipcEndpoint(t)
			}
			pub, sub := pubSub(t, bind)
			ctx := tctx(t, 5*time.Second)
			for i := range 10 {
				if err := pub.Send(ctx, fmt.Appendf(nil, "message %d", i)); err != nil {
					t.Fatal(err)
				}
			}
			for i := range 10 {
				m, err := sub.Recv(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if got, want := string(m.Payload()), fmt.Sprintf("message %d", i); got != want {
					t.Fatalf("got %q, want %q", got, want)
				}
			}
		})
	}
}

func TestPubSubManyPorts(t *testing.T) {
	ctx := tctx(t, 20*time.Second)
	for i := range 20 {
		port := testutil.Port(t)
		pub := ok(connection.NewPublisher(fmt.Sprintf("@tcp://127.0.0.1:%d", port)))(t)
		if pub.Port() != port {
			t.Fatalf("bound port %d, asked %d", pub.Port(), port)
		}
		sub := ok(connection.NewSubscriber(fmt.Sprintf("tcp://localhost:%d", port)))(t)
		if err := pub.WaitSubscribers(ctx, "", 1); err != nil {
			t.Fatal(err)
		}
		for j := range 10 {
			pub.Send(ctx, fmt.Appendf(nil, "%d/%d", i, j))
		}
		for j := range 10 {
			m, err := sub.Recv(ctx)
			if err != nil || string(m.Payload()) != fmt.Sprintf("%d/%d", i, j) {
				t.Fatalf("port %d message %d: %q %v", port, j, m, err)
			}
		}
		sub.Close()
		pub.Close()
	}
}

// Every length from 1 to 81,920 bytes arrives intact. The sender stays at
// most one window ahead of the receiver so memory stays bounded.
func TestPubSubEveryLength(t *testing.T) {
	const maxLen = 81920
	pub, sub := pubSub(t, "tcp://*:0")
	ctx := tctx(t, 3*time.Minute)
	pattern := make([]byte, maxLen)
	for i := range pattern {
		pattern[i] = byte(i*131 + i>>8)
	}
	const window = 2048
	progress := make(chan int, maxLen/window+1)
	errc := make(chan error, 1)
	go func() {
		for n := 1; n <= maxLen; n++ {
			m, err := sub.Recv(ctx)
			if err != nil {
				errc <- err
				return
			}
			if p := m.Payload(); len(p) != n || !bytes.Equal(p, pattern[:n]) {
				errc <- fmt.Errorf("message %d: got %d bytes, content ok %v", n, len(p), bytes.Equal(p, pattern[:min(n, len(p))]))
				return
			}
			if n%window == 0 {
				progress <- n
			}
		}
		errc <- nil
	}()
	acked := 0
	for n := 1; n <= maxLen; n++ {
		for n-acked > 2*window {
			select {
			case acked = <-progress:
			case err := <-errc:
				t.Fatalf("receiver stopped at %d: %v (publisher %+v, subscriber %+v)", acked, err, pub.Stats(), sub.Stats())
			}
		}
		if err := pub.Send(ctx, pattern[:n]); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func TestPubSubTopics(t *testing.T) {
	pub, sub := pubSub(t, "tcp://*:0", "weather.")
	ctx := tctx(t, 5*time.Second)
	send := func(s string) {
		if err := pub.Send(ctx, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	send("sports.football 1-0")
	send("weather.paris rain")
	send("weath incomplete prefix")
	send("weather.oslo snow")
	for _, want := range []string{"weather.paris rain", "weather.oslo snow"} {
		m, err := sub.Recv(ctx)
		if err != nil || string(m.Payload()) != want {
			t.Fatalf("got %q %v, want %q", m, err, want)
		}
	}
	if ready(sub, 50*time.Millisecond) {
		m, _ := sub.Recv(ctx)
		t.Fatalf("unexpected message %q", m)
	}

	// Subscribe after creation; wait for the publisher to see it.
	if err := sub.Subscribe("sports."); err != nil {
		t.Fatal(err)
	}
	if err := pub.WaitSubscribers(ctx, "sports.x", 1); err != nil {
		t.Fatal(err)
	}
	send("sports.tennis 6-4")
	if m, err := sub.Recv(ctx); err != nil || string(m.Payload()) != "sports.tennis 6-4" {
		t.Fatalf("after Subscribe: %q %v", m, err)
	}
	if err := sub.Unsubscribe("weather."); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return pub.Subscribers("weather.x") == 0 })
	send("weather.rome sun")
	send("sports.golf par")
	if m, err := sub.Recv(ctx); err != nil || string(m.Payload()) != "sports.golf par" {
		t.Fatalf("after Unsubscribe: %q %v", m, err)
	}
}

func TestPubSubMultipart(t *testing.T) {
	pub, sub := pubSub(t, "inproc://multipart", "key")
	ctx := tctx(t, 5*time.Second)
	if err := pub.Send(ctx, []byte("key"), []byte{}, []byte("value")); err != nil {
		t.Fatal(err)
	}
	m, err := sub.Recv(ctx)
	if err != nil || len(m) != 3 || string(m[0]) != "key" || len(m[1]) != 0 || string(m[2]) != "value" {
		t.Fatalf("got %q %v", m, err)
	}
	if err := pub.Send(ctx); !errors.Is(err, connection.ErrEmpty) {
		t.Fatalf("empty send: %v", err)
	}
}

func TestPubSubProxy(t *testing.T) {
	proxy := ok(connection.NewPubSubProxy("tcp://*:0", "tcp://*:0"))(t)
	testutil.Serve(t, proxy)
	closeAll(t, proxy)
	pub := ok(connection.NewPublisher(">" + proxy.Frontend.Endpoint()))(t)
	subs := make([]*connection.Subscriber, 3)
	for i := range subs {
		subs[i] = ok(connection.NewSubscriber(proxy.Backend.Endpoint(), connection.WithTopics("t")))(t)
	}
	closeAll(t, pub, subs[0], subs[1], subs[2])
	ctx := tctx(t, 5*time.Second)
	// Subscriptions travel through the proxy to the publisher, which
	// therefore knows when it may send.
	if err := pub.WaitSubscribers(ctx, "t", 1); err != nil {
		t.Fatal(err)
	}
	for _, s := range subs {
		if err := s.WaitPeers(ctx, 1); err != nil {
			t.Fatal(err)
		}
	}
	// The proxy's XPUB forwards only the first subscription per topic, so
	// wait on the proxy's side for every subscriber's handshake instead.
	if err := proxy.Backend.WaitPeers(ctx, 3); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		pub.Send(ctx, []byte("t-probe"))
		for _, s := range subs {
			if !ready(s, 20*time.Millisecond) {
				return false
			}
		}
		return true
	})
	for _, s := range subs { // drain probes
		for ready(s, 20*time.Millisecond) {
			s.Recv(ctx)
		}
	}
	pub.Send(ctx, []byte("x-ignored"))
	pub.Send(ctx, []byte("t-1"))
	for i, s := range subs {
		m, err := s.Recv(ctx)
		if err != nil || string(m.Payload()) != "t-1" {
			t.Fatalf("subscriber %d: %q %v", i, m, err)
		}
	}
}

// waitFor polls cond until it is true, failing the test after 5 seconds.
// It is for conditions that have no event to wait on.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
