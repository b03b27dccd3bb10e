package tracing_test

import (
	"testing"

	"github.com/dividere-go/dividere/internal/compiletest"
)

// Each option goes where it can trace: the broker's to a Broker only,
// the sender's and the handler's through the messaging bridges.
func TestOptionsGoWhereTheyTrace(t *testing.T) {
	p := compiletest.Program{
		Imports: []string{"context", "go.opentelemetry.io/otel/trace/noop",
			"github.com/dividere-go/dividere/patterns", "github.com/dividere-go/dividere/tracing"},
		Decls:   "func echo(_ context.Context, req []byte) ([]byte, error) { return req, nil }",
		Prelude: "tp := noop.NewTracerProvider()",
	}
	c := func(name, body, want string) compiletest.Case { return p.Case(name, want, body) }
	compiletest.Check(t,
		c("broker, worker and client traced", `
	patterns.NewBroker("tcp://*:0", "tcp://*:0", tracing.Broker(tp))
	patterns.NewMsgWorker("tcp://localhost:1", patterns.WithReactorOptions(tracing.Middleware(tp)))
	patterns.NewClient("tcp://localhost:1", patterns.WithMessagingOptions(tracing.Outgoing(tp)))`, ""),
		c("the broker's option for a worker", `patterns.NewWorker("tcp://localhost:1", echo, tracing.Broker(tp))`, "does not implement"),
		c("the broker's option for a client", `patterns.NewClient("tcp://localhost:1", tracing.Broker(tp))`, "does not implement"),
	)
}
