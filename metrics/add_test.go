package metrics_test

import (
	"testing"

	"github.com/dividere-go/dividere/internal/compiletest"
)

// Add takes the Stats of every kind it knows, and the compiler refuses
// anything else, rather than a scrape that skips it.
func TestAddTakesKnownStatsOnly(t *testing.T) {
	const prelude = `package main

import (
	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/messaging"
	"github.com/dividere-go/dividere/metrics"
	"github.com/dividere-go/dividere/patterns"
	"github.com/dividere-go/dividere/registry"
	"github.com/dividere-go/dividere/service"
)

var (
	_ *connection.Dealer
	_ *messaging.Request
	_ *patterns.Broker
	_ *registry.Server
	_ *service.Service
)

func main() {
	m := metrics.New(nil)
	_ = m
`
	c := func(name, body, want string) compiletest.Case {
		return compiletest.Case{Name: name, Src: prelude + body + "\n}\n", Want: want}
	}
	compiletest.Check(t,
		c("every kind dividere counts", `
	var (
		d   *connection.Dealer
		req *messaging.Request
		r   *messaging.Reactor
		b   *patterns.Broker
		w   *patterns.MsgWorker
		ns  *registry.Server
		svc *service.Service
	)
	metrics.Add(m, "d", d.Stats)
	metrics.Add(m, "req", req.Stats)
	metrics.Add(m, "req", req.MessageStats)
	metrics.Add(m, "r", r.Stats)
	metrics.Add(m, "b", b.Stats)
	metrics.Add(m, "w", w.HandlerStats)
	metrics.Add(m, "ns", ns.Stats)
	metrics.Add(m, "svc", svc.Stats)`, ""),
		c("counters metrics does not know", `metrics.Add(m, "w", (*patterns.Worker)(nil).Stats)`, "does not satisfy"),
		c("not counters at all", `metrics.Add(m, "x", func() int { return 0 })`, "does not satisfy"),
	)
}
