package patterns_test

import (
	"testing"

	"github.com/dividere-go/dividere/internal/compiletest"
)

// program is the frame of every case: a byte handler for the workers.
var program = compiletest.Program{
	Imports: []string{"context", "log/slog", "time",
		"github.com/dividere-go/dividere/connection", "github.com/dividere-go/dividere/messaging",
		"github.com/dividere-go/dividere/patterns"},
	Decls: "func echo(_ context.Context, req []byte) ([]byte, error) { return req, nil }",
}

// What each option is for is the compiler's to check: every kind takes
// the options its interface names, and an option for another kind does
// not compile.
func TestOptionsScopedByKind(t *testing.T) {
	c := func(name, body, want string) compiletest.Case { return program.Case(name, want, body) }
	const refused = "does not implement"
	compiletest.Check(t,
		c("every kind takes its options", `
	all := []patterns.Option{patterns.WithLogger(slog.Default()), patterns.WithConnectionOptions(connection.WithLinger(0))}
	patterns.NewBroker("tcp://*:0", "tcp://*:0", all[0], all[1],
		patterns.WithHeartbeat(time.Second, 0), patterns.WithRetry(time.Second, 0, 0),
		patterns.WithQueue(10, time.Second, 1<<20), patterns.WithForwardHook(func(context.Context, *messaging.Header) {}))
	worker := []patterns.WorkerOption{all[0], patterns.WithHeartbeat(time.Second, 0), patterns.WithCapacity(2),
		patterns.WithDedup(10, time.Second, 1<<20), patterns.WithIdentity("w"), patterns.WithReconnectBackoffMax(time.Second)}
	patterns.NewWorker("tcp://localhost:1", echo, worker...)
	patterns.NewMsgWorker("tcp://localhost:1", worker[1], worker[2], patterns.WithReactorOptions(messaging.WithHiddenErrors()))
	patterns.NewClient("tcp://localhost:1", all[0], patterns.WithRetry(time.Second, 3, 0), patterns.WithIdentity("c"),
		patterns.WithMessagingOptions(messaging.WithOutgoing(nil)))`, ""),
		c("a queue for a worker", `patterns.NewWorker("tcp://localhost:1", echo, patterns.WithQueue(1, 0, 0))`, refused),
		c("a forward hook for a client", `patterns.NewClient("tcp://localhost:1", patterns.WithForwardHook(nil))`, refused),
		c("a capacity for a broker", `patterns.NewBroker("tcp://*:0", "tcp://*:0", patterns.WithCapacity(4))`, refused),
		c("dedup for a client", `patterns.NewClient("tcp://localhost:1", patterns.WithDedup(1, 0, 0))`, refused),
		c("an identity for a broker", `patterns.NewBroker("tcp://*:0", "tcp://*:0", patterns.WithIdentity("b"))`, refused),
		c("heartbeats for a client", `patterns.NewClient("tcp://localhost:1", patterns.WithHeartbeat(time.Second, 0))`, refused),
		c("retries for a worker", `patterns.NewWorker("tcp://localhost:1", echo, patterns.WithRetry(time.Second, 1, 0))`, refused),
		c("reactor options for a byte worker", `patterns.NewWorker("tcp://localhost:1", echo, patterns.WithReactorOptions())`, refused),
		c("reactor options for a client", `patterns.NewClient("tcp://localhost:1", patterns.WithReactorOptions())`, refused),
		c("messaging options for a worker", `patterns.NewMsgWorker("tcp://localhost:1", patterns.WithMessagingOptions())`, refused),
		c("a socket identity past WithIdentity", `patterns.WithConnectionOptions(connection.WithIdentity("x"))`, refused),
		c("a subscriber's option for the sockets", `patterns.WithConnectionOptions(connection.WithTopics("x"))`, refused),
	)
}
