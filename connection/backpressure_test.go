package connection_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/dividere-go/dividere/connection"
)

// A subscriber that keeps up, but more slowly than the publisher
// publishes, loses nothing: the publisher waits for room in its queue.
func TestPublisherWaitsForASubscriberThatKeepsUp(t *testing.T) {
	// The wait is long so that a loaded machine's scheduler cannot make
	// the subscriber look slow; the test is of the waiting, not of when
	// waiting gives up.
	pub := ok(connection.NewPublisher("tcp://*:0", connection.WithSendHWM(100), connection.WithSlowSubscriberWait(20*time.Second)))(t)
	sub := ok(connection.NewSubscriber(pub.Endpoint(), connection.WithRecvHWM(100)))(t)
	closeAll(t, sub, pub)
	ctx := tctx(t, 60*time.Second)
	if err := pub.WaitSubscribers(ctx, "", 1); err != nil {
		t.Fatal(err)
	}
	// 20 MB in all: more than the two high-water marks and the kernel's
	// socket buffers hold, so that a subscriber that has not begun to read
	// makes the publisher wait.
	const n, size = 20_000, 1 << 10
	msg := func(i int) []byte { return fmt.Appendf(make([]byte, 0, size), "%-*d", size, i) }
	sent := make(chan struct{})
	got := make(chan int, 1)
	go func() {
		// The subscriber begins to read only once the publisher waits for
		// it (or, should it never wait, has sent everything): it is then
		// slower than the publisher for certain, whatever the machine.
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for pub.Stats().SendWaits == 0 {
			select {
			case <-tick.C:
				continue
			case <-sent:
			case <-ctx.Done():
			}
			break
		}
		i := 0
		for ; i < n; i++ {
			m, err := sub.Recv(ctx)
			if err != nil || string(m[0]) != string(msg(i)) {
				break
			}
		}
		got <- i
	}()
	for i := range n {
		if err := pub.Send(ctx, msg(i)); err != nil {
			t.Fatal(err)
		}
	}
	close(sent)
	if i := <-got; i != n {
		t.Fatalf("the subscriber got %d of %d in order; publisher %+v", i, n, pub.Stats())
	}
	if st := pub.Stats(); st.SendWaits == 0 || st.SlowSubscribers != 0 {
		t.Fatalf("stats %+v: the publisher should have waited, and found no one slow", st)
	}
}

// A subscriber that stays full past the wait is slow: the publisher
// stops waiting and drops for it, as libzmq's PUB does, and goes on
// publishing to the others.
func TestSlowSubscriberDoesNotStopThePublisher(t *testing.T) {
	pub := ok(connection.NewPublisher("tcp://*:0", connection.WithSendHWM(100), connection.WithSlowSubscriberWait(50*time.Millisecond),
		connection.WithLogger(quietLog)))(t)
	fast := ok(connection.NewSubscriber(pub.Endpoint()))(t)
	stuck := ok(connection.NewSubscriber(pub.Endpoint(), connection.WithRecvHWM(100)))(t) // never reads
	closeAll(t, fast, stuck, pub)
	ctx := tctx(t, 30*time.Second)
	if err := pub.WaitSubscribers(ctx, "", 2); err != nil {
		t.Fatal(err)
	}
	last := make(chan struct{})
	go func() {
		for {
			m, err := fast.Recv(ctx)
			if err != nil {
				return
			}
			if string(m[0]) == "last" {
				close(last)
				return
			}
		}
	}()
	// Large messages fill the kernel's socket buffers after a few hundred,
	// so that the stuck subscriber's queue is full for good.
	payload := make([]byte, 32<<10)
	start := time.Now()
	for pub.Stats().SlowSubscribers == 0 {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("the stuck subscriber was never found slow: %+v", pub.Stats())
		}
		if err := pub.Send(ctx, payload); err != nil {
			t.Fatal(err)
		}
	}
	found := time.Since(start)
	// The publisher no longer waits; the fast subscriber still hears it.
	tk := time.NewTicker(5 * time.Millisecond)
	defer tk.Stop()
	for {
		select {
		case <-last:
			t.Logf("stuck subscriber found slow after %v; %+v", found.Round(time.Millisecond), pub.Stats())
			return
		case <-tk.C:
			sctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
			err := pub.Send(sctx, []byte("last"))
			cancel()
			if err != nil {
				t.Fatalf("the publisher waited for the slow subscriber: %v", err)
			}
		case <-ctx.Done():
			t.Fatal("the fast subscriber never heard the publisher again")
		}
	}
}

// Lossless waits for a full subscriber for as long as Send's context
// allows: nothing is dropped, and a subscriber that never reads makes
// Send time out.
func TestLosslessPublisher(t *testing.T) {
	pub := ok(connection.NewPublisher("tcp://*:0", connection.WithSendHWM(10), connection.WithSlowSubscriberWait(connection.Lossless)))(t)
	sub := ok(connection.NewSubscriber(pub.Endpoint(), connection.WithRecvHWM(10)))(t)
	closeAll(t, sub, pub)
	ctx := tctx(t, 30*time.Second)
	if err := pub.WaitSubscribers(ctx, "", 1); err != nil {
		t.Fatal(err)
	}
	// Nobody reads: the queues fill (large messages fill the kernel's
	// socket buffers soon), and Send waits until its deadline.
	payload := make([]byte, 32<<10)
	var err error
	for i := 0; err == nil && i < 10_000; i++ {
		sctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		err = pub.Send(sctx, payload)
		cancel()
	}
	if !errors.Is(err, connection.ErrTimeout) {
		t.Fatalf("Send to a subscriber that never reads: %v, want a timeout", err)
	}
	if st := pub.Stats(); st.SlowSubscribers != 0 {
		t.Fatalf("a lossless publisher dropped: %+v", st)
	}
}
