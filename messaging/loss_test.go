package messaging_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/internal/testpb"
	"github.com/dividere-go/dividere/messaging"
)

const burst = 500_000

// slowPair is a publisher and a subscriber with small queues, so that a
// subscriber that does not read fills them at once.
func slowPair(t *testing.T, pubOpts ...connection.PublisherOption) (*messaging.Publisher, *messaging.Subscriber) {
	t.Helper()
	pub := ok(messaging.NewPublisher("tcp://127.0.0.1:0",
		messaging.WithPublisherConnOptions(append(pubOpts, connection.WithSendHWM(1000))...), messaging.WithLogger(quiet)))(t)
	sub := ok(messaging.NewSubscriber(pub.Endpoint(),
		messaging.WithConnectionOptions(connection.WithRecvHWM(1000)), messaging.WithLogger(quiet)))(t)
	closeAll(t, pub, sub)
	if err := pub.WaitSubscribers(tctx(t, 10*time.Second), &testpb.Int64Msg{}, 1); err != nil {
		t.Fatal(err)
	}
	return pub, sub
}

// By default a subscriber that does not keep up loses messages, as
// ZeroMQ's PUB drops them at the high-water mark; the subscriber counts
// exactly how many it lost.
func TestSlowSubscriberCountsItsLoss(t *testing.T) {
	pub, sub := slowPair(t)
	ctx := tctx(t, 120*time.Second)
	// The subscriber reads nothing while the burst goes out.
	for i := range burst {
		if err := pub.Send(ctx, &testpb.Int64Msg{Value: int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	// Then it reads, and the publisher goes on until the subscriber has a
	// message from after the burst: loss is seen when the next message
	// arrives, so the last of the burst must be followed by one.
	type result struct{ received, last, lost uint64 }
	done := make(chan result, 1)
	go func() {
		var n uint64
		for {
			m, err := messaging.RecvAs[*testpb.Int64Msg](ctx, sub)
			if err != nil {
				done <- result{}
				return
			}
			n++
			if m.Value >= burst {
				// Sequence numbers count from 1, values from 0.
				done <- result{received: n, last: uint64(m.Value) + 1, lost: sub.MessageStats().Lost}
				return
			}
		}
	}()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	var r result
	for i := int64(burst); ; i++ {
		if err := pub.Send(ctx, &testpb.Int64Msg{Value: i}); err != nil {
			t.Fatal(err)
		}
		select {
		case r = <-done:
		case <-tick.C:
			continue
		}
		break
	}
	t.Logf("received %d of the first %d, lost %d; publisher %+v", r.received, r.last, r.lost, pub.Stats())
	if r.last == 0 || r.lost == 0 || r.received+r.lost != r.last {
		t.Fatalf("received %d + lost %d, want %d exactly (and some lost)", r.received, r.lost, r.last)
	}
	if by := sub.LostByPublisher(); by[pub.ID()] != r.lost || len(by) != 1 {
		t.Fatalf("lost by publisher %v, want %s: %d", by, pub.ID(), r.lost)
	}
}

// A lossless Publisher waits at the high-water mark instead: the slow
// subscriber gets every message, and the publisher is as slow as it.
func TestLosslessPublisherLosesNothing(t *testing.T) {
	pub, sub := slowPair(t, connection.WithSlowSubscriberWait(connection.Lossless))
	ctx := tctx(t, 120*time.Second)
	sent := make(chan error, 1)
	go func() {
		for i := range burst {
			if err := pub.Send(ctx, &testpb.Int64Msg{Value: int64(i)}); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	// The subscriber starts reading only once the publisher has had to
	// wait for it.
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for pub.Stats().SendWaits == 0 {
		select {
		case err := <-sent:
			t.Fatalf("the burst went out without waiting: %v", err)
		case <-tick.C:
		}
	}
	var got atomic.Int64
	for i := range burst {
		m, err := messaging.RecvAs[*testpb.Int64Msg](ctx, sub)
		if err != nil || m.Value != int64(i) {
			t.Fatalf("message %d: %v %v", i, m, err)
		}
		got.Add(1)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if st := sub.MessageStats(); st.Lost != 0 || got.Load() != burst {
		t.Fatalf("lost %d, received %d of %d", st.Lost, got.Load(), burst)
	}
	t.Logf("publisher %+v", pub.Stats())
}

// Concurrent Sends are numbered in the order they go out, so that they
// make no false gap.
func TestConcurrentSendsMakeNoGaps(t *testing.T) {
	pub, sub := slowPair(t, connection.WithSlowSubscriberWait(connection.Lossless))
	ctx := tctx(t, 60*time.Second)
	const senders, each = 4, 5000
	errc := make(chan error, senders)
	for range senders {
		go func() {
			for i := range each {
				if err := pub.Send(ctx, &testpb.Int64Msg{Value: int64(i)}); err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
	}
	for range senders * each {
		if _, err := sub.Recv(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for range senders {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	if st := sub.MessageStats(); st.Lost != 0 {
		t.Fatalf("lost %d with concurrent senders", st.Lost)
	}
}
