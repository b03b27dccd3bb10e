package zmtp

import (
	"testing"
)

// An XPUB hears a subscriber's topics end when it leaves, as if it had
// cancelled them: verbose, for every topic it had; otherwise only for a
// topic no other subscriber has.
func TestXPubHearsALeavingSubscriber(t *testing.T) {
	for _, verbose := range []bool{true, false} {
		name := "quiet"
		if verbose {
			name = "verbose"
		}
		t.Run(name, func(t *testing.T) {
			ctx := ctxT(t)
			xpub := newSock(t, XPUB, Options{XPubVerbose: verbose})
			ep, err := xpub.Bind("tcp://127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			stay := newSock(t, SUB, Options{})
			stay.Subscribe([]byte("a"))
			stay.Connect(ep)
			if m := mustRecv(t, ctx, xpub); !eq(m, "\x01a") {
				t.Fatalf("first subscriber: %q", m)
			}
			leave, err := New(SUB, Options{})
			if err != nil {
				t.Fatal(err)
			}
			leave.Subscribe([]byte("a"))
			leave.Subscribe([]byte("b"))
			leave.Connect(ep)
			want := []string{"\x01b"}
			if verbose {
				want = []string{"\x01a", "\x01b"}
			}
			got := map[string]bool{}
			for range want {
				got[string(mustRecv(t, ctx, xpub)[0])] = true
			}
			for _, w := range want {
				if !got[w] {
					t.Fatalf("second subscriber: got %v, want %q", got, want)
				}
			}
			leave.Close()
			want = []string{"\x00b"}
			if verbose {
				want = []string{"\x00a", "\x00b"}
			}
			got = map[string]bool{}
			for range want {
				got[string(mustRecv(t, ctx, xpub)[0])] = true
			}
			for _, w := range want {
				if !got[w] {
					t.Fatalf("after it left: got %v, want %q", got, want)
				}
			}
			if _, err := xpub.TryRecv(); err != ErrAgain {
				t.Fatalf("more notices than the leaving subscriber's: %v", err)
			}
		})
	}
}
