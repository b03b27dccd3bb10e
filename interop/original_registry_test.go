package interop_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dividere-go/dividere/internal/testpb"
	"github.com/dividere-go/dividere/internal/testutil"
	"github.com/dividere-go/dividere/msglib"
	"github.com/dividere-go/dividere/registry"
	"github.com/dividere-go/dividere/service"
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
		s, err := registry.NewServer(registry.WithEndpoints("@tcp://127.0.0.1:5000", "@tcp://127.0.0.1:5001", ""),
			registry.WithLogger(quiet)) // changes on 5002
		if err != nil {
			t.Fatalf("the original's services need the name service on ports 5000 and 5001 (and its changes go to 5002): %v", err)
		}
		go s.Serve(context.Background())
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
	c, err := registry.NewClient(registry.WithEndpoints(ns.Endpoints()),
		registry.WithLogger(quiet), registry.WithRetry(1500*time.Millisecond, 1, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Knowing it talks to a dividere name service, the client asks again
	// on a fresh socket when a request goes unanswered, as one sent just
	// as the name service restarts may.
	if _, err := c.List(ctx, ""); err != nil { // List asks first
		t.Fatalf("List: %v", err)
	}
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
	// The original's re-register thread waits for its ack with no
	// timeout: a registration sent to a name service that closes before
	// answering would leave it waiting forever. Restart only once its
	// registrations have settled (none for a while), as an operator's
	// restart would find them.
	settled := func() {
		t.Helper()
		last, since := ns.Stats().Registrations, time.Now()
		for time.Since(since) < 2*time.Second {
			select {
			case <-ctx.Done():
				t.Fatal("registrations never settled")
			case <-time.After(100 * time.Millisecond):
			}
			if n := ns.Stats().Registrations; n != last {
				last, since = n, time.Now()
			}
		}
	}
	for _, round := range []string{"after one restart", "after two restarts"} {
		settled()
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

// A Go client never sends the original's name service a request it does
// not know: ServiceListReq used to kill its serving thread, after which it
// answered no one. The client asks first, with a lookup every name
// service answers safely, and says plainly that the name service is too
// old; the original's name service goes on answering.
func TestGoClientOfOriginalNameService(t *testing.T) {
	ns := startOriginal(t, "nameservice")
	defer ns.Stdin.Close()
	ctx := tctx(t, 60*time.Second)
	c, err := registry.NewClient(registry.WithAddress("127.0.0.1:5000"), registry.WithLogger(quiet), registry.WithRetry(2500*time.Millisecond, 1, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.List(ctx, ""); !errors.Is(err, registry.ErrOriginalNameService) {
		t.Fatalf("List on the original's name service: %v", err)
	}
	if err := c.Register(ctx, registry.Instance{Service: "go.Svc", Server: "127.0.0.1", Port: 7100}); err != nil {
		t.Fatal(err)
	}
	if in, err := c.Lookup(ctx, "go.Svc"); err != nil || in.Port != 7100 {
		t.Fatalf("lookup after List was refused: %v %v", in, err)
	}
}

// Go services started together on the original's name service, which
// answers about one request a second and knows no TTL. Each asked first
// which kind of name service it was, giving up after 2 s and asking
// again, so that the requests given up on (which the original still
// answers, in turn) crowded it out: only one of three had registered
// after 7 s. Now each registers first, waiting its turn in the queue, then
// asks, and renews on the original's name service only when it asks (it
// keeps registrations until they are withdrawn): all three register
// within 7 s, and a lookup against the original finds each.
func TestGoServicesOnOriginalNameService(t *testing.T) {
	ns := startOriginal(t, "nameservice")
	defer ns.Stdin.Close()
	ctx := tctx(t, 90*time.Second)
	var svcs []*service.Service
	for i := range 3 {
		svc, err := service.New(nil, service.WithName(fmt.Sprintf("go.Slow%d", i)), service.WithHost("127.0.0.1"),
			service.WithRegistry(registry.WithAddress("127.0.0.1:5000")), service.WithLogger(quiet))
		if err != nil {
			t.Fatal(err)
		}
		svcs = append(svcs, svc)
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); svc.Serve(runCtx) }()
		defer func() { stop(); <-done }()
	}
	start := time.Now()
	for _, svc := range svcs {
		for svc.Registrations() == 0 {
			if time.Since(start) > 7*time.Second {
				t.Fatalf("%s not registered within 7 s (%d of 3 were)", svc.Instance().Service, registered(svcs))
			}
			select {
			case <-ctx.Done():
				t.Fatal(ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	t.Logf("3 services registered with the original's name service within %v", time.Since(start).Round(100*time.Millisecond))
	c, err := registry.NewClient(registry.WithAddress("127.0.0.1:5000"), registry.WithLogger(quiet), registry.WithRetry(5*time.Second, 1, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Once registered, the services leave the name service alone: lookups
	// are answered at its pace (a second each), not behind a queue of
	// renewals that grows without end. (A few requests given up on while
	// the services registered may still be ahead of the first one.)
	for _, svc := range svcs {
		t0 := time.Now()
		in, err := c.Lookup(ctx, svc.Instance().Service)
		if err != nil || in.Port != svc.Instance().Port {
			t.Fatalf("lookup %s: %v %v", svc.Instance().Service, in, err)
		}
		took := time.Since(t0)
		t.Logf("lookup of %s: %v", svc.Instance().Service, took.Round(10*time.Millisecond))
		if took > 4500*time.Millisecond {
			t.Fatalf("lookup %s took %v", svc.Instance().Service, took)
		}
	}
	for _, svc := range svcs {
		if n := svc.Registrations(); n != 1 {
			t.Errorf("%s registered %d times on the original's name service; want once, never renewed", svc.Instance().Service, n)
		}
	}
}

// The original's service and name-service tests (serviceTests test00,
// test01; serviceRegistryTests test00) with a Go name service: its
// MyService, started before any name service is up, registers once the
// Go one comes, and a Go client calls it by name; its name-service Client
// registers, looks up and unregisters on the Go name service.
func TestOriginalServiceTestsOnGoNameService(t *testing.T) {
	ctx := tctx(t, 90*time.Second)
	svc := startOriginal(t, "my-service")
	defer svc.Stdin.Close()
	// The service's constructor is waiting for a name service now, or
	// about to: start one.
	ns, err := registry.NewServer(registry.WithEndpoints("@tcp://127.0.0.1:5000", "@tcp://127.0.0.1:5001", ""), registry.WithLogger(quiet))
	if err != nil {
		t.Fatalf("the original's services need the name service on ports 5000 and 5001: %v", err)
	}
	testutil.Serve(t, ns)
	var name string
	select {
	case l := <-svc.Lines:
		if !strings.HasPrefix(l, "REGISTERED ") {
			t.Fatalf("the service said %q", l)
		}
		name = strings.TrimPrefix(l, "REGISTERED ")
	case <-ctx.Done():
		t.Fatal("the original's service never registered with the late name service")
	}
	c, err := registry.NewClient(registry.WithAddress("127.0.0.1:5000"), registry.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := registry.Call[*testpb.MyServiceRep](ctx, c, name, &testpb.MyServiceReq{}); err != nil {
		t.Fatalf("calling the original's %s by name: %v", name, err)
	}

	port := testutil.Port(t)
	cl := startOriginal(t, "ns-client", "someService", strconv.Itoa(port))
	defer cl.Stdin.Close()
	cl.expectAll(t, ctx, fmt.Sprintf("FOUND someService 127.0.0.1 %d", port), "AFTER 0")
}

// registered counts the services that have registered.
func registered(svcs []*service.Service) int {
	n := 0
	for _, s := range svcs {
		if s.Registrations() > 0 {
			n++
		}
	}
	return n
}
