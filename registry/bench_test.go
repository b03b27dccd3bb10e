package registry_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/dividere-go/dividere/internal/benchkit"
	"github.com/dividere-go/dividere/registry"
	"github.com/dividere-go/dividere/service"
)

// Lookups and registrations per second against one name service on the
// in-memory store, from 8 clients at once, tcp on loopback, serving one
// request at a time or several (WithWorkers):
//
//	go test -run '^$' -bench NameService -benchtime 3s ./registry
func BenchmarkNameService(b *testing.B) {
	const clients = 8
	for _, workers := range []int{1, 8} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			s, err := registry.NewServer(registry.WithEndpoints("@tcp://127.0.0.1:0", "@tcp://127.0.0.1:0", ""),
				registry.WithLogger(quiet), registry.WithWorkers(workers))
			if err != nil {
				b.Fatal(err)
			}
			go s.Serve(context.Background())
			defer s.Close()
			cs := make([]*registry.Client, clients)
			for i := range cs {
				cs[i], _ = registry.NewClient(registry.WithEndpoints(s.Endpoints()), registry.WithLogger(quiet))
				defer cs[i].Close()
			}
			ctx := context.Background()
			for i := range 3 {
				cs[0].Register(ctx, reg("calc", "127.0.0.1", 7000+i, 0))
			}
			b.Run("lookup", func(b *testing.B) {
				benchkit.Spread(b, clients, "lookups/s", func(w, _ int) error { _, err := cs[w].Lookup(ctx, "calc"); return err })
			})
			b.Run("register", func(b *testing.B) {
				benchkit.Spread(b, clients, "registrations/s", func(w, i int) error {
					return cs[w].Register(ctx, reg(fmt.Sprintf("svc-%d", i%1000), "127.0.0.1", 8000+i%1000, time.Minute))
				})
			})
		})
	}
}

// BenchmarkRediscovery: the name service restarts; how long until all N
// services are registered again (ms/restart is the figure to read).
func BenchmarkRediscovery(b *testing.B) {
	for _, n := range []int{10, 100} {
		b.Run(fmt.Sprintf("services=%d", n), func(b *testing.B) {
			first, err := registry.NewServer(registry.WithEndpoints("@tcp://127.0.0.1:0", "@tcp://127.0.0.1:0", ""), registry.WithLogger(quiet))
			if err != nil {
				b.Fatal(err)
			}
			go first.Serve(context.Background())
			reqEP, noticeEP, _ := first.Endpoints()
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			for i := range n {
				svc, err := service.New(nil, service.WithName(fmt.Sprintf("svc-%d", i)), service.WithHost("127.0.0.1"),
					service.WithTTL(time.Hour), service.WithLogger(quiet),
					service.WithRegistry(registry.WithEndpoints(reqEP, noticeEP, ""), registry.WithRetry(100*time.Millisecond, 1, 0)))
				if err != nil {
					b.Fatal(err)
				}
				wg.Add(1)
				go func() { defer wg.Done(); svc.Serve(ctx) }()
			}
			c, _ := registry.NewClient(registry.WithAddress(reqEP), registry.WithRetry(50*time.Millisecond, 1, 0), registry.WithLogger(quiet))
			all := func() bool { l, err := c.List(ctx, ""); return err == nil && len(l) == n }
			for !all() {
				time.Sleep(5 * time.Millisecond)
			}
			cur := first
			var total time.Duration
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				cur.Close()
				b.StartTimer()
				start := time.Now()
				for {
					// The old server's sockets close in the background:
					// retry the bind until the ports are free.
					cur, err = registry.NewServer(registry.WithEndpoints("@"+reqEP, "@"+noticeEP, ""), registry.WithLogger(quiet))
					if err == nil {
						go cur.Serve(context.Background())
						break
					}
					time.Sleep(time.Millisecond)
				}
				for !all() {
					time.Sleep(time.Millisecond)
				}
				total += time.Since(start)
			}
			b.StopTimer()
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/restart")
			cancel()
			wg.Wait()
			c.Close()
			cur.Close()
		})
	}
}
