//go:build libzmq && cgo

package messaging_test

import (
	"fmt"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"
	"google.golang.org/protobuf/proto"

	"github.com/dividere-go/dividere/internal/testpb"
	"github.com/dividere-go/dividere/messaging"
	"github.com/dividere-go/dividere/msglib"
)

// Request and Dealer against a raw libzmq ROUTER.
func TestAgainstRawRouter(t *testing.T) {
	ctx := tctx(t, 10*time.Second)
	router, _ := zmq.NewSocket(zmq.ROUTER)
	defer router.Close()
	router.SetLinger(0)
	router.SetRcvtimeo(5 * time.Second)
	router.Bind("tcp://127.0.0.1:*")
	ep, _ := router.GetLastEndpoint()
	req := ok(messaging.NewRequest(ep))(t)
	d := ok(messaging.NewDealer(ep))(t)
	closeAll(t, req, d)
	done := make(chan error, 1)
	go func() {
		m, err := req.Call(ctx, &testpb.StringMsg{Value: "req"})
		if err == nil && !proto.Equal(m, &msglib.Ack{Ok: true}) {
			err = fmt.Errorf("req got %v", m)
		}
		done <- err
	}()
	frames, err := router.RecvMessageBytes(0)
	if err != nil || len(frames) != 3 {
		t.Fatalf("router got %q %v", frames, err)
	}
	if m, _, err := messaging.Decode(frames[2], nil); err != nil || m.(*testpb.StringMsg).Value != "req" {
		t.Fatalf("router decoded %v %v", m, err)
	}
	ack, _ := messaging.Encode(&msglib.Ack{Ok: true}, nil)
	router.SendMessage(frames[0], "", ack)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	d.Send(ctx, &testpb.StringMsg{Value: "dealer"})
	frames, err = router.RecvMessageBytes(0)
	if err != nil || len(frames) != 2 {
		t.Fatalf("router got %q %v", frames, err)
	}
	router.SendMessage(frames[0], ack)
	if m, _, err := d.Recv(ctx); err != nil || !proto.Equal(m, &msglib.Ack{Ok: true}) {
		t.Fatalf("dealer got %v %v", m, err)
	}
}
