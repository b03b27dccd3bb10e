package service_test

import (
	"testing"

	"github.com/dividere-go/dividere/internal/compiletest"
)

// The options a Service passes on are typed to what they reach: a name
// server's option to its client, a subscriber's to its socket, an
// endpoint's to its Reactor are compile errors.
func TestOptionScoping(t *testing.T) {
	const head = "package main\n\nimport (\n\t\"log/slog\"\n\t\"time\"\n\n\t\"github.com/dividere-go/dividere/connection\"\n\t\"github.com/dividere-go/dividere/messaging\"\n\t\"github.com/dividere-go/dividere/registry\"\n\t\"github.com/dividere-go/dividere/service\"\n)\n\n" +
		"var _, _, _, _, _ = slog.Default, time.Second, connection.WithLinger, messaging.WithTypes, registry.WithLogger\n\n"
	compiletest.Check(t,
		compiletest.Case{Name: "every option", Src: head + `func main() {
	service.New(nil, service.WithName("n"), service.WithVersion("1"), service.WithMetadata(nil), service.WithHost("h"),
		service.WithInstanceID("i"), service.WithTTL(time.Second), service.WithEndpoint("tcp://*:0"), service.WithHTTP("", nil),
		service.WithLogger(slog.Default()), service.WithRegistry(registry.WithLogger(slog.Default()), registry.WithAddress("h:1")),
		service.WithConnectionOptions(connection.WithLinger(0), connection.WithUserID()),
		service.WithReactorOptions(messaging.WithWorkers(2), messaging.WithLogger(slog.Default())))
}
`},
		compiletest.Case{Name: "a name server's option to the client", Want: "does not implement registry.ClientOption", Src: head + `func main() {
	service.New(nil, service.WithRegistry(registry.WithRegistrars("k")))
}
`},
		compiletest.Case{Name: "a registry option to New", Want: "does not implement service.Option", Src: head + `func main() {
	service.New(nil, registry.WithLogger(slog.Default()))
}
`},
		compiletest.Case{Name: "a subscriber's option to the service's socket", Want: "does not implement connection.ResponseOption", Src: head + `func main() {
	service.New(nil, service.WithConnectionOptions(connection.WithTopics("x")))
}
`},
		compiletest.Case{Name: "an endpoint's option to the Reactor", Want: "does not implement messaging.ReactorOption", Src: head + `func main() {
	service.New(nil, service.WithReactorOptions(messaging.WithTypes()))
}
`},
	)
}
