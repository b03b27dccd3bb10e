// Command greeter is the service of the README's walkthrough: it takes a
// port the system picks, registers as "greeter" with the name service,
// and answers greet.Hello with a greet.Greeting until interrupted.
//
//	go run ./examples/greeter -registry localhost:5000
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/examples/greeter/greetpb"
	"github.com/dividere-go/dividere/messaging"
	"github.com/dividere-go/dividere/registry"
	"github.com/dividere-go/dividere/service"
)

func main() {
	reg := flag.String("registry", os.Getenv("DIVIDERE_REGISTRY"), "name service host:port (default $DIVIDERE_REGISTRY, else localhost:5000)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *reg); err != nil {
		fmt.Fprintln(os.Stderr, "greeter:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, reg string) error {
	var opts []registry.ClientOption
	if reg != "" {
		opts = append(opts, registry.WithAddress(reg))
	}
	svc, err := service.New(nil, service.WithName("greeter"), service.WithVersion("1.0"), service.WithRegistry(opts...))
	if err != nil {
		return err
	}
	messaging.Handle(svc, func(ctx context.Context, h *greetpb.Hello, _ messaging.Peer) (*greetpb.Greeting, error) {
		if h.Name == "" {
			return nil, messaging.Errorf(messaging.InvalidArgument, "a Hello needs a name")
		}
		return &greetpb.Greeting{Text: "hello, " + h.Name}, nil
	})
	fmt.Printf("greeter: answering on %s (Ctrl-C stops)\n", svc.Instance().Endpoint())
	if err := svc.Serve(ctx); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, connection.ErrServerClosed) {
		return err
	}
	return nil
}
