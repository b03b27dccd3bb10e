package zmtp

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"net"
	"testing"
	"time"

	"golang.org/x/crypto/nacl/box"

	"github.com/dividere-go/dividere/internal/zmtp/mech"
	"github.com/dividere-go/dividere/internal/zmtp/wire"
)

// Sizes around the chunk boundaries: a frame body of these many bytes
// makes the encoded message (header included) end just before, at and
// just after a chunk's end.
func boundarySizes() []int {
	var s []int
	for _, c := range []int{smallChunk, bigChunk, 2 * bigChunk} {
		for _, d := range []int{-10, -9, -3, -2, -1, 0, 1, 7} {
			s = append(s, c+d)
		}
	}
	return append(s, 0, 1, 255, 256, writeBatchMax+3, 3<<20)
}

func fill(n, seed int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + seed)
	}
	return b
}

// The queue is one byte stream however its chunks cut it: what take and
// consume hand out, in batches of any size, is the messages' encoding.
func TestSendQueueChunkBoundaries(t *testing.T) {
	for _, lim := range []int{1, 100, smallChunk, bigChunk + 1, writeBatchMax} {
		t.Run(fmt.Sprint(lim), func(t *testing.T) {
			var w outQueue
			var want []byte
			msgs := 0
			for i, n := range boundarySizes() {
				msg := [][]byte{fill(n, i)}
				if i%3 == 0 {
					msg = append(msg, fill(i, 1), nil) // multi-frame
				}
				var pre [][]byte
				if i%4 == 1 {
					pre = delimiter
				}
				size := wire.MessageSize(pre) + wire.MessageSize(msg)
				want = wire.AppendMessage(want, append(append([][]byte(nil), pre...), msg...))
				w.push(pre, msg, size)
				msgs++
			}
			if w.bytes != int64(len(want)) || w.n != msgs {
				t.Fatalf("queued %d bytes, %d messages; want %d, %d", w.bytes, w.n, len(want), msgs)
			}
			var got []byte
			completed := 0
			for w.bytes > 0 {
				iov, n := w.take(nil, lim)
				if n == 0 {
					t.Fatal("nothing taken from a queue that is not empty")
				}
				// Write part of what was taken, as a short write would.
				k := n
				if lim == 1 && n > 3 {
					k = n - 3
				}
				written := 0
				for _, b := range iov {
					c := min(len(b), k-written)
					got = append(got, b[:c]...)
					written += c
				}
				completed += w.consume(k)
				if w.n != msgs-completed {
					t.Fatalf("%d messages left after %d completed of %d", w.n, completed, msgs)
				}
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("the stream differs from the messages' encoding (%d bytes, want %d)", len(got), len(want))
			}
			if completed != msgs || w.n != 0 || len(w.chunks) != 0 {
				t.Fatalf("completed %d of %d, %d left, %d chunks held", completed, msgs, w.n, len(w.chunks))
			}
		})
	}
}

// A message cut off by a connection's end is dropped whole, so that the
// next connection starts at a message.
func TestSendQueueDropPartial(t *testing.T) {
	var w outQueue
	for i := range 3 {
		msg := [][]byte{fill(bigChunk, i)}
		w.push(nil, msg, wire.MessageSize(msg))
	}
	if w.dropPartial() != 0 {
		t.Fatal("dropped a message nothing of which was written")
	}
	w.consume(1000)
	if !w.midMessage() {
		t.Fatal("not mid-message after a part of one was written")
	}
	if n := w.dropPartial(); n != 1 || w.n != 2 || w.midMessage() {
		t.Fatalf("dropped %d, %d left, mid-message %v", n, w.n, w.midMessage())
	}
	iov, _ := w.take(nil, 9)
	f := iov[0]
	if f[0] != wire.FlagLong || !bytes.Equal(f[9:20], fill(bigChunk, 1)[:11]) {
		t.Fatalf("the queue does not start at the second message: % x", f[:20])
	}
	if n := w.clearAll(); n != 2 || w.bytes != 0 || len(w.chunks) != 0 {
		t.Fatalf("cleared %d, %d bytes and %d chunks left", n, w.bytes, len(w.chunks))
	}
}

// The byte bound and the high-water mark hold exactly, in messages and
// encoded bytes, and one message over the bound fits an empty queue.
func TestSendQueueBounds(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ep := "tcp://" + ln.Addr().String()
	ln.Close() // nobody listens: everything stays queued
	payload := make([]byte, 1000)
	enc := int64(wire.MessageSize([][]byte{payload}))
	for _, tc := range []struct {
		name  string
		opt   Options
		taken int
	}{
		{"bytes", Options{SendHWM: -1, SendQueueBytes: 20*enc + enc/2}, 20},
		{"bytes exactly", Options{SendHWM: -1, SendQueueBytes: 20 * enc}, 20},
		{"hwm", Options{SendHWM: 7, SendQueueBytes: -1}, 7},
		{"one over the bound", Options{SendHWM: -1, SendQueueBytes: enc - 1}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			push := newSock(t, PUSH, tc.opt)
			if err := push.Connect(ep); err != nil {
				t.Fatal(err)
			}
			n := 0
			for ; n < 1000; n++ {
				if err := push.TrySend([][]byte{payload}); err == ErrAgain {
					break
				} else if err != nil {
					t.Fatal(err)
				}
			}
			if n != tc.taken {
				t.Fatalf("queued %d messages, want %d", n, tc.taken)
			}
			push.Close()
			<-push.Done()
			if lost := push.Stats().DroppedLost; lost != uint64(n) {
				t.Fatalf("DroppedLost %d after Close, want %d", lost, n)
			}
		})
	}
}

func curveOptions(t *testing.T) (server, client Options) {
	spub, ssec, err := box.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cpub, csec, err := box.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	server.Mechanism = mech.NewCurveServer(*ssec, nil)
	client.Mechanism = mech.NewCurveClient(*spub, *cpub, *csec)
	return server, client
}

// Messages at and around chunk sizes, and larger than a chunk and a
// batch, arrive whole and in order, in plain and in CURVE.
func TestChunkBoundariesOnTheWire(t *testing.T) {
	for _, tr := range []string{"tcp", "ipc"} {
		for _, curve := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/curve=%v", tr, curve), func(t *testing.T) {
				ctx := ctxT(t)
				var bo, co Options
				if curve {
					bo, co = curveOptions(t)
				}
				bo.RecvHWM, co.SendHWM = -1, -1
				pull, push := pair(t, PULL, PUSH, endpoints(t)[tr], bo, co)
				sizes := boundarySizes()
				var sent [][][]byte
				for i, n := range sizes {
					msg := [][]byte{fill(n, i)}
					if i%2 == 0 {
						msg = append(msg, fill(i, 2))
					}
					sent = append(sent, msg)
				}
				go func() {
					for range 2 {
						for _, m := range sent {
							push.Send(ctx, m)
						}
					}
				}()
				for round := range 2 {
					for i, want := range sent {
						got := mustRecv(t, ctx, pull)
						if !sameFrames(got, want) {
							t.Fatalf("round %d message %d (%d bytes): arrived damaged", round, i, sizes[i])
						}
					}
				}
			})
		}
	}
}

// What is queued when the socket closes goes out within the linger, in
// as many chunks as it takes; with no linger it is dropped and counted.
func TestCloseWithQueuedChunks(t *testing.T) {
	ctx := ctxT(t)
	const n = 3000 // about 3 MiB: many chunks, several batches
	payload := fill(1000, 3)
	t.Run("linger", func(t *testing.T) {
		up := make(chan struct{}, 1)
		events := func(e Event) {
			if e.Kind == EventHandshakeSucceeded {
				signal(up)
			}
		}
		pull, push := pair(t, PULL, PUSH, "tcp://127.0.0.1:0", Options{}, Options{SendHWM: -1, Linger: -1, Events: events})
		// (A pipe that never had a connection has nothing to linger on.)
		select {
		case <-up:
		case <-ctx.Done():
			t.Fatal("no connection")
		}
		for i := range n {
			if err := push.Send(ctx, [][]byte{payload, []byte(fmt.Sprint(i))}); err != nil {
				t.Fatal(err)
			}
		}
		push.Close()
		for i := range n {
			m := mustRecv(t, ctx, pull)
			if !bytes.Equal(m[0], payload) || string(m[1]) != fmt.Sprint(i) {
				t.Fatalf("message %d: got %q", i, m[1])
			}
		}
		select {
		case <-push.Done():
		case <-ctx.Done():
			t.Fatal("the pusher did not end after its queue went out")
		}
		if st := push.Stats(); st.DroppedLost != 0 {
			t.Fatalf("DroppedLost %d", st.DroppedLost)
		}
	})
	t.Run("no linger", func(t *testing.T) {
		b := newSock(t, PULL, Options{RecvHWM: 1})
		ep, err := b.Bind("tcp://127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		push := newSock(t, PUSH, Options{SendHWM: -1})
		if err := push.Connect(ep); err != nil {
			t.Fatal(err)
		}
		// The puller reads one message and stops: the rest piles up, more
		// than the connection's buffers hold.
		big := fill(20<<10, 4)
		for range n {
			if err := push.Send(ctx, [][]byte{big}); err != nil {
				t.Fatal(err)
			}
		}
		mustRecv(t, ctx, b)
		push.Close()
		select {
		case <-push.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("Close without linger waited for the queue")
		}
		st := push.Stats()
		if st.DroppedLost == 0 || st.DroppedLost > n-1 {
			t.Fatalf("DroppedLost %d of %d sent", st.DroppedLost, n)
		}
	})
}
