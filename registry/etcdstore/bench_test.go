package etcdstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/dividere-go/dividere/internal/benchkit"
	"github.com/dividere-go/dividere/internal/etcdtest"
	"github.com/dividere-go/dividere/registry"
	"github.com/dividere-go/dividere/registry/etcdstore"
)

// Lookups and registrations per second from 8 clients at once, in one
// run: a name service on the in-memory store, a name service on etcd
// (one member, in this process) without and with WithCache, and the
// clients on etcd directly with no name service:
//
//	go test -run '^$' -bench Stores -benchtime 3s ./registry/etcdstore
//
// Registrations cycle over 1,000 instances, so most are renewals.
func BenchmarkStores(b *testing.B) {
	const clients = 8
	url := etcdtest.Start(b)
	ctx := context.Background()
	nameService := func(b *testing.B, opts ...registry.ServerOption) []*registry.Client {
		s, err := registry.NewServer(append([]registry.ServerOption{registry.WithEndpoints("@tcp://127.0.0.1:0", "@tcp://127.0.0.1:0", ""),
			registry.WithLogger(quiet)}, opts...)...)
		if err != nil {
			b.Fatal(err)
		}
		go s.Serve(context.Background())
		b.Cleanup(func() { s.Close() })
		return newClients(b, clients, registry.WithEndpoints(s.Endpoints()))
	}
	store := func(b *testing.B, prefix string, opts ...etcdstore.OpenOption) etcdstore.Store {
		st, err := etcdstore.Open(url, append(opts, etcdstore.WithPrefix(prefix))...)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		return st
	}
	for _, c := range []struct {
		name    string
		clients func(b *testing.B) []*registry.Client
	}{
		{"memory", func(b *testing.B) []*registry.Client { return nameService(b) }},
		{"etcd", func(b *testing.B) []*registry.Client {
			return nameService(b, registry.WithStore(store(b, "/bench-ns/")))
		}},
		{"etcd-cached", func(b *testing.B) []*registry.Client {
			return nameService(b, registry.WithStore(store(b, "/bench-cached/", etcdstore.WithCache())))
		}},
		{"etcd-direct", func(b *testing.B) []*registry.Client {
			return newClients(b, clients, registry.WithStore(store(b, "/bench-direct/")))
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			cs := c.clients(b)
			for i := range 3 {
				if err := cs[0].Register(ctx, inst("calc", "127.0.0.1", 7000+i, 0)); err != nil {
					b.Fatal(err)
				}
			}
			b.Run("lookup", func(b *testing.B) {
				benchkit.Spread(b, clients, "lookups/s", func(w, _ int) error { _, err := cs[w].Lookup(ctx, "calc"); return err })
			})
			b.Run("register", func(b *testing.B) {
				benchkit.Spread(b, clients, "registrations/s", func(w, i int) error {
					return cs[w].Register(ctx, inst(fmt.Sprintf("svc-%d", i%1000), "127.0.0.1", 8000+i%1000, time.Minute))
				})
			})
		})
	}
}

func newClients(b *testing.B, n int, opts ...registry.ClientOption) []*registry.Client {
	cs := make([]*registry.Client, n)
	for i := range cs {
		c, err := registry.NewClient(append(opts, registry.WithLogger(quiet))...)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		cs[i] = c
	}
	return cs
}
