package metrics_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dividere-go/dividere/messaging"
	"github.com/dividere-go/dividere/metrics"
	"github.com/dividere-go/dividere/msglib"
)

// What metrics add to a request, in process: the Reactor echo with and
// without the observer (a tool for finding costs; the figure that counts
// is the benchmark suite's "Reactor, metrics on" row).
func BenchmarkReactorEcho(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := map[bool]string{false: "off", true: "on"}[on]
		b.Run(name, func(b *testing.B) {
			rep, _ := messaging.NewResponse("@tcp://127.0.0.1:0")
			req, _ := messaging.NewRequest(rep.Endpoint())
			defer req.Close()
			defer rep.Close()
			var opts []messaging.ReactorOption
			if on {
				m := metrics.New(prometheus.NewRegistry())
				metrics.Add(m, rep.Name(), rep.Stats)
				metrics.Add(m, rep.Name(), rep.MessageStats)
				opts = append(opts, messaging.WithObserver(m.Observe))
			}
			r := messaging.NewReactor([]messaging.Endpoint{rep}, opts...)
			messaging.Handle(r, func(_ context.Context, t *msglib.Text, _ messaging.Peer) (*msglib.Text, error) { return t, nil })
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); r.Serve(ctx) }()
			defer func() { cancel(); <-done }()
			m := &msglib.Text{Text: "hello"}
			b.ResetTimer()
			for range b.N {
				if _, err := messaging.Call[*msglib.Text](ctx, req, m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// The observer alone, per handled message.
func BenchmarkObserver(b *testing.B) {
	m := metrics.New(prometheus.NewRegistry())
	b.ResetTimer()
	for range b.N {
		m.Observe("dividere.Text", 40*time.Microsecond, nil)
	}
}
