package zmtp

import (
	"bytes"
	"fmt"
	"testing"
)

// After a write of a queue too large to keep as the spare, the next
// queue must not share its memory with the one being written: messages
// queued meanwhile arrive whole and in order.
func TestLargeWriteThenSmallMessagesIntact(t *testing.T) {
	ctx := ctxT(t)
	pull, push := pair(t, PULL, PUSH, "tcp://127.0.0.1:0", Options{}, Options{})
	big := bytes.Repeat([]byte("x"), 5<<20)
	const n = 2000
	go func() {
		for round := 0; round < 3; round++ {
			push.Send(ctx, [][]byte{big})
			for i := 0; i < n; i++ {
				push.Send(ctx, frames(fmt.Sprintf("%d/%d", round, i)))
			}
		}
	}()
	for round := 0; round < 3; round++ {
		if m := mustRecv(t, ctx, pull); len(m) != 1 || !bytes.Equal(m[0], big) {
			t.Fatalf("round %d: the large message arrived damaged (%d frames)", round, len(m))
		}
		for i := 0; i < n; i++ {
			if m := mustRecv(t, ctx, pull); !eq(m, fmt.Sprintf("%d/%d", round, i)) {
				t.Fatalf("round %d message %d: got %q", round, i, m)
			}
		}
	}
}
