package patterns_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/patterns"
)

// Requests per second through the broker with 1, 2 and 4 workers, and
// directly to an echoing Router, from one Client with 64 requests in
// flight, 16-byte payloads, tcp on loopback:
//
//	go test -run '^$' -bench . -benchtime 3s ./patterns
func BenchmarkBroker(b *testing.B) {
	const inflight = 64
	payload := []byte("0123456789abcdef")
	b.Run("direct", func(b *testing.B) {
		r, _ := connection.NewRouter("@tcp://127.0.0.1:0")
		defer r.Close()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			for {
				m, err := r.Recv(ctx)
				if err != nil {
					return
				}
				r.Send(ctx, m...)
			}
		}()
		c, _ := patterns.NewClient(r.Endpoint())
		defer c.Close()
		parallelRequests(b, c, inflight, payload)
	})
	for _, workers := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			br, _ := patterns.NewBroker("@tcp://127.0.0.1:0", "@tcp://127.0.0.1:0")
			defer br.Close()
			ctx, cancel := context.WithCancel(context.Background())
			go br.Serve(ctx)
			var wg sync.WaitGroup
			for range workers {
				w, _ := patterns.NewWorker(br.Backend(), func(_ context.Context, req []byte) ([]byte, error) { return req, nil },
					patterns.WithCapacity(inflight))
				wg.Add(1)
				go func() { defer wg.Done(); w.Serve(ctx) }()
			}
			defer func() { cancel(); wg.Wait() }()
			if err := br.WaitWorkers(ctx, workers); err != nil {
				b.Fatal(err)
			}
			c, _ := patterns.NewClient(br.Frontend())
			defer c.Close()
			parallelRequests(b, c, inflight, payload)
		})
	}
}

// parallelRequests makes b.N requests from g goroutines sharing c.
func parallelRequests(b *testing.B, c *patterns.Client, g int, payload []byte) {
	ctx := context.Background()
	var wg sync.WaitGroup
	per := b.N/g + 1
	b.ResetTimer()
	for range g {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range per {
				if _, err := c.Request(ctx, payload); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(per*g)/b.Elapsed().Seconds(), "req/s")
}
