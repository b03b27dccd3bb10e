package service_test

import (
	"context"
	"fmt"
	"time"

	"github.com/dividere-go/dividere/internal/testpb"
	"github.com/dividere-go/dividere/messaging"
	"github.com/dividere-go/dividere/registry"
	"github.com/dividere-go/dividere/service"
)

// Greeter is a service implementation; its qualified type name is the
// service's default name.
type Greeter struct{}

// Register registers the handlers: service.New calls it.
func (Greeter) Register(m *messaging.Mux) {
	messaging.Handle(m, func(ctx context.Context, req *testpb.StringMsg, _ messaging.Peer) (*testpb.StringMsg, error) {
		return &testpb.StringMsg{Value: "hello, " + req.Value}, nil
	})
}

func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ns, err := registry.NewServer(registry.WithEndpoints("@tcp://127.0.0.1:0", "@tcp://127.0.0.1:0", ""))
	if err != nil {
		panic(err)
	}
	go ns.Serve(ctx)
	defer ns.Close()
	where := service.WithRegistry(registry.WithEndpoints(ns.Endpoints()))

	svc, err := service.New(Greeter{}, service.WithHost("127.0.0.1"), where)
	if err != nil {
		panic(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); svc.Serve(runCtx) }()
	defer func() { stop(); <-done }()

	// A client finds the service by name and calls it.
	c, _ := registry.NewClient(registry.WithEndpoints(ns.Endpoints()))
	defer c.Close()
	var in registry.Instance
	for {
		if in, err = c.Lookup(ctx, svc.Instance().Service); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond) // registration is under way
	}
	req, _ := messaging.NewRequest(in.Endpoint())
	defer req.Close()
	rep, err := messaging.Call[*testpb.StringMsg](ctx, req, &testpb.StringMsg{Value: "world"})
	if err != nil {
		panic(err)
	}
	fmt.Println(svc.Instance().Service)
	fmt.Println(rep.Value)
	// Output:
	// github.com/dividere-go/dividere/service_test.Greeter
	// hello, world
}
