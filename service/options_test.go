package service_test

import (
	"testing"

	"github.com/dividere-go/dividere/internal/compiletest"
)

// The options a Service passes on are typed to what they reach: a name
// server's option to its client, a subscriber's to its socket, an
// endpoint's to its Reactor are compile errors.
func TestOptionScoping(t *testing.T) {
	p := compiletest.Program{Imports: []string{"log/slog", "time",
		"github.com/dividere-go/dividere/connection", "github.com/dividere-go/dividere/messaging",
		"github.com/dividere-go/dividere/registry", "github.com/dividere-go/dividere/service"}}
	compiletest.Check(t,
		p.Case("every option", "", `service.New(nil, service.WithName("n"), service.WithVersion("1"), service.WithMetadata(nil), service.WithHost("h"),
		service.WithInstanceID("i"), service.WithTTL(time.Second), service.WithEndpoint("tcp://*:0"), service.WithHTTP("", nil),
		service.WithLogger(slog.Default()), service.WithRegistry(registry.WithLogger(slog.Default()), registry.WithAddress("h:1")),
		service.WithConnectionOptions(connection.WithLinger(0), connection.WithUserID()),
		service.WithReactorOptions(messaging.WithWorkers(2), messaging.WithLogger(slog.Default())))`),
		p.Case("a name server's option to the client", "does not implement registry.ClientOption",
			`service.New(nil, service.WithRegistry(registry.WithRegistrars("k")))`),
		p.Case("a registry option to New", "does not implement service.Option",
			`service.New(nil, registry.WithLogger(slog.Default()))`),
		p.Case("a subscriber's option to the service's socket", "does not implement connection.ResponseOption",
			`service.New(nil, service.WithConnectionOptions(connection.WithTopics("x")))`),
		p.Case("an endpoint's option to the Reactor", "does not implement messaging.ReactorOption",
			`service.New(nil, service.WithReactorOptions(messaging.WithTypes()))`),
	)
}
