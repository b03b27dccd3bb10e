//go:build libzmq && cgo

package connection

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"
)

// recvView hands out messages where they lie in the read-ahead buffer.
// Mixed with ordinary receives (which must copy them, since the buffer
// is reused), every message arrives whole and in order, and those kept
// from ordinary receives are still intact once later batches have
// overwritten the buffer: large frames, multi-frame messages and
// messages that span batches included.
func TestRecvViewMixedWithRecv(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pub, err := NewPublisher("@tcp://127.0.0.1:0", WithLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	sub, err := NewSubscriber(pub.Endpoint(), WithLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if err := pub.WaitSubscribers(ctx, "", 1); err != nil {
		t.Fatal(err)
	}
	frame := func(i, f, size int) []byte {
		b := bytes.Repeat([]byte{byte(i), byte(f)}, size/2+1)[:size]
		return append([]byte(fmt.Sprintf("%06d/%d:", i, f)), b...)
	}
	sizes := func(i int) []int {
		switch {
		case i%101 == 0:
			return []int{batchBytes + 5000} // larger than the buffer
		case i%37 == 0:
			return []int{10, batchBytes / 3, batchBytes / 3} // spans batches
		case i%5 == 0:
			return []int{3, 0, 700}
		}
		return []int{i % 1500}
	}
	const n = 3000
	// Sent in one go first, so that they are read ahead many to a batch.
	for i := range n {
		var m [][]byte
		for f, size := range sizes(i) {
			m = append(m, frame(i, f, size))
		}
		if err := pub.Send(ctx, m...); err != nil {
			t.Fatal(err)
		}
	}
	check := func(i int, got Message) error {
		want := sizes(i)
		if len(got) != len(want) {
			return fmt.Errorf("message %d: %d frames, want %d", i, len(got), len(want))
		}
		for f, size := range want {
			if !bytes.Equal(got[f], frame(i, f, size)) {
				return fmt.Errorf("message %d frame %d differs (%d bytes, want %d)", i, f, len(got[f]), len(frame(i, f, size)))
			}
		}
		return nil
	}
	kept := map[int]Message{}
	for i := range n {
		if i%3 == 0 {
			m, err := sub.Recv(ctx)
			if err != nil {
				t.Fatal(err)
			}
			kept[i] = m
			continue
		}
		v, derr, err := recvView(sub.sock, ctx, func(frames Message) (any, error) {
			return nil, check(i, frames)
		})
		if err != nil || derr != nil || v != nil {
			t.Fatalf("message %d: %v, %v, %v", i, v, derr, err)
		}
	}
	for i, m := range kept {
		if err := check(i, m); err != nil {
			t.Errorf("kept %v", err)
		}
	}
	if sub.head != len(sub.queue) {
		t.Errorf("%d messages left over", len(sub.queue)-sub.head)
	}
}
