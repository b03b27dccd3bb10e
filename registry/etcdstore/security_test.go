package etcdstore_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"testing"
	"time"

	"github.com/dividere-go/dividere/internal/etcdtest"
	"github.com/dividere-go/dividere/internal/testutil"
	"github.com/dividere-go/dividere/msglib"
	"github.com/dividere-go/dividere/registry"
	"github.com/dividere-go/dividere/registry/etcdstore"
)

// An etcd that speaks only TLS and requires a user: a store without the
// CA or the credentials gets an error, with them it works, given as
// options or through the environment (so that etcd:// registry addresses
// work too).
func TestTLSAndAuth(t *testing.T) {
	url, caFile := etcdtest.StartTLS(t)
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	tlsCfg := &tls.Config{RootCAs: pool}
	ctx := testutil.Ctx(t, 30*time.Second)
	works := func(st etcdstore.Store) error {
		_, err := st.List(ctx, "", time.Now())
		return err
	}

	plain := testutil.OK(etcdstore.Open(url))(t)
	defer plain.Close()
	if err := works(plain); err == nil {
		t.Fatal("a store without TLS reached the TLS-only etcd")
	} else {
		t.Logf("without TLS: %v", err)
	}
	secure := testutil.OK(etcdstore.Open(url, etcdstore.WithTLS(tlsCfg)))(t)
	defer secure.Close()
	if err := works(secure); err != nil {
		t.Fatalf("with TLS: %v", err)
	}

	// Turn etcd's authentication on.
	c := etcdstore.Client(secure)
	if _, err := c.UserAdd(ctx, "root", "s3cret"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UserGrantRole(ctx, "root", "root"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AuthEnable(ctx); err != nil {
		t.Fatal(err)
	}
	anonymous := testutil.OK(etcdstore.Open(url, etcdstore.WithTLS(tlsCfg)))(t)
	defer anonymous.Close()
	if _, err := anonymous.Put(ctx, &msglib.ServiceInstance{ServiceName: "x", InstanceId: "1"}); err == nil {
		t.Fatal("registered without credentials on an etcd with authentication on")
	} else {
		t.Logf("without credentials: %v", err)
	}
	authed := testutil.OK(etcdstore.Open(url, etcdstore.WithTLS(tlsCfg), etcdstore.WithAuth("root", "s3cret")))(t)
	defer authed.Close()
	if _, err := authed.Put(ctx, &msglib.ServiceInstance{ServiceName: "x", InstanceId: "1"}); err != nil {
		t.Fatalf("with TLS and credentials: %v", err)
	}

	// The same through the environment and a registry address.
	t.Setenv("DIVIDERE_ETCD_CA", caFile)
	t.Setenv("DIVIDERE_ETCD_USER", "root")
	t.Setenv("DIVIDERE_ETCD_PASSWORD", "s3cret")
	rc := client(t, registry.WithAddress(url))
	list, err := rc.List(context.Background(), "x")
	if err != nil || len(list) != 1 {
		t.Fatalf("registry client from the environment: %v %v", list, err)
	}
	t.Setenv("DIVIDERE_ETCD_CA", caFile+".missing")
	if _, err := registry.NewClient(registry.WithAddress(url)); err == nil {
		t.Fatal("a missing CA file was not reported")
	}
}
