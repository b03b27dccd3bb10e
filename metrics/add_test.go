package metrics_test

import (
	"testing"

	"github.com/dividere-go/dividere/internal/compiletest"
)

// Add takes the Stats of every kind it knows, and the compiler refuses
// anything else, rather than a scrape that skips it.
func TestAddTakesKnownStatsOnly(t *testing.T) {
	p := compiletest.Program{
		Imports: []string{"github.com/dividere-go/dividere/connection", "github.com/dividere-go/dividere/messaging",
			"github.com/dividere-go/dividere/metrics", "github.com/dividere-go/dividere/patterns",
			"github.com/dividere-go/dividere/registry", "github.com/dividere-go/dividere/service"},
		Prelude: "m := metrics.New(nil)\n\t_ = m",
	}
	c := func(name, body, want string) compiletest.Case { return p.Case(name, want, body) }
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
