package service_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/internal/testpb"
	"github.com/dividere-go/dividere/internal/testutil"
	"github.com/dividere-go/dividere/messaging"
	"github.com/dividere-go/dividere/registry"
	"github.com/dividere-go/dividere/service"
)

// CURVE end to end: an encrypted name service and service, reachable only
// with an allowed key.
func TestCurveNameServiceAndService(t *testing.T) {
	keys := map[string]connection.KeyPair{}
	for _, who := range []string{"registry", "service", "client", "stranger"} {
		k, err := connection.NewKeyPair()
		if err != nil {
			t.Fatal(err)
		}
		keys[who] = k
	}
	auth, err := connection.StartAuthenticator(quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer auth.Close()
	auth.SetKeys(keys["service"].Public, keys["client"].Public)

	ns, err := registry.NewServer(registry.WithEndpoints("@tcp://127.0.0.1:0", "@tcp://127.0.0.1:0", ""), registry.WithLogger(quiet),
		registry.WithConnectionOptions(connection.WithCurveServer(keys["registry"])))
	if err != nil {
		t.Fatal(err)
	}
	testutil.Serve(t, ns)
	asClient := func(who string) registry.Option {
		return registry.WithConnectionOptions(connection.WithCurveClient(keys["registry"].Public, keys[who]))
	}
	svc, err := service.New(&Echo{}, service.WithName("secure.Echo"), service.WithHost("127.0.0.1"), service.WithLogger(quiet),
		service.WithConnectionOptions(connection.WithCurveServer(keys["service"])),
		service.WithRegistry(registry.WithEndpoints(ns.Endpoints()), asClient("service")))
	if err != nil {
		t.Fatal(err)
	}
	runService(t, svc)
	ctx := tctx(t, 20*time.Second)
	eventually(t, 10*time.Second, "the service registers over CURVE", func() bool { return svc.Registrations() > 0 })

	c, err := registry.NewClient(registry.WithEndpoints(ns.Endpoints()), asClient("client"), registry.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	in, err := c.Lookup(ctx, "secure.Echo")
	if err != nil {
		t.Fatal(err)
	}
	req, err := messaging.NewRequest(in.Endpoint(), messaging.WithConnectionOptions(connection.WithCurveClient(keys["service"].Public, keys["client"])))
	if err != nil {
		t.Fatal(err)
	}
	defer req.Close()
	if rep, err := messaging.Call[*testpb.StringMsg](ctx, req, &testpb.StringMsg{Value: "hi"}); err != nil || rep.Value == "" {
		t.Fatalf("encrypted call: %v %v", rep, err)
	}
	// A stranger's key gets nothing from either.
	sc, _ := registry.NewClient(registry.WithEndpoints(ns.Endpoints()), asClient("stranger"),
		registry.WithRetry(150*time.Millisecond, 1, 0), registry.WithLogger(quiet))
	defer sc.Close()
	if _, err := sc.Lookup(ctx, "secure.Echo"); !errors.Is(err, connection.ErrTimeout) {
		t.Fatalf("stranger's lookup: %v", err)
	}
	sreq, _ := messaging.NewRequest(in.Endpoint(), messaging.WithConnectionOptions(connection.WithCurveClient(keys["service"].Public, keys["stranger"])))
	defer sreq.Close()
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := messaging.Call[*testpb.StringMsg](short, sreq, &testpb.StringMsg{Value: "hi"}); !errors.Is(err, connection.ErrTimeout) {
		t.Fatalf("stranger's call: %v", err)
	}
	if auth.Stats().Refused == 0 {
		t.Fatal("no refusal counted")
	}
}
