package patterns_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/dividere-go/dividere/internal/testproc"
	"github.com/dividere-go/dividere/internal/testutil"
	"github.com/dividere-go/dividere/patterns"
)

// Short heartbeats keep fault tests fast: a peer is dead after 150 ms.
var fastBeat = patterns.WithHeartbeat(50*time.Millisecond, 150*time.Millisecond)

// TestMain doubles as the helper processes the fault tests kill.
func TestMain(m *testing.M) {
	testproc.Main(m, map[string]testproc.Helper{"broker": brokerHelper, "worker": workerHelper})
}

// brokerHelper runs a broker on args[0] (front end) and args[1] (back end).
func brokerHelper(args []string) int {
	b, err := patterns.NewBroker(args[0], args[1], fastBeat)
	if err != nil {
		fmt.Println("ERR", err)
		return 1
	}
	fmt.Println("READY", b.Frontend(), b.Backend())
	b.Serve(context.Background()) // until killed
	return 0
}

// workerHelper serves the back end args[0]: "w:<request>", and holds
// "hang" until killed.
func workerHelper(args []string) int {
	w, err := patterns.NewWorker(args[0], func(ctx context.Context, req []byte) ([]byte, error) {
		if string(req) == "hang" {
			fmt.Println("GOT hang")
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return append([]byte("w:"), req...), nil
	}, fastBeat, patterns.WithCapacity(2))
	if err != nil {
		fmt.Println("ERR", err)
		return 1
	}
	fmt.Println("READY", w.ID())
	w.Serve(context.Background())
	return 0
}

// tctx is testutil.Ctx.
func tctx(t *testing.T, d time.Duration) context.Context { return testutil.Ctx(t, d) }

// ok is testutil.OK.
func ok[T any](v T, err error) func(*testing.T) T { return testutil.OK(v, err) }

// closeAll is testutil.CloseAll.
func closeAll(t *testing.T, cs ...io.Closer) { testutil.CloseAll(t, cs...) }

// runWorker serves w until the test ends.
func runWorker(t *testing.T, w testutil.Server) { testutil.Serve(t, w) }

// echo is a handler that answers "<tag>:<request>".
func echo(tag string) func(context.Context, []byte) ([]byte, error) {
	return func(_ context.Context, req []byte) ([]byte, error) {
		return append([]byte(tag+":"), req...), nil
	}
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))
