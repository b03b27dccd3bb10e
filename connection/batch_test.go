package connection_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/dividere-go/dividere/connection"
)

// Messages read ahead in batches arrive whole, in order and unchanged,
// whatever their number of frames and sizes: frames larger than a
// batch, messages with more frames than a batch takes, empty frames.
func TestBatchedReceiveKeepsMessagesWhole(t *testing.T) {
	router := ok(connection.NewRouter("tcp://*:0"))(t)
	d := ok(connection.NewDealer(router.Endpoint(), connection.WithIdentity("peer")))(t)
	closeAll(t, d, router)
	ctx := tctx(t, 30*time.Second)
	rng := rand.New(rand.NewPCG(1, 2))
	var sent []connection.Message
	for i := range 600 {
		n := 1 + rng.IntN(6)
		if i%50 == 0 {
			n = 300 // more frames than one batch records
		}
		m := connection.Message{}
		for f := range n {
			size := rng.IntN(200)
			switch {
			case i%97 == 0 && f == 0:
				size = 200 << 10 // larger than a batch's buffer
			case rng.IntN(10) == 0:
				size = 0
			}
			b := make([]byte, size)
			for j := range b {
				b[j] = byte(i + f + j)
			}
			m = append(m, b)
		}
		sent = append(sent, m)
		if err := d.Send(ctx, m...); err != nil {
			t.Fatal(err)
		}
	}
	for i, want := range sent {
		got, err := router.Recv(ctx)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if string(got[0]) != "peer" || len(got)-1 != len(want) {
			t.Fatalf("message %d: %d frames from %q, want %d", i, len(got)-1, got[0], len(want))
		}
		for f := range want {
			if !bytes.Equal(got[f+1], want[f]) {
				t.Fatalf("message %d frame %d differs (%d bytes, want %d)", i, f, len(got[f+1]), len(want[f]))
			}
		}
	}
}

// Several goroutines receiving on one socket share what one batch read
// ahead: every message reaches exactly one of them, none waits while
// messages sit in the batch.
func TestBatchedReceiveSeveralReceivers(t *testing.T) {
	pub := ok(connection.NewPublisher("tcp://*:0"))(t)
	sub := ok(connection.NewSubscriber(pub.Endpoint()))(t)
	closeAll(t, sub, pub)
	ctx := tctx(t, 30*time.Second)
	if err := pub.WaitSubscribers(ctx, "", 1); err != nil {
		t.Fatal(err)
	}
	const n = 20_000
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				m, err := sub.Recv(ctx)
				if err != nil {
					return
				}
				mu.Lock()
				if seen[string(m[0])] {
					t.Errorf("%s twice", m[0])
				}
				seen[string(m[0])] = true
				done := len(seen) == n
				mu.Unlock()
				if done {
					sub.Close() // ends the other receivers
					return
				}
			}
		}()
	}
	for i := range n {
		if err := pub.Send(ctx, []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if len(seen) != n {
		t.Fatalf("%d of %d messages received", len(seen), n)
	}
}
