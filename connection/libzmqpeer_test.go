//go:build libzmq && cgo

package connection_test

import (
	"fmt"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/dividere-go/dividere/connection"
)

// Request and Dealer against a raw libzmq ROUTER: the frames on the wire
// are what docs/protocol.md says.
func TestAgainstRawRouter(t *testing.T) {
	router, err := zmq.NewSocket(zmq.ROUTER)
	if err != nil {
		t.Fatal(err)
	}
	defer router.Close()
	router.SetLinger(0)
	if err := router.Bind("tcp://127.0.0.1:*"); err != nil {
		t.Fatal(err)
	}
	ep, _ := router.GetLastEndpoint()
	router.SetRcvtimeo(5 * time.Second)
	ctx := tctx(t, 5*time.Second)

	req := ok(connection.NewRequest(ep))(t)
	dealer := ok(connection.NewDealer(ep))(t)
	closeAll(t, req, dealer)

	done := make(chan error, 1)
	go func() {
		m, err := req.Call(ctx, []byte("from req"))
		if err == nil && string(m.Payload()) != "raw:from req" {
			err = fmt.Errorf("req got %q", m)
		}
		done <- err
	}()
	frames, err := router.RecvMessageBytes(0)
	if err != nil {
		t.Fatal(err)
	}
	// REQ adds an empty delimiter: [identity, "", payload].
	if len(frames) != 3 || len(frames[1]) != 0 || string(frames[2]) != "from req" {
		t.Fatalf("router got %q from REQ", frames)
	}
	router.SendMessage(frames[0], "", "raw:from req")
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	if err := dealer.Send(ctx, []byte("from dealer")); err != nil {
		t.Fatal(err)
	}
	frames, err = router.RecvMessageBytes(0)
	if err != nil {
		t.Fatal(err)
	}
	if len(frames) != 2 || string(frames[0]) != dealer.Identity() || string(frames[1]) != "from dealer" {
		t.Fatalf("router got %q from DEALER %q", frames, dealer.Identity())
	}
	router.SendMessage(frames[0], "raw:from dealer")
	if m, err := dealer.Recv(ctx); err != nil || len(m) != 1 || string(m[0]) != "raw:from dealer" {
		t.Fatalf("dealer got %q %v", m, err)
	}
}
