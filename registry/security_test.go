package registry_test

import (
	"errors"
	"testing"
	"time"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/registry"
)

// Authenticated registrations: only registrar keys may register, a name
// belongs to the key that took it, and lookups are restricted.
func TestRegistrarsAndLookupKeys(t *testing.T) {
	k := map[string]connection.KeyPair{}
	for _, who := range []string{"server", "alice", "mallory", "client", "stranger"} {
		k[who], _ = connection.NewKeyPair()
	}
	auth, err := connection.StartAuthenticator(quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer auth.Close()
	auth.SetKeys(k["alice"].Public, k["mallory"].Public, k["client"].Public, k["stranger"].Public)
	s, _ := newServer(t, registry.WithConnectionOptions(connection.WithCurveServer(k["server"])),
		registry.WithRegistrars(k["alice"].Public, k["mallory"].Public), registry.WithLookupKeys(k["client"].Public))
	as := func(who string) *registry.Client {
		c, err := registry.NewClient(registry.WithEndpoints(s.Endpoints()), registry.WithLogger(quiet),
			registry.WithConnectionOptions(connection.WithCurveClient(k["server"].Public, k[who])))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	alice, mallory, client, stranger := as("alice"), as("mallory"), as("client"), as("stranger")
	ctx := tctx(t, 20*time.Second)

	if err := alice.Register(ctx, reg("orders", "10.0.0.1", 7000, 0)); err != nil {
		t.Fatalf("alice registers: %v", err)
	}
	if err := mallory.Register(ctx, reg("orders", "10.6.6.6", 6666, 0)); !errors.Is(err, registry.ErrRefused) {
		t.Fatalf("mallory takes over orders: %v", err)
	}
	if err := mallory.Unregister(ctx, "orders", "10.0.0.1", 7000, ""); !errors.Is(err, registry.ErrRefused) {
		t.Fatalf("mallory unregisters alice: %v", err)
	}
	if err := mallory.Register(ctx, reg("billing", "10.0.0.2", 7001, 0)); err != nil {
		t.Fatalf("mallory registers her own name: %v", err)
	}
	if err := stranger.Register(ctx, reg("stranger", "h", 1, 0)); !errors.Is(err, registry.ErrRefused) {
		t.Fatalf("a non-registrar registers: %v", err)
	}
	if in, err := client.Lookup(ctx, "orders"); err != nil || in.Server != "10.0.0.1" {
		t.Fatalf("client lookup: %+v %v", in, err)
	}
	if _, err := stranger.Lookup(ctx, "orders"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("restricted lookup answered: %v", err)
	}
	if list, err := stranger.List(ctx, ""); err != nil || len(list) != 0 {
		t.Fatalf("restricted list answered: %v %v", list, err)
	}
	if in, err := alice.Lookup(ctx, "billing"); err != nil || in.Port != 7001 {
		t.Fatalf("registrars may look up: %+v %v", in, err)
	}
	if err := alice.Unregister(ctx, "orders", "10.0.0.1", 7000, ""); err != nil {
		t.Fatalf("alice unregisters her own: %v", err)
	}
	if st := s.Stats(); st.Refused != 5 {
		t.Fatalf("stats %+v, want 5 refusals", st)
	}
}
