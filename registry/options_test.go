package registry_test

import (
	"testing"

	"github.com/dividere-go/dividere/internal/compiletest"
)

// A server's option given to a client, or a client's to a server, is a
// compile error; the options of both go to either, and the bridged
// options are typed to what they reach.
func TestOptionScoping(t *testing.T) {
	p := compiletest.Program{Imports: []string{"log/slog",
		"github.com/dividere-go/dividere/connection", "github.com/dividere-go/dividere/messaging",
		"github.com/dividere-go/dividere/registry"}}
	compiletest.Check(t,
		p.Case("options for both, and each its own", "", `st := registry.NewMemoryStore()
	s, _ := registry.NewServer(registry.WithLogger(slog.Default()), registry.WithStore(st),
		registry.WithEndpoints("tcp://*:0", "", ""), registry.WithConnectionOptions(connection.WithLinger(0)),
		registry.WithRegistrars("k"), registry.WithLookupKeys("k"), registry.WithWorkers(2),
		registry.WithSweepInterval(0), registry.WithDefaultTTL(0))
	registry.NewClient(registry.WithLogger(slog.Default()), registry.WithStore(st),
		registry.WithEndpoints(s.Endpoints()), registry.WithConnectionOptions(connection.WithLinger(0)),
		registry.WithAddress("localhost:5000"), registry.WithRetry(0, 0, 0), registry.WithFailoverTimeout(0),
		registry.WithMessagingOptions(messaging.WithLogger(slog.Default())))`),
		p.Case("a server's option to NewClient", "does not implement registry.ClientOption",
			`registry.NewClient(registry.WithRegistrars("k"))`),
		p.Case("a client's option to NewServer", "does not implement registry.ServerOption",
			`registry.NewServer(registry.WithAddress("localhost:5000"))`),
		p.Case("a subscriber's option to Call's requests", "does not implement messaging.RequestOption",
			`registry.NewClient(registry.WithMessagingOptions(messaging.WithTypes()))`),
		p.Case("a subscriber's socket option to every socket", "does not implement connection.Option",
			`registry.NewServer(registry.WithConnectionOptions(connection.WithTopics("x")))`),
	)
}
