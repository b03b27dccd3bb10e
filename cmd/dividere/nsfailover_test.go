//go:build unix

package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dividere-go/dividere/internal/etcdtest"
	"github.com/dividere-go/dividere/internal/testutil"
	"github.com/dividere-go/dividere/msglib"
	"github.com/dividere-go/dividere/registry"
)

// failoverTolerance is what the loaded test machine may add to the 1 s
// failover bound: a lookup's own round trip, and the scheduling of five
// busy processes on two cores.
const failoverTolerance = 500 * time.Millisecond

// The acceptance test of several name services: three `dividere registry
// -store etcd://` processes on a three-member etcd cluster (each member a
// process). Under a steady load of lookups and registrations one name
// service is SIGKILLed, then one etcd member (the leader, the hardest
// case: the cluster elects another), then another name service hangs
// (SIGSTOP). Lookups keep succeeding, the longest
// time between two that succeeded staying within the failover bound; no
// registration that was acknowledged is lost; the watcher, which was
// connected to the killed name service too, resumes from the revision it
// last saw and delivers every registration once.
func TestSeveralNameServicesSurviveKills(t *testing.T) {
	cl := etcdtest.StartCluster(t, 3)
	var procs []*proc
	var reqs, nots, wats []string
	for range 3 {
		r, n, w := testutil.Port(t), testutil.Port(t), testutil.Port(t)
		p := start(t, "registry", "-store", cl.URL(), "-requests", fmt.Sprintf("@tcp://127.0.0.1:%d", r),
			"-notices", fmt.Sprintf("@tcp://127.0.0.1:%d", n), "-watch", fmt.Sprintf("@tcp://127.0.0.1:%d", w))
		waitPrinted(t, p.out, "name service: requests on", 30*time.Second)
		procs = append(procs, p)
		reqs, nots, wats = append(reqs, fmt.Sprintf("127.0.0.1:%d", r)), append(nots, fmt.Sprintf("127.0.0.1:%d", n)),
			append(wats, fmt.Sprintf("127.0.0.1:%d", w))
	}
	ctx := testutil.Ctx(t, 4*time.Minute)
	client := func() *registry.Client {
		c, err := registry.NewClient(registry.WithEndpoints(strings.Join(reqs, ","), strings.Join(nots, ","), strings.Join(wats, ",")), registry.WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	c := client()
	if err := c.Register(ctx, registry.Instance{Service: "stable", Server: "10.0.0.1", Port: 7000}); err != nil {
		t.Fatal(err)
	}
	w, err := c.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	// Wait until the watcher hears all three instances: a change then
	// comes three times, delivered once.
	for i := 0; w.Repeats() < 2; i++ {
		name := fmt.Sprintf("warmup-%d", i)
		if err := c.Register(ctx, registry.Instance{Service: name, Server: "10.0.0.2", Port: 7000}); err != nil {
			t.Fatal(err)
		}
		testutil.Poll(time.Second, func() bool { return w.Repeats() >= 2 })
		if ctx.Err() != nil {
			t.Fatal("the watcher never heard all three name services")
		}
	}
	// What the watcher delivers, from now on.
	var evMu sync.Mutex
	heard := map[string]int{}
	evDone := make(chan struct{})
	go func() {
		defer close(evDone)
		for ev := range w.Events() {
			if ev.Kind == msglib.ServiceEvent_REGISTERED && strings.HasPrefix(ev.Instance.Service, "load-") {
				evMu.Lock()
				heard[ev.Instance.Service]++
				evMu.Unlock()
			}
		}
	}()

	// The load: two clients looking up, one registering, until stop.
	loadCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var longest, regLongest time.Duration
	var lookups, failed int
	var acked []string
	for range 2 {
		lc := client()
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := time.Now()
			for loadCtx.Err() == nil {
				_, err := lc.Lookup(loadCtx, "stable")
				now := time.Now()
				mu.Lock()
				if err == nil {
					lookups++
					longest = max(longest, now.Sub(last))
					last = now
				} else if loadCtx.Err() == nil {
					failed++
				}
				mu.Unlock()
			}
		}()
	}
	rc := client()
	wg.Add(1)
	go func() {
		defer wg.Done()
		last := time.Now()
		for i := 0; loadCtx.Err() == nil; i++ {
			name := fmt.Sprintf("load-%d", i)
			// Retried until acknowledged: a registration refused while
			// etcd elects, or lost with a killed name service, is sent
			// again (registrations are idempotent).
			for loadCtx.Err() == nil {
				if err := rc.Register(loadCtx, registry.Instance{Service: name, Server: "10.0.1.1", Port: 7000 + i%1000}); err == nil {
					mu.Lock()
					acked = append(acked, name)
					regLongest = max(regLongest, time.Since(last))
					mu.Unlock()
					last = time.Now()
					break
				}
			}
		}
	}()
	progress := func() (int, int) {
		mu.Lock()
		defer mu.Unlock()
		return lookups, len(acked)
	}
	// Let the load run, kill, let it run again: each phase lasts until
	// the load has made progress, not for a fixed time.
	settle := func(what string) {
		t.Helper()
		l0, r0 := progress()
		if !testutil.Poll(60*time.Second, func() bool { l, r := progress(); return l >= l0+200 && r >= r0+20 }) {
			l, r := progress()
			t.Fatalf("%s: the load stalled (%d lookups and %d registrations since)", what, l-l0, r-r0)
		}
	}
	settle("before the kills")
	procs[0].cmd.Process.Kill()
	t.Log("SIGKILLed name service 0")
	settle("after the name service was killed")
	leader, err := cl.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cl.Kill(leader)
	t.Logf("SIGKILLed etcd member %d, the leader", leader)
	settle("after the etcd member was killed")
	// A name service that hangs rather than dies (SIGSTOP): its
	// connections stay open, so its requests are sent again after the
	// failover timeout.
	if err := procs[1].cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Log("SIGSTOPped name service 1")
	settle("with a name service hung")
	if err := procs[1].cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	stop()
	wg.Wait()

	mu.Lock()
	t.Logf("%d lookups (%d failed), %d registrations acknowledged; longest time without a successful lookup %v, without an acknowledged registration %v",
		lookups, failed, len(acked), longest.Round(time.Millisecond), regLongest.Round(time.Millisecond))
	if longest > time.Second+failoverTolerance {
		t.Errorf("lookups stopped for %v; the failover bound is 1 s (+%v tolerance)", longest, failoverTolerance)
	}
	names := append([]string(nil), acked...)
	mu.Unlock()

	// No registration acknowledged is lost: the name services that are
	// left list every one.
	listed := map[string]bool{}
	testutil.Eventually(t, 30*time.Second, "every acknowledged registration listed", func() bool {
		insts, err := c.List(ctx, "")
		if err != nil {
			return false
		}
		for _, in := range insts {
			listed[in.Service] = true
		}
		for _, n := range names {
			if !listed[n] {
				return false
			}
		}
		return true
	})
	// The command line takes the same list, the dead instance first.
	if code, o, e := cli(t, "lookup", "-registry", strings.Join(reqs, ","), "stable"); code != exitOK || strings.TrimSpace(o) != "tcp://10.0.0.1:7000" {
		t.Errorf("dividere lookup -registry %s: exit %d, %q %q", strings.Join(reqs, ","), code, o, e)
	}
	// The watcher delivered each of them once.
	testutil.Eventually(t, 30*time.Second, "the watcher heard every registration", func() bool {
		evMu.Lock()
		defer evMu.Unlock()
		for _, n := range names {
			if heard[n] == 0 {
				return false
			}
		}
		return true
	})
	evMu.Lock()
	for n, k := range heard {
		if k != 1 {
			t.Errorf("the watcher delivered %s %d times", n, k)
		}
	}
	evMu.Unlock()
	if w.Resumes() == 0 || w.Gaps() != 0 {
		t.Errorf("watcher: %d catch-ups, %d it could not complete; want at least one (its connection to the killed name service closed), none incomplete",
			w.Resumes(), w.Gaps())
	}
	t.Logf("watcher: %d registrations heard once each, %d catch-up(s) from its last revision, %d repeats dropped",
		len(names), w.Resumes(), w.Repeats())
	w.Close()
	<-evDone
}

// waitPrinted waits until b holds want.
func waitPrinted(t *testing.T, b *syncBuffer, want string, d time.Duration) {
	t.Helper()
	if !testutil.Poll(d, func() bool { return strings.Contains(b.String(), want) }) {
		t.Fatalf("no %q within %v in %q", want, d, b.String())
	}
}
