package zmtp

import (
	"fmt"
	"testing"
)

// A send to an idle queue is written by the sender itself, in part when
// the connection takes only part (a message larger than its first chunk
// or than the socket's buffer); the writer loop sends the rest. Each
// message here waits for the one before to arrive, so that the queue is
// idle at every send, over tcp and ipc, one way and as request/reply.
func TestSenderWritesItself(t *testing.T) {
	for _, tr := range []string{"tcp", "ipc"} {
		t.Run(tr+"/push-pull", func(t *testing.T) {
			ctx := ctxT(t)
			pull, push := pair(t, PULL, PUSH, endpoints(t)[tr], Options{}, Options{})
			for round := range 2 {
				for i, n := range boundarySizes() {
					msg := [][]byte{fill(n, i), []byte(fmt.Sprint(round))}
					if err := push.Send(ctx, msg); err != nil {
						t.Fatal(err)
					}
					if got := mustRecv(t, ctx, pull); !sameFrames(got, msg) {
						t.Fatalf("round %d message %d (%d bytes) arrived damaged", round, i, n)
					}
				}
			}
		})
		t.Run(tr+"/req-rep", func(t *testing.T) {
			ctx := ctxT(t)
			rep, req := pair(t, REP, REQ, endpoints(t)[tr], Options{}, Options{})
			go echo(rep)
			for i, n := range boundarySizes() {
				msg := [][]byte{fill(n, i)}
				if err := req.Send(ctx, msg); err != nil {
					t.Fatal(err)
				}
				if got := mustRecv(t, ctx, req); !sameFrames(got, msg) {
					t.Fatalf("reply %d (%d bytes) arrived damaged", i, n)
				}
			}
		})
	}
}
