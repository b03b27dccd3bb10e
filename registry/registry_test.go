package registry_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/internal/testutil"
	"github.com/dividere-go/dividere/messaging"
	"github.com/dividere-go/dividere/msglib"
	"github.com/dividere-go/dividere/registry"
)

func TestMain(m *testing.M) { testutil.VerifyNoLeaks(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// tctx is testutil.Ctx.
func tctx(t *testing.T, d time.Duration) context.Context { return testutil.Ctx(t, d) }

// newServer starts a name service on free ports and a client for it.
func newServer(t *testing.T, opts ...registry.ServerOption) (*registry.Server, *registry.Client) {
	t.Helper()
	s, err := registry.NewServer(append([]registry.ServerOption{
		registry.WithEndpoints("@tcp://127.0.0.1:0", "@tcp://127.0.0.1:0", ""), registry.WithLogger(quiet)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	testutil.Serve(t, s)
	return s, newClient(t, s)
}

func newClient(t *testing.T, s *registry.Server) *registry.Client {
	t.Helper()
	c, err := registry.NewClient(registry.WithEndpoints(s.Endpoints()),
		registry.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func reg(service, server string, port int, ttl time.Duration) registry.Instance {
	return registry.Instance{Service: service, Server: server, Port: port, TTL: ttl}
}

func TestRegisterLookupUnregister(t *testing.T) {
	_, c := newServer(t)
	ctx := tctx(t, 10*time.Second)
	if _, err := c.Lookup(ctx, "orders"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("lookup before register: %v", err)
	}
	r := reg("orders", "10.1.2.3", 7000, 0)
	r.Version, r.Metadata = "1.2.0", map[string]string{"zone": "a"}
	if err := c.Register(ctx, r); err != nil {
		t.Fatal(err)
	}
	got, err := c.Lookup(ctx, "orders")
	if err != nil || got.Server != "10.1.2.3" || got.Port != 7000 || got.ID != "10.1.2.3:7000" || got.Version != "1.2.0" {
		t.Fatalf("lookup: %+v %v", got, err)
	}
	list, err := c.List(ctx, "")
	if err != nil || len(list) != 1 || list[0].Metadata["zone"] != "a" {
		t.Fatalf("list: %+v %v", list, err)
	}
	if err := c.Unregister(ctx, "orders", "10.1.2.3", 7000, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Lookup(ctx, "orders"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("lookup after unregister: %v", err)
	}
	// Unregistering what is not there is answered, and the server lives on.
	if err := c.Unregister(ctx, "nobody", "h", 1, ""); !errors.Is(err, registry.ErrRefused) {
		t.Fatalf("unregister unknown: %v", err)
	}
	if err := c.Register(ctx, reg("orders", "h", 1, 0)); err != nil {
		t.Fatalf("after unknown unregister: %v", err)
	}
}

// A peer that speaks only the original messages (no instance id, no TTL)
// registers, looks up and unregisters.
func TestOriginalMessagesOnly(t *testing.T) {
	s, _ := newServer(t)
	req, err := messaging.NewRequest(requestEndpoint(s))
	if err != nil {
		t.Fatal(err)
	}
	defer req.Close()
	ctx := tctx(t, 10*time.Second)
	call := func(m proto.Message) proto.Message {
		t.Helper()
		rep, err := messaging.Call[proto.Message](ctx, req, m)
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	if rep := call(&msglib.RegisterService{ServiceName: "svc", Server: "host", Port: 9}); !proto.Equal(rep, &msglib.Ack{Ok: true}) {
		t.Fatalf("register: %v", rep)
	}
	rep := call(&msglib.ServiceLookupReq{ServiceName: "svc"}).(*msglib.ServiceLookupRep)
	if rep.Server != "host" || rep.Port != 9 {
		t.Fatalf("lookup: %v", rep)
	}
	if rep := call(&msglib.ServiceLookupReq{ServiceName: "other"}); !proto.Equal(rep, &msglib.ServiceLookupRep{ServiceName: "other", Server: "unavailable"}) {
		t.Fatalf("unknown lookup: %v", rep)
	}
	if rep := call(&msglib.UnregisterService{ServiceName: "svc", Server: "host", Port: 9}); !proto.Equal(rep, &msglib.Ack{Ok: true}) {
		t.Fatalf("unregister: %v", rep)
	}
	if rep, err := messaging.Call[proto.Message](ctx, req, &msglib.UnregisterService{ServiceName: "svc", Server: "host", Port: 9}); messaging.CodeOf(err) != messaging.NotFound {
		t.Fatalf("unregister again: %v %v, want NOT_FOUND", rep, err)
	}
}

func TestInstancesSpreadAndExpire(t *testing.T) {
	_, c := newServer(t, registry.WithSweepInterval(20*time.Millisecond))
	ctx := tctx(t, 10*time.Second)
	for _, p := range []int{1, 2, 3} {
		ttl := time.Duration(0)
		if p == 3 {
			ttl = 300 * time.Millisecond
		}
		if err := c.Register(ctx, reg("calc", "127.0.0.1", p, ttl)); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[int]int{}
	for range 30 {
		in, err := c.Lookup(ctx, "calc")
		if err != nil {
			t.Fatal(err)
		}
		seen[in.Port]++
	}
	if seen[1] != 10 || seen[2] != 10 || seen[3] != 10 {
		t.Fatalf("lookups spread %v, want 10 each", seen)
	}
	// Port 3's registration is not renewed: it expires.
	deadline := time.Now().Add(3 * time.Second)
	for {
		list, err := c.List(ctx, "calc")
		if err != nil {
			t.Fatal(err)
		}
		if len(list) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %d instances", len(list))
		}
		time.Sleep(20 * time.Millisecond)
	}
	for range 10 {
		if in, _ := c.Lookup(ctx, "calc"); in.Port == 3 {
			t.Fatal("expired instance returned")
		}
	}
}

func TestWatch(t *testing.T) {
	s, c := newServer(t, registry.WithSweepInterval(20*time.Millisecond))
	ctx := tctx(t, 10*time.Second)
	w, err := c.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := s.WaitWatchers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	// The server announces only the changes after it watches the store.
	testutil.Eventually(t, 10*time.Second, "the server announcing", func() bool { return s.Stats().Announcing })
	c.Register(ctx, reg("a", "h", 1, 0))
	c.Register(ctx, reg("a", "h", 1, 0)) // a renewal: no event
	c.Register(ctx, reg("b", "h", 2, 100*time.Millisecond))
	c.Unregister(ctx, "a", "h", 1, "")
	var got []string
	for len(got) < 4 {
		select {
		case ev := <-w.Events():
			got = append(got, ev.Kind.String()+" "+ev.Instance.Service)
		case <-ctx.Done():
			t.Fatalf("events %v", got)
		}
	}
	if strings.Join(got, ", ") != "REGISTERED a, REGISTERED b, UNREGISTERED a, EXPIRED b" {
		t.Fatalf("events %v", got)
	}
	// The counters an operator scrapes saw the same.
	if st := s.Stats(); st.Expiries != 1 || st.Instances != 0 || st.Watchers != 1 {
		t.Fatalf("stats after: %+v", st)
	}
	c.Register(ctx, reg("c", "h", 3, 0))
	if st := s.Stats(); st.Instances != 1 {
		t.Fatalf("stats with one instance: %+v", st)
	}
}

// Announcing says whether the server publishes the store's changes: not
// before Serve, as soon as Serve watches the store, and not after.
func TestAnnouncing(t *testing.T) {
	s, err := registry.NewServer(registry.WithEndpoints("@tcp://127.0.0.1:0", "@tcp://127.0.0.1:0", ""), registry.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Stats().Announcing {
		t.Fatal("announcing before Serve")
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(context.Background()) }()
	testutil.Eventually(t, 10*time.Second, "announcing once served", func() bool { return s.Stats().Announcing })
	s.Close()
	select {
	case <-served:
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
	if s.Stats().Announcing {
		t.Fatal("announcing after Serve returned")
	}
}

// A call that times out leaves the client usable.
func TestClientTimeoutThenRecovers(t *testing.T) {
	c, err := registry.NewClient(registry.WithAddress("127.0.0.1:1"), registry.WithRetry(25*time.Millisecond, 1, 0), registry.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Lookup(context.Background(), "x"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
	if _, err := c.Lookup(context.Background(), "x"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second call: %v (want another timeout, not a state error)", err)
	}
	if _, err := registry.NewClient(registry.WithAddress("no-port")); err == nil {
		t.Fatal("bad address accepted")
	}
	t.Setenv("DIVIDERE_REGISTRY", "example.invalid:6000")
	e, err := registry.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if req, notices, watch := registry.Addresses(e); req != "tcp://example.invalid:6000" || notices != "tcp://example.invalid:6001" ||
		watch != "tcp://example.invalid:6002" {
		t.Fatalf("from the environment: %s %s %s", req, notices, watch)
	}
}

func TestDefaultTTL(t *testing.T) {
	_, c := newServer(t, registry.WithDefaultTTL(100*time.Millisecond), registry.WithSweepInterval(10*time.Millisecond))
	ctx := tctx(t, 10*time.Second)
	if err := c.Register(ctx, reg("old-style", "h", 1, 0)); err != nil {
		t.Fatal(err)
	}
	list, err := c.List(ctx, "old-style")
	if err != nil || len(list) != 1 || list[0].Expires.IsZero() {
		t.Fatalf("list: %+v %v", list, err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		if _, err := c.Lookup(ctx, "old-style"); errors.Is(err, registry.ErrNotFound) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("a registration without TTL did not get the default one")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Bad input to the name service gets a prompt ack{ok: false}, as from the
// original's REP, and it keeps serving: garbage bytes, an envelope of a
// type it does not serve, and both from several workers' worth of peers.
func TestBadRequestsAnswered(t *testing.T) {
	for _, workers := range []int{1, 8} {
		s, c := newServer(t, registry.WithWorkers(workers))
		raw := testutil.OK(connection.NewRequest(requestEndpoint(s)))(t)
		testutil.CloseAll(t, raw)
		typed := testutil.OK(messaging.NewRequest(requestEndpoint(s)))(t)
		testutil.CloseAll(t, typed)
		ctx := testutil.Ctx(t, 10*time.Second)
		m, err := raw.Call(ctx, []byte("garbage"))
		if err != nil {
			t.Fatalf("workers=%d, garbage: %v", workers, err)
		}
		if a, _, err := messaging.Decode(m.Payload(), nil); err != nil || messaging.CodeOf(messaging.ReplyError(a)) != messaging.InvalidArgument {
			t.Fatalf("workers=%d, garbage answered %v %v, want INVALID_ARGUMENT", workers, a, err)
		}
		rep, err := messaging.Call[proto.Message](ctx, typed, &msglib.Heartbeat{Id: "not a registry request"})
		if messaging.CodeOf(err) != messaging.Unimplemented {
			t.Fatalf("workers=%d, unserved type answered %v %v, want UNIMPLEMENTED", workers, rep, err)
		}
		if err := c.Register(ctx, reg("still", "h", 1, 0)); err != nil {
			t.Fatalf("workers=%d, after bad input: %v", workers, err)
		}
	}
}

// requestEndpoint is where s answers requests.
func requestEndpoint(s *registry.Server) string {
	req, _, _ := s.Endpoints()
	return req
}

// What a service registers is what a lookup gives back: one Instance
// type, its TTL included.
func TestInstanceRoundTrip(t *testing.T) {
	_, c := newServer(t)
	ctx := testutil.Ctx(t, 10*time.Second)
	want := registry.Instance{Service: "round", Server: "10.1.2.3", Port: 4567, ID: "one", Version: "2.1",
		Metadata: map[string]string{"zone": "b"}, TTL: 30 * time.Second}
	if err := c.Register(ctx, want); err != nil {
		t.Fatal(err)
	}
	got, err := c.Lookup(ctx, "round")
	if err != nil {
		t.Fatal(err)
	}
	all, err := c.List(ctx, "round")
	if err != nil || len(all) != 1 {
		t.Fatalf("list: %v %v", all, err)
	}
	in := all[0]
	if got.Endpoint() != "tcp://10.1.2.3:4567" || in.ID != "one" || in.Version != "2.1" || in.Metadata["zone"] != "b" ||
		in.TTL != want.TTL || in.Expires.IsZero() || in.Renewed.IsZero() {
		t.Fatalf("registered %+v, listed %+v", want, in)
	}
	// Renewed later, it still reports the TTL it registered with (it used
	// to count from the first registration), and when it renewed.
	for time.Now().UnixMilli() <= in.Renewed.UnixMilli()+2 {
		runtime.Gosched() // the clock must move on for a renewal to differ
	}
	if err := c.Register(ctx, want); err != nil {
		t.Fatal(err)
	}
	all, err = c.List(ctx, "round")
	if err != nil || len(all) != 1 || all[0].TTL != want.TTL || !all[0].Renewed.After(in.Renewed) {
		t.Fatalf("after a renewal: %+v %v (first %+v)", all, err, in)
	}
}
