package main

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/dividere-go/dividere/metrics"
)

// The rows with metrics on or tracing on: the same children as the row
// without, with one of the two turned on the way a user turns it on.
// Their roles end in "m" (metrics) or "t" (tracing): reactorm, reactort,
// brokerm, brokert.

// observed says what a role turns on: 'm' for metrics, 't' for
// tracing, 0 for neither.
func observed(role string) byte {
	if strings.HasPrefix(role, "reactor") || strings.HasPrefix(role, "broker") {
		switch role[len(role)-1] {
		case 'm', 't':
			return role[len(role)-1]
		}
	}
	return 0
}

// newMetrics is the metrics module's Metrics, gathered once a second as
// Prometheus would scrape at the most, for as long as the child lives.
func newMetrics() *metrics.Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := metrics.New(reg)
	go func() {
		for range time.Tick(time.Second) {
			reg.Gather()
		}
	}()
	return m
}

// tracerProvider is the child's OpenTelemetry TracerProvider: every span
// sampled, built and handed to a batching processor, as in production,
// whose exporter then drops them (discard): what tracing costs the
// process, without a collector's cost or an exporter's memory.
var tracerProvider = sync.OnceValue(func() trace.TracerProvider {
	return sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithBatcher(discard{}))
})

// discard is a span exporter that exports nowhere.
type discard struct{}

func (discard) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discard) Shutdown(context.Context) error                             { return nil }
