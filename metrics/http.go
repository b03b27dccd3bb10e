package metrics

import (
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler serves the metrics and the health checks:
//
//   - /metrics: the Prometheus text format;
//   - /healthz: liveness, 200 while the process serves HTTP at all;
//   - /readyz: readiness, 200 when ready returns nil, else 503 with its
//     error (nil ready: always ready).
//
// A broker, for one, is ready once it has a live worker:
//
//	m.Handler(func() error {
//		if b.Stats().Workers == 0 {
//			return errors.New("no live worker")
//		}
//		return nil
//	})
func (m *Metrics) Handler(ready func() error) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if ready != nil {
			if err := ready(); err != nil {
				http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		fmt.Fprintln(w, "ready")
	})
	return mux
}
