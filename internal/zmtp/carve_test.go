package zmtp

import (
	"fmt"
	"testing"
)

// Received messages are carved out of shared slabs: each stays intact
// while the receiver keeps it, appending to one does not reach into the
// next, and a ROUTER's routing id fills the slot its reader left, over
// tcp and inproc.
func TestReceivedMessagesStayIntact(t *testing.T) {
	for _, tr := range []string{"tcp", "inproc"} {
		t.Run(tr, func(t *testing.T) {
			ctx := ctxT(t)
			router := newSock(t, ROUTER, Options{RecvHWM: -1})
			ep, err := router.Bind(endpoints(t)[tr])
			if err != nil {
				t.Fatal(err)
			}
			const n = 1500 // several frame slabs and body slabs
			ids := []string{"d1", "d2"}
			for _, id := range ids {
				d := newSock(t, DEALER, Options{Identity: []byte(id), SendHWM: -1})
				if err := d.Connect(ep); err != nil {
					t.Fatal(err)
				}
				go func() {
					for i := range n {
						d.Send(ctx, frames(id, fmt.Sprint(i), string(fill(i%900, i))))
					}
				}()
			}
			var kept [][][]byte
			for range 2 * n {
				m := mustRecv(t, ctx, router)
				kept = append(kept, m)
				// Appending may not write into what comes next.
				_ = append(m, []byte("x"))
				_ = append(m[1], 'y')
			}
			next := map[string]int{}
			for _, m := range kept {
				id := string(m[0])
				i := next[id]
				next[id]++
				if !sameFrames(m, frames(id, id, fmt.Sprint(i), string(fill(i%900, i)))) {
					t.Fatalf("message %d from %s damaged: %q", i, id, m[:3])
				}
			}
			for _, id := range ids {
				if next[id] != n {
					t.Fatalf("%d messages from %s, want %d", next[id], id, n)
				}
			}
		})
	}
}
