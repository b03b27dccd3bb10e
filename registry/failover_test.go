package registry_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dividere-go/dividere/internal/testutil"
	"github.com/dividere-go/dividere/msglib"
	"github.com/dividere-go/dividere/registry"
)

// startOn starts a name service sharing st on the given request, notice
// and watch ports (0: any).
func startOn(t *testing.T, st registry.Store, req, not, watch int) *registry.Server {
	t.Helper()
	s, err := registry.NewServer(registry.WithEndpoints(fmt.Sprintf("@tcp://127.0.0.1:%d", req), fmt.Sprintf("@tcp://127.0.0.1:%d", not), fmt.Sprintf("@tcp://127.0.0.1:%d", watch)), registry.WithStore(st), registry.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(context.Background())
	t.Cleanup(func() { s.Close() })
	// A change made before the server watches the store is not announced
	// by it: wait, so that a watcher on it hears every change from here.
	testutil.Eventually(t, 10*time.Second, "the server announcing", func() bool { return s.Stats().Announcing })
	return s
}

// A client of three name-service instances on one store: when the one
// its requests go to is closed, lookups fail over within the failover
// bound, and when it comes back on its port it takes its share of the
// requests again.
func TestClientFailsOverAndGoesBack(t *testing.T) {
	st := registry.NewMemoryStore()
	ports := []int{testutil.Port(t), testutil.Port(t), testutil.Port(t)}
	var servers []*registry.Server
	var addrs []string
	for _, p := range ports {
		servers = append(servers, startOn(t, st, p, 0, 0))
		addrs = append(addrs, fmt.Sprintf("127.0.0.1:%d", p))
	}
	c := testutil.OK(registry.NewClient(registry.WithAddress(strings.Join(addrs, ",")), registry.WithLogger(quiet)))(t)
	defer c.Close()
	ctx := tctx(t, 60*time.Second)
	if err := c.Register(ctx, reg("orders", "10.0.0.1", 7000, 0)); err != nil {
		t.Fatal(err)
	}
	lookups := func(n int) (longest time.Duration) {
		t.Helper()
		for range n {
			start := time.Now()
			if in, err := c.Lookup(ctx, "orders"); err != nil || in.Port != 7000 {
				t.Fatalf("lookup: %+v %v", in, err)
			}
			longest = max(longest, time.Since(start))
		}
		return longest
	}
	// Every instance serves while all are up.
	testutil.Eventually(t, 10*time.Second, "every instance answers", func() bool {
		lookups(6)
		for _, s := range servers {
			if s.Stats().Lookups == 0 {
				return false
			}
		}
		return true
	})
	servers[0].Close()
	longest := lookups(30)
	t.Logf("30 lookups with an instance closed: the longest took %v", longest.Round(time.Millisecond))
	if longest > time.Second {
		t.Fatalf("a lookup took %v with one instance of three down; the failover bound is 1 s", longest)
	}
	// Back on its port: it is used again.
	back := startOn(t, st, ports[0], 0, 0)
	took := testutil.Eventually(t, 10*time.Second, "the instance back takes requests", func() bool {
		lookups(3)
		return back.Stats().Lookups > 0
	})
	t.Logf("the instance back answered lookups again %v after it came back", took.Round(time.Millisecond))
}

// A watcher connected to one instance only misses the changes made
// through another while its own is down; once its instance is back it
// catches up from the revision it last saw, through the other, and
// delivers each change once, in order.
func TestWatcherResumesFromItsRevision(t *testing.T) {
	st := registry.NewMemoryStore()
	wport := testutil.Port(t)
	a := startOn(t, st, 0, 0, wport)
	b := startOn(t, st, 0, 0, 0)
	breq, bnot, _ := b.Endpoints()
	_, _, awatch := a.Endpoints()
	c := testutil.OK(registry.NewClient(registry.WithEndpoints(breq, bnot, awatch), registry.WithLogger(quiet)))(t)
	defer c.Close()
	ctx := tctx(t, 60*time.Second)
	w := testutil.OK(c.Watch(ctx))(t)
	defer w.Close()
	if err := a.WaitWatchers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	next := func() registry.Event {
		t.Helper()
		select {
		case ev := <-w.Events():
			return ev
		case <-ctx.Done():
			t.Fatal("no event")
		}
		return registry.Event{}
	}
	if err := c.Register(ctx, reg("s", "h", 1, 0)); err != nil {
		t.Fatal(err)
	}
	if ev := next(); ev.Instance.Port != 1 || ev.Kind != msglib.ServiceEvent_REGISTERED {
		t.Fatalf("first event %+v", ev)
	}
	a.Close()
	// Changes the watcher cannot hear: its only instance is down.
	for p := 2; p <= 4; p++ {
		if err := c.Register(ctx, reg("s", "h", p, 0)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Unregister(ctx, "s", "h", 1, ""); err != nil {
		t.Fatal(err)
	}
	startOn(t, st, 0, 0, wport)
	testutil.Eventually(t, 10*time.Second, "a catch-up", func() bool { return w.Resumes() > 0 })
	if err := c.Register(ctx, reg("s", "h", 5, 0)); err != nil {
		t.Fatal(err)
	}
	want := []string{"REGISTERED 2", "REGISTERED 3", "REGISTERED 4", "UNREGISTERED 1", "REGISTERED 5"}
	var last uint64
	for i, wnt := range want {
		ev := next()
		if got := fmt.Sprintf("%v %d", ev.Kind, ev.Instance.Port); got != wnt || ev.Revision <= last {
			t.Fatalf("event %d: %s at revision %d (after %d); want %s", i, got, ev.Revision, last, wnt)
		}
		last = ev.Revision
	}
	if w.Gaps() != 0 || registry.Revision(w) != last {
		t.Fatalf("gaps %d, revision %d (last delivered %d)", w.Gaps(), registry.Revision(w), last)
	}
	t.Logf("caught up after %d resume(s); %d repeats dropped", w.Resumes(), w.Repeats())
}
