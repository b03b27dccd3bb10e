package metrics_test

import (
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dividere-go/dividere/metrics"
	"github.com/dividere-go/dividere/patterns"
)

// A broker's counters, as Prometheus scrapes them, and its readiness.
func Example() {
	m := metrics.New(prometheus.NewRegistry())
	b, err := patterns.NewBroker("@tcp://127.0.0.1:0", "@tcp://127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer b.Close()
	metrics.Add(m, "jobs", b.Stats)
	h := m.Handler(func() error {
		if b.Stats().Workers == 0 {
			return errors.New("no live worker")
		}
		return nil
	})

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if strings.HasPrefix(line, "dividere_broker_workers") {
			fmt.Println(line)
		}
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	fmt.Println(rec.Code, strings.TrimSpace(rec.Body.String()))
	// Output:
	// dividere_broker_workers{broker="jobs"} 0
	// 503 not ready: no live worker
}
