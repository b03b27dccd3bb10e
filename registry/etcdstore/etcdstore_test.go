package etcdstore_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/registry"
	"github.com/dividere-go/dividere/registry/etcdstore"
	"github.com/dividere-go/dividere/registry/storetest"
)

// etcdServer runs a real one-member etcd in this process.
func etcdServer(t *testing.T) string {
	t.Helper()
	cfg := embed.NewConfig()
	cfg.Dir = t.TempDir()
	cfg.LogLevel = "error"
	cp, _ := connection.FreePort("127.0.0.1")
	pp, _ := connection.FreePort("127.0.0.1")
	client, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", cp))
	peer, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", pp))
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*client}, []url.URL{*client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*peer}, []url.URL{*peer}
	cfg.InitialCluster = cfg.Name + "=" + peer.String()
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		t.Fatal("etcd did not start")
	}
	return client.String()
}

func TestEtcdStore(t *testing.T) {
	ep := etcdServer(t)
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 5 * time.Second, Logger: nil})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	n := 0
	storetest.Run(t, func(*testing.T) registry.Store {
		n++
		return etcdstore.New(c, fmt.Sprintf("/test-%d/", n))
	})
}

func TestEndpoints(t *testing.T) {
	eps, err := etcdstore.Endpoints("etcd://a:2379,b:2379")
	if err != nil || len(eps) != 2 || eps[1] != "b:2379" {
		t.Fatalf("%v %v", eps, err)
	}
	if _, err := etcdstore.Endpoints("http://a:2379"); err == nil {
		t.Fatal("accepted a non-etcd URL")
	}
}

// Two name-service instances on one etcd: a service registered through
// one is found through the other.
func TestTwoNameServicesShareEtcd(t *testing.T) {
	ep := etcdServer(t)
	var clients []*registry.Client
	for range 2 {
		c, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		s, err := registry.NewServer(registry.WithEndpoints("@tcp://127.0.0.1:0", "@tcp://127.0.0.1:0"),
			registry.WithStore(etcdstore.New(c, "")))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		rc, err := registry.NewClient(registry.WithAddress(s.RequestEndpoint()))
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		clients = append(clients, rc)
	}
	ctx := t.Context()
	if err := clients[0].Register(ctx, registry.Registration{Instance: registry.Instance{Service: "shared", Server: "10.0.0.9", Port: 9000}}); err != nil {
		t.Fatal(err)
	}
	in, err := clients[1].Lookup(ctx, "shared")
	if err != nil || in.Server != "10.0.0.9" || in.Port != 9000 {
		t.Fatalf("lookup through the other instance: %+v %v", in, err)
	}
	if err := clients[1].Unregister(ctx, "shared", "10.0.0.9", 9000, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := clients[0].Lookup(ctx, "shared"); err == nil {
		t.Fatal("still found after unregistering through the other instance")
	}
}

// A client that lists both instances keeps working when one goes down.
func TestClientFailsOver(t *testing.T) {
	ep := etcdServer(t)
	var servers []*registry.Server
	var addrs []string
	for range 2 {
		c, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		s, err := registry.NewServer(registry.WithEndpoints("@tcp://127.0.0.1:0", "@tcp://127.0.0.1:0"),
			registry.WithStore(etcdstore.New(c, "/failover/")))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		servers = append(servers, s)
		addrs = append(addrs, s.RequestEndpoint())
	}
	rc, err := registry.NewClient(registry.WithAddress(strings.Join(addrs, ",")), registry.WithTimeout(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	ctx := t.Context()
	if err := rc.Register(ctx, registry.Registration{Instance: registry.Instance{Service: "ha", Server: "h", Port: 1}}); err != nil {
		t.Fatal(err)
	}
	servers[0].Close()
	// Every lookup succeeds, but for at most one timed-out attempt at the
	// instance that just went away.
	found := 0
	for range 10 {
		if _, err := rc.Lookup(ctx, "ha"); err == nil {
			found++
		}
	}
	if found < 9 {
		t.Fatalf("%d of 10 lookups succeeded with one instance down", found)
	}
}
