//go:build libzmq && cgo

package connection_test

import (
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/internal/testengine"
)

// dividere's sockets live in a libzmq context of its own: pebbe's
// default context keeps its settings, and a program's own sockets meet
// dividere's over inproc:// only in a context given WithContext.
func TestOwnContext(t *testing.T) {
	testengine.LibzmqOnly(t, "WithContext is a libzmq context")
	d := ok(connection.NewDealer("@inproc://own-context"))(t)
	closeAll(t, d)
	if n, err := zmq.GetMaxSockets(); err != nil || n != 1023 {
		t.Fatalf("pebbe's default context was changed: max sockets %d %v", n, err)
	}

	zc, err := zmq.NewContext()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := zc.NewSocket(zmq.PAIR)
	if err != nil {
		t.Fatal(err)
	}
	if err := raw.Bind("inproc://program-context"); err != nil {
		t.Fatal(err)
	}
	peer := ok(connection.NewDealer("inproc://program-context", connection.WithContext(zc)))(t)
	ctx := tctx(t, 10*time.Second)
	if err := peer.Send(ctx, []byte("across")); err != nil {
		t.Fatal(err)
	}
	raw.SetRcvtimeo(5 * time.Second)
	if got, err := raw.RecvBytes(0); err != nil || string(got) != "across" {
		t.Fatalf("raw socket in the program's context got %q %v", got, err)
	}
	peer.Close()
	raw.Close()
	zc.Term()
}
