package patterns_test

import (
	"context"
	"fmt"
	"time"

	"github.com/dividere-go/dividere/patterns"
)

// A broker between a client and a worker: the client's request survives
// a dead worker by being sent again, and the worker's reply finds its way
// back to the client.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	broker, err := patterns.NewBroker("tcp://*:0", "tcp://*:0")
	if err != nil {
		panic(err)
	}
	go broker.Serve(ctx)
	defer broker.Close()

	worker, err := patterns.NewWorker(broker.Backend(), func(_ context.Context, req []byte) ([]byte, error) {
		return append([]byte("processed "), req...), nil
	})
	if err != nil {
		panic(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); worker.Serve(ctx) }()
	defer func() { worker.Close(); <-done }()

	client, err := patterns.NewClient(broker.Frontend(), patterns.WithRetry(time.Second, 3, 0))
	if err != nil {
		panic(err)
	}
	defer client.Close()
	reply, err := client.Request(ctx, []byte("order 42"))
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s\n", reply)
	// Output: processed order 42
}
