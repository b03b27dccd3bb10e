package main

import (
	"context"
	"testing"
	"time"

	"github.com/dividere-go/dividere/examples/greeter/greetpb"
	"github.com/dividere-go/dividere/internal/testutil"
	"github.com/dividere-go/dividere/messaging"
	"github.com/dividere-go/dividere/registry"
)

func TestMain(m *testing.M) { testutil.VerifyNoLeaks(m) }

// The greeter registers with a name service and answers by name; an
// empty name is refused with INVALID_ARGUMENT.
func TestGreeter(t *testing.T) {
	ns, err := registry.NewServer(registry.WithEndpoints("@tcp://127.0.0.1:0", "@tcp://127.0.0.1:0", "@tcp://127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	testutil.Serve(t, ns)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	requests, _, _ := ns.Endpoints()
	go func() { done <- run(sctx, requests) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	c, err := registry.NewClient(registry.WithEndpoints(ns.Endpoints()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var got *greetpb.Greeting
	for {
		got, err = registry.Call[*greetpb.Greeting](ctx, c, "greeter", &greetpb.Hello{Name: "ann"})
		if err == nil || ctx.Err() != nil {
			break
		}
		select { // not registered yet: ask again
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err != nil || got.Text != "hello, ann" {
		t.Fatalf("greeter: %v %v", got, err)
	}
	if _, err := registry.Call[*greetpb.Greeting](ctx, c, "greeter", &greetpb.Hello{}); messaging.CodeOf(err) != messaging.InvalidArgument {
		t.Fatalf("an empty name: %v", err)
	}
}
