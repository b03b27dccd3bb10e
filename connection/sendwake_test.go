package connection_test

import (
	"testing"
	"time"

	"github.com/dividere-go/dividere/connection"
)

// A send that waits for the socket to become writable wakes up when it
// does: here, for the connection to complete (WithImmediate) and for the
// peer to read below the high-water mark. (libzmq throttles the command
// processing of sends, which once left such a sender parked for good.)
func TestBlockedSendWakes(t *testing.T) {
	rep := ok(connection.NewResponse("tcp://*:0"))(t)
	closeAll(t, rep)
	serveEcho(t, rep, "imm")
	req := ok(connection.NewRequest(rep.Endpoint(), connection.WithImmediate()))(t)
	closeAll(t, req)
	if got, err := call(req, "x", 5*time.Second); err != nil || got != "imm:x" {
		t.Fatalf("immediate request: %q %v", got, err)
	}

	router := ok(connection.NewRouter("tcp://*:0", connection.WithRecvHWM(5)))(t)
	dealer := ok(connection.NewDealer(router.Endpoint(), connection.WithSendHWM(5)))(t)
	closeAll(t, router, dealer)
	ctx := tctx(t, 20*time.Second)
	const n = 2000
	done := make(chan error, 1)
	go func() {
		for i := range n {
			if err := dealer.Send(ctx, []byte{byte(i)}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for range n {
		if _, err := router.Recv(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("sender: %v", err)
	}
}
