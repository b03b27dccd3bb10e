// Package benchkit holds the measuring loops the benchmarks of every
// layer share, so that raw libzmq and each layer are measured the same way.
package benchkit

import (
	"sync"
	"testing"
)

// Window bounds how far a sender runs ahead of its receiver in Stream, so
// that nothing is dropped at a high-water mark and both sides are
// measured at the same sustained rate.
const Window = 20_000

// Stream measures a one-way stream of b.N messages: send is called b.N
// times on the benchmark's goroutine and recv b.N times on another. The
// first error from either side fails the benchmark.
func Stream(b *testing.B, send, recv func() error) {
	b.Helper()
	progress := make(chan int, b.N/Window+2)
	errc := make(chan error, 1)
	b.ResetTimer()
	go func() {
		for i := 1; i <= b.N; i++ {
			if err := recv(); err != nil {
				errc <- err
				return
			}
			if i%Window == 0 {
				progress <- i
			}
		}
		errc <- nil
	}()
	acked := 0
	for i := 0; i < b.N; i++ {
		for i-acked >= 2*Window {
			select {
			case acked = <-progress:
			case err := <-errc:
				b.Fatalf("receiver stopped after %d: %v", acked, err)
			}
		}
		if err := send(); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
}

// Pipeline measures b.N request/reply exchanges with up to depth requests
// outstanding: send is called b.N times, recv b.N times, both on the
// benchmark's goroutine.
func Pipeline(b *testing.B, depth int, send, recv func() error) {
	b.Helper()
	b.ResetTimer()
	sent, got := 0, 0
	for got < b.N {
		for sent < b.N && sent-got < depth {
			if err := send(); err != nil {
				b.Fatal(err)
			}
			sent++
		}
		if err := recv(); err != nil {
			b.Fatal(err)
		}
		got++
	}
	b.StopTimer()
}

// Spread measures b.N calls of call spread over workers goroutines (call
// i runs on worker i%workers) and reports the rate as unit ("lookups/s").
// The first error fails the benchmark.
func Spread(b *testing.B, workers int, unit string, call func(worker, i int) error) {
	var wg sync.WaitGroup
	b.ResetTimer()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < b.N; i += workers {
				if err := call(w, i); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), unit)
}
