// Command simplepubsub is the original guide's first example in Go: a
// publisher and a subscriber exchanging Protobuf messages, with no sleep
// for the late joiner.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

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
	pub, err := messaging.NewPublisher("tcp://*:0")
	if err != nil {
		return err
	}
	defer pub.Close()
	sub, err := messaging.NewSubscriber(pub.Endpoint())
	if err != nil {
		return err
	}
	defer sub.Close()
	// The original slept a second here; we wait for the subscription.
	if err := pub.WaitSubscribers(ctx, &msglib.Heartbeat{}, 1); err != nil {
		return err
	}
	for i := range 10 {
		if err := pub.Send(ctx, &msglib.Heartbeat{Id: fmt.Sprintf("msg-%d", i)}); err != nil {
			return err
		}
	}
	for range 10 {
		hb, err := messaging.RecvAs[*msglib.Heartbeat](ctx, sub)
		if err != nil {
			return err
		}
		fmt.Fprintln(out, "received", hb.Id)
	}
	return nil
}
