package etcdstore_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dividere-go/dividere/internal/etcdtest"
	"github.com/dividere-go/dividere/internal/testproc"
	"github.com/dividere-go/dividere/internal/testutil"
	"github.com/dividere-go/dividere/msglib"
	"github.com/dividere-go/dividere/registry"
	"github.com/dividere-go/dividere/registry/etcdstore"
)

// startNameServices runs n name-service processes on the etcd cluster
// url names; it returns them and their request and notice endpoints as
// comma-separated lists.
func startNameServices(t *testing.T, url string, n int) (procs []*testproc.Proc, requests, notices, watch string) {
	var reqs, nots, wats []string
	for range n {
		p := testproc.Start(t, "nameservice", url)
		procs = append(procs, p)
		reqs, nots, wats = append(reqs, p.Fields[0]), append(nots, p.Fields[1]), append(wats, p.Fields[2])
	}
	return procs, strings.Join(reqs, ","), strings.Join(nots, ","), strings.Join(wats, ",")
}

// A name-service process is SIGKILLed: a client that lists both keeps
// looking up and registering through the other, and keeps hearing notices.
func TestNameServiceInstanceKilled(t *testing.T) {
	url := etcdtest.Start(t)
	procs, reqs, nots, wats := startNameServices(t, url, 2)
	svc := testproc.Start(t, "service", "orders", "30s", reqs, nots)
	svc.Expect(t, "REGISTERED", 20*time.Second)
	ctx := testutil.Ctx(t, 60*time.Second)
	for _, ep := range strings.Split(reqs, ",") { // through each instance (its cache has it within ms)
		c := client(t, registry.WithAddress(ep))
		testutil.Eventually(t, 5*time.Second, "found through "+ep, func() bool {
			in, err := c.Lookup(ctx, "orders")
			return err == nil && strconv.Itoa(in.Port) == svc.Fields[0]
		})
	}
	c := client(t, registry.WithEndpoints(reqs, nots, wats), registry.WithRetry(250*time.Millisecond, 1, 0))
	w := testutil.OK(c.Watch(ctx))(t)
	defer w.Close()
	// Wait until both instances deliver notices to the watcher: a change
	// is then heard twice, once delivered.
	for i := 0; w.Repeats() == 0; i++ {
		name := fmt.Sprintf("warmup-%d", i)
		if err := c.Register(ctx, inst(name, "h", i+1, 0)); err != nil {
			t.Fatal(err)
		}
		expect(t, ctx, w, msglib.ServiceEvent_REGISTERED, name)
		testutil.Poll(200*time.Millisecond, func() bool { return w.Repeats() > 0 })
	}
	procs[0].Kill()
	var slowest time.Duration
	for range 20 {
		start := time.Now()
		// A request on its way to the killed instance is sent again to
		// the other as soon as its connection closes: none fails.
		if in, err := c.Lookup(ctx, "orders"); err != nil || strconv.Itoa(in.Port) != svc.Fields[0] {
			t.Fatalf("lookup with one instance killed: %+v %v", in, err)
		}
		slowest = max(slowest, time.Since(start))
	}
	if err := c.Register(ctx, inst("after-kill", "h", 99, 0)); err != nil {
		t.Fatal(err)
	}
	expect(t, ctx, w, msglib.ServiceEvent_REGISTERED, "after-kill")
	t.Logf("20 of 20 lookups answered with one instance killed (slowest %v); notices go on from the other instance",
		slowest.Round(time.Millisecond))
}

// One etcd member of three is SIGKILLed (the leader, the hardest case):
// nothing registered is lost, registrations, renewals, lookups and
// notices go on, and the member catches up when it comes back.
func TestEtcdMemberKilled(t *testing.T) {
	cl := etcdtest.StartCluster(t, 3)
	a, b := nameServer(t, cl.URL(), etcdstore.WithCache()), nameServer(t, cl.URL())
	ctx := testutil.Ctx(t, 120*time.Second)
	reqs, nots, wats := endpoints(a, b)
	c := client(t, registry.WithEndpoints(reqs, nots, wats), registry.WithRetry(1500*time.Millisecond, 1, 0))
	const n = 20
	for i := range n {
		if err := c.Register(ctx, inst("stock", "10.0.0.1", 7000+i, time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	// A live service with a short TTL renews through the kill.
	svc := testproc.Start(t, "service", "pricing", "3s", reqs, nots)
	svc.Expect(t, "REGISTERED", 20*time.Second)
	w := testutil.OK(c.Watch(ctx))(t)
	defer w.Close()
	if err := a.WaitWatchers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	leader, err := cl.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cl.Kill(leader)
	killed := time.Now()
	t.Logf("killed etcd member %d, the leader", leader)

	// New registrations go through once the cluster has a new leader.
	took := testutil.Eventually(t, 30*time.Second, "a registration after the kill", func() bool {
		return c.Register(ctx, inst("late", "10.0.0.2", 8000, time.Minute)) == nil
	})
	t.Logf("first registration after the kill succeeded after %v", took.Round(time.Millisecond))
	// The watcher hears it. The live service may be heard first: a renewal
	// that failed during the election registers it again.
	for {
		select {
		case ev, ok := <-w.Events():
			if ok && ev.Instance.Service == "pricing" && ev.Kind == msglib.ServiceEvent_REGISTERED {
				continue
			}
			if !ok || ev.Kind != msglib.ServiceEvent_REGISTERED || ev.Instance.Service != "late" {
				t.Fatalf("event %v %+v (open %v), want REGISTERED late", ev.Kind, ev.Instance, ok)
			}
		case <-ctx.Done():
			t.Fatal("no REGISTERED late")
		}
		break
	}
	// Everything from before is there, through both instances.
	for _, s := range []*registry.Server{a, b} {
		list, err := client(t, registry.WithEndpoints(s.Endpoints())).List(ctx, "stock")
		if err != nil || len(list) != n {
			req, _, _ := s.Endpoints()
			t.Fatalf("after the kill, %s lists %d of %d: %v", req, len(list), n, err)
		}
	}
	// The 3 s service outlives two of its TTLs after the kill: its
	// renewals reach the new leader.
	testutil.Eventually(t, 30*time.Second, "two TTLs after the kill", func() bool { return time.Since(killed) > 6*time.Second })
	if in, err := c.Lookup(ctx, "pricing"); err != nil || strconv.Itoa(in.Port) != svc.Fields[0] {
		t.Fatalf("the renewing service after two TTLs: %+v %v", in, err)
	}
	// The killed member comes back and has everything.
	cl.Restart(t, leader)
	only := direct(t, "etcd://"+cl.Members[leader].Endpoint())
	testutil.Eventually(t, 30*time.Second, "the restarted member catching up", func() bool {
		list, err := only.List(ctx, "")
		return err == nil && len(list) == n+2
	})
}

// A service process is SIGKILLed: its registration vanishes from every
// name-service instance, and from etcd, within its TTL, and every
// instance's watchers hear that it expired.
func TestKilledServiceExpiresEverywhere(t *testing.T) {
	url := etcdtest.Start(t)
	_, reqs, nots, wats := startNameServices(t, url, 2)
	ctx := testutil.Ctx(t, 60*time.Second)
	var clients []*registry.Client
	var watchers []*registry.Watcher
	reqList, notList, watList := strings.Split(reqs, ","), strings.Split(nots, ","), strings.Split(wats, ",")
	for i := range reqList {
		c := client(t, registry.WithEndpoints(reqList[i], notList[i], watList[i]))
		w := testutil.OK(c.Watch(ctx))(t)
		defer w.Close()
		clients, watchers = append(clients, c), append(watchers, w)
	}
	clients = append(clients, direct(t, url))
	const ttl = 2 * time.Second
	for _, via := range []string{"name service", "etcd directly"} {
		t.Run(via, func(t *testing.T) {
			name := strings.ReplaceAll(via, " ", "-")
			args := []string{name, ttl.String(), reqs, nots}
			if via == "etcd directly" {
				args = []string{name, ttl.String(), url}
			}
			svc := testproc.Start(t, "service", args...)
			svc.Expect(t, "REGISTERED", 20*time.Second)
			for _, c := range clients {
				testutil.Eventually(t, 10*time.Second, "found everywhere", func() bool { _, err := c.Lookup(ctx, name); return err == nil })
			}
			svc.Kill()
			killed := time.Now()
			for i, c := range clients {
				testutil.Eventually(t, ttl+time.Second, "gone", func() bool { _, err := c.Lookup(ctx, name); return err != nil })
				// The last renewal came at most TTL/3 before the kill; allow
				// for the polling.
				since := time.Since(killed)
				if since > ttl+250*time.Millisecond {
					t.Fatalf("client %d still found the killed service %v after the kill (TTL %v)", i, since, ttl)
				}
				t.Logf("client %d: gone %v after the kill (TTL %v)", i, since.Round(time.Millisecond), ttl)
			}
			for i, w := range watchers {
				expired := false
				for ev := range w.Events() { // until ctx ends, at the latest
					if ev.Instance.Service != name {
						continue
					}
					if ev.Kind == msglib.ServiceEvent_EXPIRED {
						t.Logf("watcher %d: EXPIRED %v after the kill", i, time.Since(killed).Round(time.Millisecond))
						expired = true
						break
					}
					if ev.Kind != msglib.ServiceEvent_REGISTERED {
						t.Fatalf("watcher %d: %v", i, ev.Kind)
					}
				}
				if !expired {
					t.Fatalf("watcher %d never heard that %s expired", i, name)
				}
			}
		})
	}
}

// A service on etcd directly registers again when its registration is
// removed behind its back.
func TestDirectServiceRegistersAgain(t *testing.T) {
	url := etcdtest.Start(t)
	svc := testproc.Start(t, "service", "stubborn", "1m", url)
	svc.Expect(t, "REGISTERED", 20*time.Second)
	ctx := testutil.Ctx(t, 30*time.Second)
	c := direct(t, url)
	in, err := c.Lookup(ctx, "stubborn")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Unregister(ctx, in.Service, in.Server, in.Port, in.ID); err != nil {
		t.Fatal(err)
	}
	took := testutil.Eventually(t, 10*time.Second, "registered again", func() bool { _, err := c.Lookup(ctx, "stubborn"); return err == nil })
	t.Logf("registered again %v after being removed (its TTL is a minute)", took.Round(time.Millisecond))
}
