package connection_test

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/internal/zmtptest"
)

// A Subscriber whose publisher sent one frame over its maximum size was
// disconnected by libzmq and never reconnected: silent for good. Now it
// attaches the endpoint again (and so resubscribes), and counts it.
func TestSubscriberReattachesAfterOversizeFrame(t *testing.T) {
	pub := ok(connection.NewPublisher("tcp://*:0"))(t)
	sub := ok(connection.NewSubscriber(pub.Endpoint(), connection.WithMaxMessageSize(1000), connection.WithTopics("x"),
		connection.WithLogger(quietLog)))(t)
	closeAll(t, sub, pub)
	ctx := tctx(t, 20*time.Second)
	if err := pub.WaitSubscribers(ctx, "x", 1); err != nil {
		t.Fatal(err)
	}
	if err := pub.Send(ctx, []byte("x"+strings.Repeat("!", 2000))); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	got := make(chan error, 1)
	go func() {
		m, err := sub.Recv(ctx)
		if err == nil && string(m[0]) != "x after" {
			err = errUnexpected(m)
		}
		got <- err
	}()
	// The publisher goes on publishing; the subscriber must come back and
	// hear it.
	tk := time.NewTicker(20 * time.Millisecond)
	defer tk.Stop()
	for {
		select {
		case err := <-got:
			if err != nil {
				t.Fatal(err)
			}
			// libzmq does not reconnect after a protocol error, so the
			// socket attaches again; the Go engine reconnects by itself,
			// and counts the error.
			st := sub.Stats()
			if connection.Engine() == "libzmq" && st.Reattaches != 1 {
				t.Fatalf("stats %+v, want one re-attach", st)
			}
			if connection.Engine() == "go" && st.Engine.ProtocolErrors < 1 {
				t.Fatalf("stats %+v, want the oversize frame counted as a protocol error", st)
			}
			t.Logf("subscriber heard its publisher again %v after the oversize frame", time.Since(start).Round(time.Millisecond))
			return
		case <-tk.C:
			pub.Send(ctx, []byte("x after"))
		case <-ctx.Done():
			t.Fatalf("the subscriber never came back: %+v", sub.Stats())
		}
	}
}

type unexpected string

func (u unexpected) Error() string { return "unexpected message " + string(u) }

func errUnexpected(m connection.Message) error { return unexpected(m[0]) }

// A publisher receives only subscriptions: a peer sending a huge one
// (here a raw ZMTP peer, since libzmq's own SUB would choke on a 10 MB
// topic first) is disconnected before libzmq buffers it, and the
// publisher serves on.
func TestPublisherRefusesHugeSubscription(t *testing.T) {
	pub := ok(connection.NewPublisher("tcp://*:0"))(t)
	closeAll(t, pub)
	ctx := tctx(t, 20*time.Second)
	raw, err := zmtptest.Dial(pub.Endpoint(), "SUB")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	// The publisher may drop us before the send is through (a broken
	// pipe) or after.
	if err := raw.Send(append([]byte{1}, strings.Repeat("h", 10<<20)...)); err == nil && !raw.WaitClosed(10*time.Second) {
		t.Fatal("the publisher did not drop the peer that sent a 10 MB subscription")
	}
	sub := ok(connection.NewSubscriber(pub.Endpoint(), connection.WithTopics("t")))(t)
	closeAll(t, sub)
	if err := pub.WaitSubscribers(ctx, "t", 1); err != nil {
		t.Fatal(err)
	}
	if n := pub.Subscribers("h"); n != 0 {
		t.Fatalf("the huge subscription was taken (%d)", n)
	}
	pub.Send(ctx, []byte("t1"))
	if m, err := sub.Recv(ctx); err != nil || string(m[0]) != "t1" {
		t.Fatalf("%v %v", m, err)
	}
}

// A wave of a thousand connections at once: with libzmq's backlog of 100
// the kernel dropped SYNs and some clients waited a one-second
// retransmit. With defaultBacklog every connection is accepted promptly.
func TestConnectionStorm(t *testing.T) {
	rep := ok(connection.NewResponse("tcp://*:0"))(t)
	closeAll(t, rep)
	addr := strings.TrimPrefix(rep.Endpoint(), "tcp://")
	const n = 1000
	var wg sync.WaitGroup
	var mu sync.Mutex
	var slow, failed int
	var worst time.Duration
	conns := make(chan net.Conn, n)
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			t0 := time.Now()
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			took := time.Since(t0)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed++
				return
			}
			conns <- c
			worst = max(worst, took)
			// A dropped SYN is retransmitted after one second.
			if took >= 900*time.Millisecond {
				slow++
			}
		}()
	}
	close(start)
	wg.Wait()
	close(conns)
	for c := range conns {
		c.Close()
	}
	t.Logf("%d connections: %d failed, %d waited for a retransmit, slowest %v", n, failed, slow, worst.Round(time.Millisecond))
	if failed > 0 || slow > 0 {
		t.Fatalf("%d failed and %d waited for a SYN retransmit", failed, slow)
	}
}
