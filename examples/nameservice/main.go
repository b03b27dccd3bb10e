// Command nameservice runs a name service and a service, and finds and
// calls the service by name, as the original's service layer does.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/dividere-go/dividere/messaging"
	"github.com/dividere-go/dividere/msglib"
	"github.com/dividere-go/dividere/registry"
	"github.com/dividere-go/dividere/service"
)

// Directory is the example service: it answers lookups of people.
type Directory struct{}

// Register registers the handlers: service.New calls it.
func (Directory) Register(m *messaging.Mux) {
	messaging.Handle(m, func(ctx context.Context, q *msglib.ServiceLookupReq, _ messaging.Peer) (*msglib.ServiceLookupRep, error) {
		return &msglib.ServiceLookupRep{ServiceName: q.ServiceName, Server: "desk 42"}, nil
	})
}

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	// Ports the OS picks, so the example never collides with a name
	// service already running on 5000/5001.
	ns, err := registry.NewServer(registry.WithEndpoints("@tcp://127.0.0.1:0", "@tcp://127.0.0.1:0", ""))
	if err != nil {
		return err
	}
	go ns.Serve(ctx)
	defer ns.Close()
	where := service.WithRegistry(registry.WithEndpoints(ns.Endpoints()))

	svc, err := service.New(Directory{}, service.WithHost("127.0.0.1"), service.WithVersion("1.0"), where)
	if err != nil {
		return err
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); svc.Serve(sctx) }()
	defer func() { stop(); <-done }()

	c, err := registry.NewClient(registry.WithEndpoints(ns.Endpoints()))
	if err != nil {
		return err
	}
	defer c.Close()
	var in registry.Instance
	for {
		if in, err = c.Lookup(ctx, svc.Instance().Service); err == nil {
			break
		}
		if !errors.Is(err, registry.ErrNotFound) {
			return err
		}
		time.Sleep(10 * time.Millisecond) // the service is registering
	}
	fmt.Fprintf(out, "found %s (version %s)\n", in.Service, in.Version)
	req, err := messaging.NewRequest(in.Endpoint())
	if err != nil {
		return err
	}
	defer req.Close()
	rep, err := messaging.Call[*msglib.ServiceLookupRep](ctx, req, &msglib.ServiceLookupReq{ServiceName: "ada"})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "ada sits at %s\n", rep.Server)
	return nil
}
