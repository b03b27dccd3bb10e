// Command loadbalancing runs the load-balancing pattern: a broker, three
// workers (one of them unreliable) and two retrying clients.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dividere-go/dividere/patterns"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	beat := patterns.WithHeartbeat(200*time.Millisecond, 600*time.Millisecond)
	b, err := patterns.NewBroker("tcp://*:0", "tcp://*:0", beat)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	defer wg.Wait() // every server has returned
	wg.Add(1)
	go func() { defer wg.Done(); b.Serve(ctx) }()
	defer b.Close()

	for i := range 3 {
		var n atomic.Int64
		w, err := patterns.NewWorker(b.Backend(), func(_ context.Context, req []byte) ([]byte, error) {
			if i == 2 && n.Add(1)%2 == 0 {
				return nil, patterns.ErrDrop // the unreliable one drops every other request
			}
			return fmt.Appendf(nil, "%s done by worker %d", req, i), nil
		}, beat)
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() { defer wg.Done(); w.Serve(ctx) }()
		defer w.Close()
	}
	if err := b.WaitWorkers(ctx, 3); err != nil {
		return err
	}
	var cwg sync.WaitGroup
	errs := make(chan error, 2)
	var mu sync.Mutex
	for c := range 2 {
		client, err := patterns.NewClient(b.Frontend(), patterns.WithRetry(300*time.Millisecond, 5, 0))
		if err != nil {
			return err
		}
		defer client.Close()
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			for j := range 5 {
				rep, err := client.Request(ctx, fmt.Appendf(nil, "client %d job %d", c, j))
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				fmt.Fprintln(out, string(rep))
				mu.Unlock()
			}
		}()
	}
	cwg.Wait()
	close(errs)
	for err := range errs {
		return err
	}
	st := b.Stats()
	fmt.Fprintf(out, "broker: %d requests (resends included), %d replies\n", st.Requests, st.Replies)
	return nil
}
