// Command msgreactor is the original guide's second example in Go: one
// reactor answers requests on a Response and handles events from a
// Subscriber, with typed handlers instead of handle<TypeName> methods.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/messaging"
	"github.com/dividere-go/dividere/msglib"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rep, err := messaging.NewResponse("tcp://*:0")
	if err != nil {
		return err
	}
	defer rep.Close()
	pub, err := messaging.NewPublisher("tcp://*:0")
	if err != nil {
		return err
	}
	defer pub.Close()
	sub, err := messaging.NewSubscriber(pub.Endpoint(), messaging.WithTypes(&msglib.Heartbeat{}, &msglib.ShutdownEvent{}))
	if err != nil {
		return err
	}
	defer sub.Close()

	// Only this process publishes to sub, so a ShutdownEvent on it may
	// stop the reactor; one sent to rep by any peer is ignored.
	r := messaging.NewReactor([]messaging.Endpoint{rep, sub}, messaging.WithShutdownFrom(sub))
	messaging.Handle(r, func(ctx context.Context, m *msglib.ServiceLookupReq, _ messaging.Peer) (*msglib.ServiceLookupRep, error) {
		return &msglib.ServiceLookupRep{ServiceName: m.ServiceName, Server: "localhost", Port: 6000}, nil
	})
	messaging.HandleMessage(r, func(ctx context.Context, m *msglib.Heartbeat, from messaging.Peer) error {
		fmt.Fprintln(out, "event: heartbeat from", m.Id)
		return nil
	})
	done := make(chan error, 1)
	go func() { done <- r.Serve(ctx) }() // returns on the ShutdownEvent below

	req, err := messaging.NewRequest(rep.Endpoint())
	if err != nil {
		return err
	}
	defer req.Close()
	for _, name := range []string{"orders", "billing"} {
		rep, err := messaging.Call[*msglib.ServiceLookupRep](ctx, req, &msglib.ServiceLookupReq{ServiceName: name})
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "request: %s is at %s:%d\n", rep.ServiceName, rep.Server, rep.Port)
	}
	if err := pub.WaitSubscribers(ctx, &msglib.ShutdownEvent{}, 1); err != nil {
		return err
	}
	pub.Send(ctx, &msglib.Heartbeat{Id: "worker-1"})
	pub.Send(ctx, &msglib.ShutdownEvent{}) // the reactor stops itself
	if err := <-done; !errors.Is(err, connection.ErrServerClosed) {
		return err
	}
	fmt.Fprintln(out, "reactor stopped:", r.Stats().Handled, "messages handled")
	return nil
}
