package registry_test

import (
	"testing"

	"github.com/dividere-go/dividere/internal/compiletest"
)

// A server's option given to a client, or a client's to a server, is a
// compile error; the options of both go to either, and the bridged
// options are typed to what they reach.
func TestOptionScoping(t *testing.T) {
	const head = "package main\n\nimport (\n\t\"log/slog\"\n\n\t\"github.com/dividere-go/dividere/connection\"\n\t\"github.com/dividere-go/dividere/messaging\"\n\t\"github.com/dividere-go/dividere/registry\"\n)\n\n" +
		"var _, _, _ = slog.Default, connection.WithLinger, messaging.WithTypes\n\n"
	compiletest.Check(t,
		compiletest.Case{Name: "options for both, and each its own", Src: head + `func main() {
	st := registry.NewMemoryStore()
	s, _ := registry.NewServer(registry.WithLogger(slog.Default()), registry.WithStore(st),
		registry.WithEndpoints("tcp://*:0", "", ""), registry.WithConnectionOptions(connection.WithLinger(0)),
		registry.WithRegistrars("k"), registry.WithLookupKeys("k"), registry.WithWorkers(2),
		registry.WithSweepInterval(0), registry.WithDefaultTTL(0))
	registry.NewClient(registry.WithLogger(slog.Default()), registry.WithStore(st),
		registry.WithEndpoints(s.Endpoints()), registry.WithConnectionOptions(connection.WithLinger(0)),
		registry.WithAddress("localhost:5000"), registry.WithRetry(0, 0, 0), registry.WithFailoverTimeout(0),
		registry.WithMessagingOptions(messaging.WithLogger(slog.Default())))
}
`},
		compiletest.Case{Name: "a server's option to NewClient", Want: "does not implement registry.ClientOption", Src: head + `func main() {
	registry.NewClient(registry.WithRegistrars("k"))
}
`},
		compiletest.Case{Name: "a client's option to NewServer", Want: "does not implement registry.ServerOption", Src: head + `func main() {
	registry.NewServer(registry.WithAddress("localhost:5000"))
}
`},
		compiletest.Case{Name: "a subscriber's option to Call's requests", Want: "does not implement messaging.RequestOption", Src: head + `func main() {
	registry.NewClient(registry.WithMessagingOptions(messaging.WithTypes()))
}
`},
		compiletest.Case{Name: "a subscriber's socket option to every socket", Want: "does not implement connection.Option", Src: head + `func main() {
	registry.NewServer(registry.WithConnectionOptions(connection.WithTopics("x")))
}
`},
	)
}
