package zmtp

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/dividere-go/dividere/internal/zmtp/wire"
)

// TestPeerTTLDropsSilentPeer: a peer that asks, in its one PING, to be
// dropped after 300 ms of silence, and then goes silent with its
// connection open, is dropped though the socket has no heartbeat of its
// own.
func TestPeerTTLDropsSilentPeer(t *testing.T) {
	log := newEventLog()
	pull := newSock(t, PULL, Options{Events: log.add})
	ep, err := pull.Bind("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", ep[len("tcp://"):])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go io.Copy(io.Discard, c)
	c.Write(cat(greeting(3, 1, "NULL"), ready("PUSH", ""), wire.AppendPing(nil, wire.Ping{TTL: 3})))
	start := time.Now()
	e := log.waitFor(t, 5*time.Second, "disconnected", isKind(EventDisconnected))
	if !errors.Is(e.Err, ErrHeartbeat) {
		t.Fatalf("the connection ended with %v, want ErrHeartbeat", e.Err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("dropped after %v, before the TTL", d)
	}
}
