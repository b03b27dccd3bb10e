// Package storetest is the behavioural test suite every registry.Store
// must pass: the in-memory store and the etcd store run the same cases.
package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/dividere-go/dividere/msglib"
	"github.com/dividere-go/dividere/registry"
)

// Run runs the suite; newStore returns an empty store for each case.
func Run(t *testing.T, newStore func(t *testing.T) registry.Store) {
	ctx := context.Background()
	inst := func(name, id string, ttl time.Duration) *msglib.ServiceInstance {
		in := &msglib.ServiceInstance{ServiceName: name, InstanceId: id, Server: "10.0.0.1", Port: 7000,
			Version: "1.0", Metadata: map[string]string{"zone": "a"}, RegisteredUnixMs: time.Now().UnixMilli()}
		if ttl > 0 {
			in.ExpiresUnixMs = time.Now().Add(ttl).UnixMilli()
		}
		return in
	}
	t.Run("PutListDelete", func(t *testing.T) {
		s := newStore(t)
		created, err := s.Put(ctx, inst("orders", "a", 0))
		if err != nil || !created {
			t.Fatalf("first put: %v %v", created, err)
		}
		if created, err := s.Put(ctx, inst("orders", "a", 0)); err != nil || created {
			t.Fatalf("renewal: %v %v", created, err)
		}
		s.Put(ctx, inst("orders", "b", 0))
		s.Put(ctx, inst("billing", "c", 0))
		list, err := s.List(ctx, "orders", time.Now())
		if err != nil || len(list) != 2 || list[0].InstanceId != "a" || list[1].InstanceId != "b" || list[0].Metadata["zone"] != "a" {
			t.Fatalf("list orders: %v %v", list, err)
		}
		all, _ := s.List(ctx, "", time.Now())
		if len(all) != 3 || all[0].ServiceName != "billing" {
			t.Fatalf("list all: %v", all)
		}
		gone, err := s.Delete(ctx, "orders", "a")
		if err != nil || gone == nil || gone.InstanceId != "a" {
			t.Fatalf("delete: %v %v", gone, err)
		}
		if gone, err := s.Delete(ctx, "orders", "a"); err != nil || gone != nil {
			t.Fatalf("delete again: %v %v", gone, err)
		}
		if list, _ := s.List(ctx, "orders", time.Now()); len(list) != 1 {
			t.Fatalf("after delete: %v", list)
		}
	})
	t.Run("Expiry", func(t *testing.T) {
		s := newStore(t)
		s.Put(ctx, inst("short", "x", time.Second))
		s.Put(ctx, inst("long", "y", time.Hour))
		s.Put(ctx, inst("forever", "z", 0))
		ectx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		expireUntil(ectx, s, "", 2)
		list, err := s.List(ctx, "", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 {
			t.Fatalf("the 1 s registration never expired: %v", list)
		}
		if list[0].ServiceName != "forever" || list[1].ServiceName != "long" {
			t.Fatalf("left: %v", list)
		}
	})
	t.Run("Watch", func(t *testing.T) {
		s := newStore(t)
		wctx, cancel := context.WithCancel(ctx)
		ch, err := s.Watch(wctx)
		if err != nil {
			t.Fatal(err)
		}
		s.Put(ctx, inst("w", "a", 0))
		s.Put(ctx, inst("w", "a", 0)) // a renewal: no change
		s.Put(ctx, inst("w", "short", time.Second))
		s.Delete(ctx, "w", "a")
		s.Delete(ctx, "w", "nothing")   // not there: no change
		go expireUntil(wctx, s, "w", 0) // as the name service sweeps
		want := []struct {
			kind msglib.ServiceEvent_Kind
			id   string
		}{{msglib.ServiceEvent_REGISTERED, "a"}, {msglib.ServiceEvent_REGISTERED, "short"},
			{msglib.ServiceEvent_UNREGISTERED, "a"}, {msglib.ServiceEvent_EXPIRED, "short"}}
		var last uint64
		for i, w := range want {
			select {
			case c := <-ch:
				if c.Kind != w.kind || c.Instance.InstanceId != w.id || c.Instance.ServiceName != "w" {
					t.Fatalf("change %d: %v %s/%s, want %v %s", i, c.Kind, c.Instance.ServiceName, c.Instance.InstanceId, w.kind, w.id)
				}
				if c.Revision <= last {
					t.Fatalf("change %d: revision %d after %d", i, c.Revision, last)
				}
				last = c.Revision
			case <-time.After(10 * time.Second):
				t.Fatalf("change %d (%v %s) never came", i, w.kind, w.id)
			}
		}
		cancel()
		for c := range ch { // closed once the context ends
			t.Fatalf("change after the end: %v", c)
		}
	})
	t.Run("RenewalKeepsRegistrationTime", func(t *testing.T) {
		s := newStore(t)
		first := inst("kept", "k", time.Minute)
		first.RegisteredUnixMs = 1000
		s.Put(ctx, first)
		again := inst("kept", "k", time.Minute)
		again.RegisteredUnixMs, again.Version = 2000, "2.0"
		if created, err := s.Put(ctx, again); err != nil || created {
			t.Fatalf("renewal: %v %v", created, err)
		}
		list, err := s.List(ctx, "kept", time.Now())
		if err != nil || len(list) != 1 || list[0].RegisteredUnixMs != 1000 || list[0].Version != "2.0" {
			t.Fatalf("after renewal: %v %v", list, err)
		}
	})
	t.Run("RenewalExtends", func(t *testing.T) {
		s := newStore(t)
		s.Put(ctx, inst("renewed", "r", 2*time.Second))
		for range 4 { // renew every 1 s for 4 s: it must outlive its first TTL
			time.Sleep(time.Second)
			s.Put(ctx, inst("renewed", "r", 2*time.Second))
			s.Expire(ctx, time.Now())
			if list, _ := s.List(ctx, "renewed", time.Now()); len(list) != 1 {
				t.Fatal("a renewed registration expired")
			}
		}
	})
}

// expireUntil calls Expire every 50 ms, as the name service does, until
// service (every service when "") has n instances left or ctx ends.
func expireUntil(ctx context.Context, s registry.Store, service string, n int) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		s.Expire(ctx, time.Now())
		if list, err := s.List(ctx, service, time.Now()); err == nil && len(list) == n {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
