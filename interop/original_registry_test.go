package interop_test

import (
	"errors"
	"testing"
	"time"

	"github.com/dividere-go/dividere/msglib"
	"github.com/dividere-go/dividere/registry"
)

// The original's services, on a Go name service restarted twice. The Go
// name service used to publish its change notices (ServiceEvent) on the
// notice port, where the original's re-register thread decodes
// everything and died on a type it did not know: after the first notice
// it never registered again, and a second restart lost it for good. The
// notices now go out on a port of their own; the original hears only
// RediscoverReq, and registers again after every restart.
func TestOriginalServicesSurviveNameServiceRestarts(t *testing.T) {
	start := func() *registry.Server {
		t.Helper()
		s, err := registry.NewServer(registry.WithEndpoints("@tcp://127.0.0.1:5000", "@tcp://127.0.0.1:5001"),
			registry.WithServerLogger(quiet)) // changes on 5002
		if err != nil {
			t.Fatalf("the original's services need the name service on ports 5000 and 5001 (and its changes go to 5002): %v", err)
		}
		return s
	}
	ns := start()
	defer func() { ns.Close() }()
	ctx := tctx(t, 120*time.Second)
	var names []string
	for _, n := range []string{"Alpha", "Beta"} {
		p := startOriginal(t, "service", n)
		defer p.Stdin.Close()
		names = append(names, p.Endpoint)
	}
	c, err := registry.NewClient(registry.WithAddress("127.0.0.1:5000"), registry.WithWatchAddress(ns.WatchEndpoint()),
		registry.WithClientLogger(quiet), registry.WithTimeout(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	found := func(round string) {
		t.Helper()
		for _, name := range names {
			start := time.Now()
			for {
				_, err := c.Lookup(ctx, name)
				if err == nil {
					t.Logf("%s: %s registered %v after", round, name, time.Since(start).Round(10*time.Millisecond))
					break
				}
				if !errors.Is(err, registry.ErrNotFound) || ctx.Err() != nil {
					t.Fatalf("%s: %s: %v", round, name, err)
				}
				select {
				case <-ctx.Done():
					t.Fatalf("%s: %s never registered", round, name)
				case <-time.After(100 * time.Millisecond):
				}
			}
		}
	}
	found("start")
	// A Go watcher hears the changes meanwhile, on their own port.
	w, err := c.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := ns.WaitWatchers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	for _, round := range []string{"after one restart", "after two restarts"} {
		ns.Close()
		ns = start()
		found(round)
	}
	// The watcher followed the restarts and heard the services register.
	select {
	case ev := <-w.Events():
		if ev.Kind != msglib.ServiceEvent_REGISTERED {
			t.Fatalf("first change: %v", ev)
		}
	case <-ctx.Done():
		t.Fatal("the Go watcher heard no change")
	}
}
