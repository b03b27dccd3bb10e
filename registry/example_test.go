package registry_test

import (
	"context"
	"fmt"
	"time"

	"github.com/dividere-go/dividere/registry"
)

func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	// A name service on ports the OS picks (by default: 5000 and 5001).
	srv, err := registry.NewServer(registry.WithEndpoints("@tcp://127.0.0.1:0", "@tcp://127.0.0.1:0", ""))
	if err != nil {
		panic(err)
	}
	go srv.Serve(context.Background())
	defer srv.Close()

	c, err := registry.NewClient(registry.WithEndpoints(srv.Endpoints()))
	if err != nil {
		panic(err)
	}
	defer c.Close()

	for _, port := range []int{7001, 7002} {
		c.Register(ctx, registry.Instance{Service: "pricing", Server: "10.0.0.5", Port: port, Version: "1.4",
			TTL: 5 * time.Second}) // renew within 5 s or vanish
	}
	for range 3 {
		in, err := c.Lookup(ctx, "pricing")
		if err != nil {
			panic(err)
		}
		fmt.Println(in.Endpoint(), in.Version)
	}
	_, err = c.Lookup(ctx, "billing")
	fmt.Println(err)
	// Output:
	// tcp://10.0.0.5:7001 1.4
	// tcp://10.0.0.5:7002 1.4
	// tcp://10.0.0.5:7001 1.4
	// dividere: service not found: "billing"
}
