package service_test

import (
	"slices"

	"context"
	"errors"
	"fmt"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/types/descriptorpb"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/internal/testpb"
	"github.com/dividere-go/dividere/internal/testproc"
	"github.com/dividere-go/dividere/internal/testutil"
	"github.com/dividere-go/dividere/messaging"
	"github.com/dividere-go/dividere/msglib"
	"github.com/dividere-go/dividere/registry"
	"github.com/dividere-go/dividere/service"
)

// newRegistry runs a name service in this process on free ports.
func newRegistry(t *testing.T) (*registry.Server, *registry.Client) {
	t.Helper()
	s, err := registry.NewServer(registry.WithEndpoints("@tcp://127.0.0.1:0", "@tcp://127.0.0.1:0", ""),
		registry.WithSweepInterval(20*time.Millisecond), registry.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	testutil.Serve(t, s)
	c, err := registry.NewClient(registry.WithEndpoints(s.Endpoints()), registry.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return s, c
}

// call looks name up and sends a StringMsg to the instance found.
func call(ctx context.Context, c *registry.Client, name, value string) (string, error) {
	in, err := c.Lookup(ctx, name)
	if err != nil {
		return "", err
	}
	req, err := messaging.NewRequest(in.Endpoint())
	if err != nil {
		return "", err
	}
	defer req.Close()
	rep, err := messaging.Call[*testpb.StringMsg](ctx, req, &testpb.StringMsg{Value: value})
	if err != nil {
		return "", err
	}
	return rep.Value, nil
}

func TestServiceFoundAndCalled(t *testing.T) {
	s, c := newRegistry(t)
	e := &Echo{}
	svc, err := service.New(e, service.WithHost("127.0.0.1"), service.WithVersion("2.0"),
		service.WithMetadata(map[string]string{"team": "core"}),
		service.WithRegistry(registry.WithEndpoints(s.Endpoints())), service.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	e.port = svc.Instance().Port
	if svc.Instance().Service != "github.com/dividere-go/dividere/service_test.Echo" {
		t.Fatalf("default name %q", svc.Instance().Service)
	}
	runService(t, svc)
	ctx := tctx(t, 10*time.Second)
	eventually(t, 5*time.Second, "registered", func() bool { return svc.Registrations() > 0 })
	got, err := call(ctx, c, svc.Instance().Service, "hello")
	if err != nil || got != fmt.Sprintf("hello from %d", svc.Instance().Port) {
		t.Fatalf("call: %q %v", got, err)
	}
	list, err := c.List(ctx, svc.Instance().Service)
	if err != nil || len(list) != 1 || list[0].Version != "2.0" || list[0].Metadata["team"] != "core" {
		t.Fatalf("list: %+v %v", list, err)
	}
	// The service says who it is and what it did.
	req, _ := messaging.NewRequest(svc.Instance().Endpoint())
	defer req.Close()
	info, err := messaging.Call[*msglib.ServiceInfoRep](ctx, req, &msglib.ServiceInfoReq{})
	if err != nil || info.Instance.ServiceName != svc.Instance().Service || info.Instance.Stats.Requests < 1 {
		t.Fatalf("info: %v %v", info, err)
	}
	// And what it takes: its request types, with the descriptors of the
	// files that define them (and what they import).
	if !slices.Contains(info.Types, "StringMsg") || !slices.Contains(info.Types, "ServiceInfoReq") {
		t.Fatalf("types: %v", info.Types)
	}
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(info.Descriptors, &set); err != nil {
		t.Fatal(err)
	}
	files, err := protodesc.NewFiles(&set)
	if err != nil {
		t.Fatalf("the descriptors do not stand on their own: %v", err)
	}
	if _, err := files.FindDescriptorByName("StringMsg"); err != nil {
		t.Fatalf("StringMsg not described: %v", err)
	}
}

func TestNoNameIsAnError(t *testing.T) {
	if _, err := service.New(nil); err == nil {
		t.Fatal("a service with no name was created")
	}
}

// A service started 2 s before its name service registers as soon as the
// name service is up.
func TestServiceStartsBeforeNameService(t *testing.T) {
	rport := testutil.Port(t)
	nport := testutil.Port(t)
	addr := fmt.Sprintf("127.0.0.1:%d", rport)
	svc, err := service.New(&Echo{}, service.WithName("early"), service.WithHost("127.0.0.1"),
		service.WithRegistry(registry.WithEndpoints(addr, fmt.Sprintf("127.0.0.1:%d", nport), ""),
			registry.WithRetry(100*time.Millisecond, 1, 0)), service.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	runService(t, svc)
	<-time.After(2 * time.Second) // the scenario: two seconds with no name service
	s, err := registry.NewServer(registry.WithEndpoints(fmt.Sprintf("tcp://*:%d", rport), fmt.Sprintf("tcp://*:%d", nport), ""),
		registry.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	testutil.Serve(t, s)
	c, _ := registry.NewClient(registry.WithAddress(addr), registry.WithLogger(quiet))
	defer c.Close()
	ctx := tctx(t, 10*time.Second)
	took := eventually(t, 3*time.Second, "registered after the name service came up", func() bool {
		_, err := c.Lookup(ctx, "early")
		return err == nil
	})
	t.Logf("found %v after the name service started", took)
	if got, err := call(ctx, c, "early", "late hello"); err != nil || !strings.HasPrefix(got, "late hello") {
		t.Fatalf("call: %q %v", got, err)
	}
}

// The name service killed and restarted as a real process: every living
// service is found again within 1 s of the restart.
func TestNameServiceRestart(t *testing.T) {
	rport := testutil.Port(t)
	nport := testutil.Port(t)
	eps := []string{fmt.Sprintf("tcp://*:%d", rport), fmt.Sprintf("tcp://*:%d", nport)}
	addr := fmt.Sprintf("127.0.0.1:%d", rport)
	ns := testproc.Start(t, "registry", eps...)
	const n = 5
	for i := range n {
		// A long TTL: renewals cannot be what brings them back in time.
		svc, err := newEcho(addr, fmt.Sprintf("127.0.0.1:%d", nport), fmt.Sprintf("svc-%d", i), time.Minute, quiet)
		if err != nil {
			t.Fatal(err)
		}
		runService(t, svc)
	}
	c, _ := registry.NewClient(registry.WithAddress(addr), registry.WithRetry(100*time.Millisecond, 1, 0), registry.WithLogger(quiet))
	defer c.Close()
	ctx := tctx(t, 20*time.Second)
	all := func() bool {
		list, err := c.List(ctx, "")
		return err == nil && len(list) == n
	}
	eventually(t, 5*time.Second, "all registered", all)
	ns.Kill()
	testproc.Start(t, "registry", eps...)
	took := eventually(t, time.Second, "all registered again", all)
	t.Logf("every service registered again %v after the restart", took)
}

// A service process killed with SIGKILL vanishes from lookups within its
// TTL; of three instances, the two left keep serving.
func TestKilledInstanceVanishes(t *testing.T) {
	s, c := newRegistry(t)
	const ttl = 500 * time.Millisecond
	req, notices, _ := s.Endpoints()
	for range 2 {
		svc, err := newEcho(req, notices, "trio", ttl, quiet)
		if err != nil {
			t.Fatal(err)
		}
		runService(t, svc)
	}
	p := testproc.Start(t, "service", req, notices, "trio", ttl.String())
	ctx := tctx(t, 20*time.Second)
	eventually(t, 5*time.Second, "three instances", func() bool {
		list, _ := c.List(ctx, "trio")
		return len(list) == 3
	})
	ports := map[string]bool{}
	for range 9 {
		got, err := call(ctx, c, "trio", "x")
		if err != nil {
			t.Fatal(err)
		}
		ports[got] = true
	}
	if len(ports) != 3 {
		t.Fatalf("lookups reached %v, want all three instances", ports)
	}
	p.Kill()
	took := eventually(t, ttl+500*time.Millisecond, "the killed instance vanishes", func() bool {
		list, _ := c.List(ctx, "trio")
		for _, in := range list {
			if fmt.Sprint(in.Port) == p.Fields[0] {
				return false
			}
		}
		return len(list) == 2
	})
	t.Logf("gone from lookups %v after SIGKILL (TTL %v)", took, ttl)
	for range 6 {
		if got, err := call(ctx, c, "trio", "y"); err != nil || strings.HasSuffix(got, p.Fields[0]) {
			t.Fatalf("after the kill: %q %v", got, err)
		}
	}
}

// Shutdown unregisters at once and finishes the request in hand.
func TestGracefulShutdown(t *testing.T) {
	s, c := newRegistry(t)
	release := make(chan struct{})
	svc, err := service.New(nil, service.WithName("slow"), service.WithHost("127.0.0.1"),
		service.WithRegistry(registry.WithEndpoints(s.Endpoints())), service.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	messaging.Handle(svc, func(ctx context.Context, m *testpb.StringMsg, _ messaging.Peer) (*testpb.StringMsg, error) {
		close(started)
		<-release
		return m, nil
	})
	done := make(chan error, 1)
	go func() { done <- svc.Serve(context.Background()) }()
	ctx := tctx(t, 10*time.Second)
	eventually(t, 5*time.Second, "registered", func() bool { return svc.Registrations() > 0 })
	req, _ := messaging.NewRequest(svc.Instance().Endpoint())
	defer req.Close()
	reply := make(chan error, 1)
	go func() {
		_, err := messaging.Call[*testpb.StringMsg](ctx, req, &testpb.StringMsg{Value: "in hand"})
		reply <- err
	}()
	<-started
	shut := make(chan error, 1)
	go func() { shut <- svc.Shutdown(ctx) }()
	eventually(t, 2*time.Second, "unregistered while the request is in hand", func() bool {
		_, err := c.Lookup(ctx, "slow")
		return errors.Is(err, registry.ErrNotFound)
	})
	close(release)
	if err := <-reply; err != nil {
		t.Fatalf("the request in hand: %v", err)
	}
	if err := <-shut; err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, connection.ErrServerClosed) {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
	if err := svc.Serve(ctx); !errors.Is(err, connection.ErrServerClosed) {
		t.Fatalf("Serve of a stopped service: %v", err)
	}
}

// Close stops a service at once: the handler in hand sees its context
// end.
func TestCloseStopsAtOnce(t *testing.T) {
	s, _ := newRegistry(t)
	svc, err := service.New(nil, service.WithName("closing"), service.WithHost("127.0.0.1"),
		service.WithRegistry(registry.WithEndpoints(s.Endpoints())), service.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	messaging.HandleMessage(svc, func(ctx context.Context, m *testpb.StringMsg, from messaging.Peer) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	})
	done := make(chan error, 1)
	go func() { done <- svc.Serve(context.Background()) }()
	ctx := tctx(t, 10*time.Second)
	req, _ := messaging.NewRequest(svc.Instance().Endpoint())
	defer req.Close()
	go messaging.Call[*testpb.StringMsg](ctx, req, &testpb.StringMsg{Value: "in hand"})
	<-started
	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, connection.ErrServerClosed) {
			t.Fatalf("Serve after Close: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("Serve did not return after Close")
	}
}

func TestLocalHost(t *testing.T) {
	h := service.LocalHost()
	ip := net.ParseIP(h)
	if ip == nil || ip.To4() == nil {
		t.Fatalf("LocalHost() = %q", h)
	}
	if ip.IsLoopback() {
		return // no other interface: fine
	}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if strings.HasPrefix(a.String(), h+"/") {
			return
		}
	}
	t.Fatalf("%s is not an address of this machine (%v)", h, addrs)
}

// A Service's reactor takes the messaging options: here, hidden error
// texts and a bound on every handler.
func TestServiceReactorOptions(t *testing.T) {
	s, c := newRegistry(t)
	svc, err := service.New(nil, service.WithName("opts.Svc"), service.WithHost("127.0.0.1"),
		service.WithRegistry(registry.WithEndpoints(s.Endpoints())), service.WithLogger(quiet),
		service.WithReactorOptions(messaging.WithHiddenErrors(), messaging.WithHandlerTimeout(50*time.Millisecond)))
	if err != nil {
		t.Fatal(err)
	}
	messaging.HandleMessage(svc, func(ctx context.Context, m *testpb.StringMsg, from messaging.Peer) error {
		if m.Value == "slow" {
			<-ctx.Done() // the service's own limit ends it
			return ctx.Err()
		}
		return errors.New("db password is hunter2")
	})
	ctx := testutil.Ctx(t, 20*time.Second)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); svc.Serve(runCtx) }()
	defer func() { stop(); <-done }()
	if err := eventuallyRegistered(ctx, c, "opts.Svc"); err != nil {
		t.Fatal(err)
	}
	if _, err := call(ctx, c, "opts.Svc", "leak"); err == nil || err.Error() != "UNKNOWN: internal error" {
		t.Fatalf("hidden: %v", err)
	}
	if _, err := call(ctx, c, "opts.Svc", "slow"); messaging.CodeOf(err) != messaging.DeadlineExceeded {
		t.Fatalf("bounded: %v", err)
	}
}

func eventuallyRegistered(ctx context.Context, c *registry.Client, name string) error {
	for {
		if _, err := c.Lookup(ctx, name); err == nil || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// The newcomer's path: start a service, wait until it is registered, and
// call it by name; an instance that answers UNAVAILABLE is left for
// another, and any other refusal comes back as it is.
func TestCallByName(t *testing.T) {
	s, c := newRegistry(t)
	ctx := testutil.Ctx(t, 20*time.Second)
	var svcs []*service.Service
	for _, busy := range []bool{true, false} {
		svc, err := service.New(nil, service.WithName("greeter"), service.WithHost("127.0.0.1"),
			service.WithRegistry(registry.WithEndpoints(s.Endpoints())), service.WithLogger(quiet))
		if err != nil {
			t.Fatal(err)
		}
		messaging.Handle(svc, func(ctx context.Context, m *testpb.StringMsg, _ messaging.Peer) (*testpb.StringMsg, error) {
			switch {
			case m.Value == "nobody":
				return nil, messaging.Errorf(messaging.NotFound, "no %s", m.Value)
			case busy:
				return nil, messaging.Errorf(messaging.Unavailable, "too busy")
			}
			return &testpb.StringMsg{Value: "hello " + m.Value}, nil
		})
		testutil.Serve(t, svc)
		if err := svc.WaitRegistered(ctx); err != nil {
			t.Fatal(err)
		}
		svcs = append(svcs, svc)
	}
	// Lookups go round-robin, so half the first attempts meet the busy
	// instance: every call still succeeds.
	for range 6 {
		got, err := registry.Call[*testpb.StringMsg](ctx, c, "greeter", &testpb.StringMsg{Value: "ann"})
		if err != nil || got.Value != "hello ann" {
			t.Fatalf("call by name: %v %v", got, err)
		}
	}
	if _, err := registry.Call[*testpb.StringMsg](ctx, c, "greeter", &testpb.StringMsg{Value: "nobody"}); messaging.CodeOf(err) != messaging.NotFound {
		t.Fatalf("a refusal: %v", err)
	}
	if _, err := registry.Call[*testpb.StringMsg](ctx, c, "nobody-registered", &testpb.StringMsg{}); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("an unknown service: %v", err)
	}
	// A service that stopped before it registered says so.
	never, err := service.New(nil, service.WithName("never"), service.WithRegistry(registry.WithEndpoints(s.Endpoints())))
	if err != nil {
		t.Fatal(err)
	}
	never.Close()
	if err := never.WaitRegistered(ctx); !errors.Is(err, connection.ErrServerClosed) {
		t.Fatalf("WaitRegistered of a closed service: %v", err)
	}
}
