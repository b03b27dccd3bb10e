package patterns_test

import (
	"errors"
	"testing"
	"time"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/internal/testutil"
	"github.com/dividere-go/dividere/patterns"
)

// An encrypted broker: workers and clients with allowed keys get through,
// a client with another key gets nothing, and the others go on.
func TestCurveBroker(t *testing.T) {
	broker, worker, client, stranger := keys(t), keys(t), keys(t), keys(t)
	auth, err := connection.StartAuthenticator(quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer auth.Close()
	auth.SetKeys(worker.Public, client.Public)
	b := ok(patterns.NewBroker("tcp://*:0", "tcp://*:0", fastBeat,
		patterns.WithConnectionOptions(connection.WithCurveServer(broker))))(t)
	testutil.Serve(t, b)
	closeAll(t, b)
	runWorker(t, ok(patterns.NewWorker(b.Backend(), echo("sealed"), fastBeat,
		patterns.WithConnectionOptions(connection.WithCurveClient(broker.Public, worker))))(t))
	ctx := tctx(t, 10*time.Second)
	if err := b.WaitWorkers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	c := ok(patterns.NewClient(b.Frontend(), patterns.WithConnectionOptions(connection.WithCurveClient(broker.Public, client))))(t)
	s := ok(patterns.NewClient(b.Frontend(), patterns.WithRetry(100*time.Millisecond, 1, 0), patterns.WithLogger(quiet),
		patterns.WithConnectionOptions(connection.WithCurveClient(broker.Public, stranger))))(t)
	closeAll(t, c, s)
	if rep, err := c.Request(ctx, []byte("x")); err != nil || string(rep) != "sealed:x" {
		t.Fatalf("allowed client: %q %v", rep, err)
	}
	if _, err := s.Request(ctx, []byte("y")); !errors.Is(err, patterns.ErrRetriesExhausted) {
		t.Fatalf("stranger: %v", err)
	}
	if rep, err := c.Request(ctx, []byte("z")); err != nil || string(rep) != "sealed:z" {
		t.Fatalf("allowed client after the stranger: %q %v", rep, err)
	}
}

func keys(t *testing.T) connection.KeyPair {
	t.Helper()
	k, err := connection.NewKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	return k
}
