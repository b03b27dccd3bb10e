package etcdstore_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/internal/etcdtest"
	"github.com/dividere-go/dividere/internal/testproc"
	"github.com/dividere-go/dividere/internal/testutil"
	"github.com/dividere-go/dividere/msglib"
	"github.com/dividere-go/dividere/registry"
	"github.com/dividere-go/dividere/registry/etcdstore"
	"github.com/dividere-go/dividere/registry/storetest"
	"github.com/dividere-go/dividere/service"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// TestMain doubles as the processes the tests kill: etcd members, name
// services and services.
func TestMain(m *testing.M) {
	testproc.Main(m, map[string]testproc.Helper{etcdtest.HelperName: etcdtest.Helper,
		"nameservice": nameServiceHelper, "service": serviceHelper})
}

// nameServiceHelper runs a name service on the etcd cluster args[0]
// names, on ports of its own; it says READY requests notices watch.
func nameServiceHelper(args []string) int {
	st, err := etcdstore.Open(args[0], etcdstore.WithCache()) // as `dividere registry -store` runs
	if err != nil {
		fmt.Println("ERR", err)
		return 1
	}
	s, err := registry.NewServer(registry.WithEndpoints("@tcp://127.0.0.1:0", "@tcp://127.0.0.1:0", ""),
		registry.WithStore(st), registry.WithLogger(quiet))
	if err != nil {
		fmt.Println("ERR", err)
		return 1
	}
	req, notices, watch := s.Endpoints()
	fmt.Println("READY", req, notices, watch)
	s.Serve(context.Background()) // until killed
	return 0
}

// serviceHelper runs a service; args: name, TTL, then either an etcd://
// URL (the service uses etcd directly) or the name services' request and
// notice endpoints (comma-separated lists). It says READY port, then
// REGISTERED once registered.
func serviceHelper(args []string) int {
	ttl, _ := time.ParseDuration(args[1])
	// An etcd:// address makes the service use etcd directly.
	ropts := []registry.ClientOption{registry.WithRetry(150*time.Millisecond, 1, 0), registry.WithAddress(args[2])}
	if !strings.HasPrefix(args[2], "etcd://") {
		ropts = append(ropts, registry.WithEndpoints(args[2], args[3], ""))
	}
	svc, err := service.New(nil, service.WithName(args[0]), service.WithHost("127.0.0.1"), service.WithTTL(ttl),
		service.WithRegistry(ropts...), service.WithLogger(quiet))
	if err != nil {
		fmt.Println("ERR", err)
		return 1
	}
	go svc.Serve(context.Background())
	fmt.Println("READY", svc.Instance().Port)
	for svc.Registrations() == 0 {
		time.Sleep(10 * time.Millisecond) // a helper process, polling its own state
	}
	fmt.Println("REGISTERED")
	select {}
}

func TestEtcdStore(t *testing.T) {
	st, err := etcdstore.Open(etcdtest.Start(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n := 0
	for _, cached := range []bool{false, true} {
		t.Run(fmt.Sprintf("cache=%v", cached), func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) registry.Store {
				n++
				opts := []etcdstore.Option{etcdstore.WithPrefix(fmt.Sprintf("/test-%d/", n))}
				if cached {
					opts = append(opts, etcdstore.WithCache())
				}
				s := etcdstore.New(etcdstore.Client(st), opts...)
				t.Cleanup(func() { s.Close() })
				return s
			})
		})
	}
}

// A cached store sees what other processes write once its watch brings
// it, and its own writes at once.
func TestCacheFollowsOthers(t *testing.T) {
	url := etcdtest.Start(t)
	cached := testutil.OK(etcdstore.Open(url, etcdstore.WithCache()))(t)
	other := testutil.OK(etcdstore.Open(url))(t)
	defer cached.Close()
	defer other.Close()
	ctx := testutil.Ctx(t, 20*time.Second)
	count := func(service string) int {
		l, err := cached.List(ctx, service, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return len(l)
	}
	for i := range 10 {
		if _, err := other.Put(ctx, &msglib.ServiceInstance{ServiceName: "elsewhere", InstanceId: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, 5*time.Second, "the other process's registrations", func() bool { return count("elsewhere") == 10 })
	if _, err := cached.Put(ctx, &msglib.ServiceInstance{ServiceName: "here", InstanceId: "x"}); err != nil {
		t.Fatal(err)
	}
	if n := count("here"); n != 1 { // read your writes, at once
		t.Fatalf("own registration: %d", n)
	}
	other.Delete(ctx, "elsewhere", "3")
	testutil.Eventually(t, 5*time.Second, "the other process's unregistration", func() bool { return count("elsewhere") == 9 })
	if n := count(""); n != 10 {
		t.Fatalf("all: %d", n)
	}
}

func TestEndpoints(t *testing.T) {
	eps, err := etcdstore.Endpoints("etcd://a:2379,b:2379")
	if err != nil || len(eps) != 2 || eps[1] != "b:2379" {
		t.Fatalf("%v %v", eps, err)
	}
	if _, err := etcdstore.Endpoints("http://a:2379"); err == nil {
		t.Fatal("accepted a non-etcd URL")
	}
	if _, err := etcdstore.Open("etcd://"); err == nil {
		t.Fatal("opened an empty URL")
	}
}

// nameServer runs a name service in this process on its own connection to
// the etcd cluster url names.
func nameServer(t *testing.T, url string, opts ...etcdstore.OpenOption) *registry.Server {
	t.Helper()
	st := testutil.OK(etcdstore.Open(url, opts...))(t)
	s := testutil.OK(registry.NewServer(registry.WithEndpoints("@tcp://127.0.0.1:0", "@tcp://127.0.0.1:0", ""),
		registry.WithStore(st), registry.WithLogger(quiet)))(t)
	t.Cleanup(func() { st.Close() })
	testutil.Serve(t, s)
	// A change made through another instance before this one watches etcd
	// is not this one's to announce (seen in CI): wait until it does.
	testutil.Eventually(t, 10*time.Second, "the name service watching etcd", func() bool { return s.Stats().Announcing })
	return s
}

func client(t *testing.T, opts ...registry.ClientOption) *registry.Client {
	t.Helper()
	c := testutil.OK(registry.NewClient(append([]registry.ClientOption{registry.WithLogger(quiet)}, opts...)...))(t)
	testutil.CloseAll(t, c)
	return c
}

// endpoints lists the servers' endpoints, for a client of them all.
func endpoints(servers ...*registry.Server) (reqs, nots, wats string) {
	var r, n, w []string
	for _, s := range servers {
		req, not, watch := s.Endpoints()
		r, n, w = append(r, req), append(n, not), append(w, watch)
	}
	return strings.Join(r, ","), strings.Join(n, ","), strings.Join(w, ",")
}

// direct is a registry client on etcd itself, no name service between:
// the etcd:// address opens (and Close closes) a store of its own.
func direct(t *testing.T, url string) *registry.Client {
	t.Helper()
	return client(t, registry.WithAddress(url))
}

func inst(service, server string, port int, ttl time.Duration) registry.Instance {
	return registry.Instance{Service: service, Server: server, Port: port, TTL: ttl}
}

// Two name-service instances on one etcd: a service registered through
// one is found through the other, and a client on etcd directly sees the
// same.
func TestTwoNameServicesShareEtcd(t *testing.T) {
	url := etcdtest.Start(t)
	a, b := nameServer(t, url), nameServer(t, url)
	ca, cb := client(t, registry.WithEndpoints(a.Endpoints())), client(t, registry.WithEndpoints(b.Endpoints()))
	dc := direct(t, url)
	ctx := testutil.Ctx(t, 20*time.Second)
	if err := ca.Register(ctx, inst("shared", "10.0.0.9", 9000, 0)); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]*registry.Client{"other instance": cb, "etcd directly": dc} {
		in, err := c.Lookup(ctx, "shared")
		if err != nil || in.Server != "10.0.0.9" || in.Port != 9000 {
			t.Fatalf("lookup through the %s: %+v %v", name, in, err)
		}
	}
	if err := cb.Unregister(ctx, "shared", "10.0.0.9", 9000, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := ca.Lookup(ctx, "shared"); err == nil {
		t.Fatal("still found after unregistering through the other instance")
	}
	// Registered directly, found through a name service.
	if err := dc.Register(ctx, inst("direct", "10.0.0.10", 9001, time.Minute)); err != nil {
		t.Fatal(err)
	}
	if in, err := ca.Lookup(ctx, "direct"); err != nil || in.Port != 9001 {
		t.Fatalf("direct registration through a name service: %+v %v", in, err)
	}
	if err := dc.Unregister(ctx, "direct", "10.0.0.10", 9001, ""); err != nil {
		t.Fatal(err)
	}
	if err := dc.Unregister(ctx, "direct", "10.0.0.10", 9001, ""); err != registry.ErrRefused {
		t.Fatalf("unregistering twice: %v, want ErrRefused", err)
	}
}

// Change notices come from every instance, whichever instance the change
// went through; a client watching both hears each once.
func TestNoticesFromOtherInstances(t *testing.T) {
	url := etcdtest.Start(t)
	a, b := nameServer(t, url), nameServer(t, url)
	ctx := testutil.Ctx(t, 30*time.Second)
	ca := client(t, registry.WithEndpoints(a.Endpoints()))
	wa := testutil.OK(ca.Watch(ctx))(t)
	defer wa.Close()
	both := client(t, registry.WithEndpoints(endpoints(a, b)))
	wboth := testutil.OK(both.Watch(ctx))(t)
	defer wboth.Close()
	if err := a.WaitWatchers(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := b.WaitWatchers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	cb := client(t, registry.WithEndpoints(b.Endpoints()))
	// Through b, heard from a.
	if err := cb.Register(ctx, inst("noticed", "h", 1, 0)); err != nil {
		t.Fatal(err)
	}
	expect(t, ctx, wa, msglib.ServiceEvent_REGISTERED, "noticed")
	expect(t, ctx, wboth, msglib.ServiceEvent_REGISTERED, "noticed")
	// The copy from the other instance was dropped, not delivered.
	testutil.Eventually(t, 10*time.Second, "the second copy of the notice", func() bool { return wboth.Repeats() == 1 })
	if err := cb.Unregister(ctx, "noticed", "h", 1, ""); err != nil {
		t.Fatal(err)
	}
	expect(t, ctx, wa, msglib.ServiceEvent_UNREGISTERED, "noticed")
	expect(t, ctx, wboth, msglib.ServiceEvent_UNREGISTERED, "noticed") // not the REGISTERED again
	// A direct watcher sees the same changes, with the same revisions.
	dw := testutil.OK(direct(t, url).Watch(ctx))(t)
	defer dw.Close()
	if err := ca.Register(ctx, inst("again", "h", 2, 0)); err != nil {
		t.Fatal(err)
	}
	r1 := expect(t, ctx, dw, msglib.ServiceEvent_REGISTERED, "again")
	r2 := expect(t, ctx, wboth, msglib.ServiceEvent_REGISTERED, "again")
	if r1 == 0 || r1 != r2 {
		t.Fatalf("revisions: direct %d, through the name service %d", r1, r2)
	}
}

// expect waits for the next event of w and checks it; it returns its
// revision.
func expect(t *testing.T, ctx context.Context, w *registry.Watcher, kind msglib.ServiceEvent_Kind, service string) uint64 {
	t.Helper()
	select {
	case ev, ok := <-w.Events():
		if !ok || ev.Kind != kind || ev.Instance.Service != service {
			t.Fatalf("event %v %+v (open %v), want %v %s", ev.Kind, ev.Instance, ok, kind, service)
		}
		return ev.Revision
	case <-ctx.Done():
		t.Fatalf("no %v %s", kind, service)
	}
	return 0
}

// RediscoverReq keeps working with several instances: a service that
// listens to both registers again when one of them restarts.
func TestRediscoverFromOneOfSeveral(t *testing.T) {
	url := etcdtest.Start(t)
	a, b := nameServer(t, url), nameServer(t, url)
	reqs, nots, _ := endpoints(a, b)
	svc := testutil.OK(service.New(nil, service.WithName("rediscovered"), service.WithHost("127.0.0.1"), service.WithTTL(time.Minute),
		service.WithRegistry(registry.WithEndpoints(reqs, nots, "")), service.WithLogger(quiet)))(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); svc.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	// Both instances' first RediscoverReq make it register again at
	// start: wait until that has settled (no registration for 300 ms).
	testutil.Eventually(t, 10*time.Second, "registered", func() bool { return svc.Registrations() > 0 })
	var before uint64
	for {
		before = svc.Registrations()
		if !testutil.Poll(300*time.Millisecond, func() bool { return svc.Registrations() != before }) {
			break
		}
	}
	reqA, notA, _ := a.Endpoints()
	a.Close()
	st := testutil.OK(etcdstore.Open(url))(t)
	again := testutil.OK(registry.NewServer(registry.WithEndpoints("@"+reqA, "@"+notA, ""), registry.WithStore(st), registry.WithLogger(quiet)))(t)
	go again.Serve(t.Context())
	defer func() { again.Close(); st.Close() }()
	// Its TTL is a minute (renewals every 20 s): registering again this
	// soon is the answer to the restarted instance's RediscoverReq.
	took := testutil.Eventually(t, 5*time.Second, "registered again", func() bool { return svc.Registrations() > before })
	t.Logf("registered again %v after one of two instances restarted", took.Round(time.Millisecond))
}

// With registrars, a name taken through one instance cannot be taken
// over through another: the owner is in the store.
func TestRegistrarsAcrossInstances(t *testing.T) {
	url := etcdtest.Start(t)
	server, alice, mallory := keys(t), keys(t), keys(t)
	auth := testutil.OK(connection.StartAuthenticator(quiet))(t)
	defer auth.Close()
	auth.SetKeys(alice.Public, mallory.Public)
	curve := registry.WithConnectionOptions(connection.WithCurveServer(server))
	var as []func(connection.KeyPair) *registry.Client
	for range 2 {
		st := testutil.OK(etcdstore.Open(url))(t)
		s := testutil.OK(registry.NewServer(registry.WithEndpoints("@tcp://127.0.0.1:0", "@tcp://127.0.0.1:0", ""), registry.WithStore(st),
			registry.WithLogger(quiet), curve, registry.WithRegistrars(alice.Public, mallory.Public)))(t)
		t.Cleanup(func() { st.Close() })
		testutil.Serve(t, s)
		as = append(as, func(k connection.KeyPair) *registry.Client {
			return client(t, registry.WithEndpoints(s.Endpoints()),
				registry.WithConnectionOptions(connection.WithCurveClient(server.Public, k)))
		})
	}
	ctx := testutil.Ctx(t, 20*time.Second)
	if err := as[0](alice).Register(ctx, inst("orders", "10.0.0.1", 7000, time.Minute)); err != nil {
		t.Fatalf("alice registers through the first: %v", err)
	}
	if err := as[1](mallory).Register(ctx, inst("orders", "10.6.6.6", 6666, time.Minute)); !errors.Is(err, registry.ErrRefused) {
		t.Fatalf("mallory takes orders over through the second: %v", err)
	}
	if err := as[1](mallory).Unregister(ctx, "orders", "10.0.0.1", 7000, ""); !errors.Is(err, registry.ErrRefused) {
		t.Fatalf("mallory unregisters alice through the second: %v", err)
	}
	if err := as[1](alice).Register(ctx, inst("orders", "10.0.0.2", 7000, time.Minute)); err != nil {
		t.Fatalf("alice adds an instance through the second: %v", err)
	}
	list, err := direct(t, url).List(ctx, "orders")
	if err != nil || len(list) != 2 {
		t.Fatalf("orders: %v %v", list, err)
	}
}

func keys(t *testing.T) connection.KeyPair {
	t.Helper()
	return testutil.OK(connection.NewKeyPair())(t)
}

// DIVIDERE_REGISTRY=etcd://… is all a Go service needs (this package
// linked in) to register on etcd directly.
func TestEnvEtcd(t *testing.T) {
	url := etcdtest.Start(t)
	t.Setenv("DIVIDERE_REGISTRY", url)
	svc := testutil.OK(service.New(nil, service.WithName("from-env"), service.WithHost("127.0.0.1"), service.WithLogger(quiet)))(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); svc.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	c := client(t) // from the environment too
	testutil.Eventually(t, 10*time.Second, "registered on etcd", func() bool {
		in, err := c.Lookup(ctx, "from-env")
		return err == nil && in.Port == svc.Instance().Port
	})
}
