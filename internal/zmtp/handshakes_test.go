package zmtp

import (
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// A flood of connections that never start their handshake holds at most
// MaxHandshakes of them: each one past the bound sheds the oldest, which
// the server closes and counts, and a real peer still gets in.
func TestHandshakesBoundedOldestShed(t *testing.T) {
	const bound, extra = 8, 12
	rep := newSock(t, REP, Options{MaxHandshakes: bound})
	ep, err := rep.Bind("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(ep, "tcp://")
	var conns []net.Conn
	for i := range bound + extra {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		conns = append(conns, c)
		// Accepted in this order: each waits until the server holds it.
		waitFor(t, func() bool {
			st := rep.Stats()
			rep.hsmu.Lock()
			n := rep.pending.n
			rep.hsmu.Unlock()
			return n == min(i+1, bound) && st.HandshakesShed == uint64(max(0, i+1-bound))
		})
	}
	// The oldest were closed by the server: each reads its greeting,
	// then the end of the connection.
	for i, c := range conns[:extra] {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadAll(c); err != nil {
			t.Fatalf("shed connection %d: %v, want the server to close it", i, err)
		}
	}
	// The newest are still open.
	for i, c := range conns[extra:] {
		c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		buf := make([]byte, 128)
		var ne net.Error
		for {
			_, err := c.Read(buf)
			if err == nil {
				continue // its greeting
			}
			if !errors.As(err, &ne) || !ne.Timeout() {
				t.Fatalf("kept connection %d: %v, want it still open", extra+i, err)
			}
			break
		}
	}
	// A real peer's handshake completes, shedding one more to get in.
	req := newSock(t, REQ, Options{})
	if err := req.Connect(ep); err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	if err := req.Send(ctx, frames("ping")); err != nil {
		t.Fatal(err)
	}
	if m := mustRecv(t, ctx, rep); !eq(m, "ping") {
		t.Fatalf("%q", m)
	}
	waitFor(t, func() bool { st := rep.Stats(); return st.HandshakeFailures >= extra+1 && st.HandshakesShed == extra+1 })
}

// What a handshake reads ahead of its last command (the peer's first
// messages, in the same segment) reaches the full-size reader after it.
func TestGrownReaderKeepsReadAhead(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go func() { a.Write([]byte("handshake|first message")); a.Close() }()
	br := newHandshakeReader(b)
	head := make([]byte, len("handshake|"))
	if _, err := io.ReadFull(br, head); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(grown(br, b))
	if err != nil || string(rest) != "first message" {
		t.Fatalf("after the handshake: %q, %v", rest, err)
	}
}
