package main

import (
	"context"

	"github.com/dividere-go/dividere/registry"
)

// The name-service rows: dividere's name service (registry.Server, as
// the dividere registry command runs it, on the in-memory store) in a
// process of its own, answering lookups from a process of clients.

// registryService is the one service registered, which every lookup
// asks for.
const registryService = "bench.Echo"

// runRegistry runs a name service with three instances of
// registryService registered, and says READY with its request endpoint.
func runRegistry() error {
	s, err := registry.NewServer(registry.WithEndpoints("@tcp://127.0.0.1:0", "@tcp://127.0.0.1:0", ""))
	if err != nil {
		return err
	}
	go s.Serve(context.Background())
	c, err := registry.NewClient(registry.WithEndpoints(s.Endpoints()))
	if err != nil {
		return err
	}
	for i := range 3 {
		if err := c.Register(context.Background(), registry.Instance{Service: registryService, Server: "127.0.0.1", Port: 7000 + i}); err != nil {
			return err
		}
	}
	c.Close()
	requests, _, _ := s.Endpoints()
	say("READY %s", requests)
	untilParentGoes()
	return nil
}
