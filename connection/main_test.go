package connection_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/internal/testproc"
)

// TestMain doubles as the helper processes fault tests kill.
func TestMain(m *testing.M) {
	testproc.Main(m, map[string]testproc.Helper{"echo-response": echoResponse})
}

// echoResponse serves "echo:<request>" on the endpoint args[0].
func echoResponse(args []string) int {
	rep, err := connection.NewResponse(args[0])
	if err != nil {
		fmt.Println("ERR", err)
		return 1
	}
	fmt.Println("READY", rep.Endpoint())
	ctx := context.Background()
	for {
		m, err := rep.Recv(ctx)
		if err != nil {
			return 1
		}
		if err := rep.Send(ctx, append([]byte("echo:"), m.Payload()...)); err != nil {
			return 1
		}
	}
}

// tctx is a context bounded by d and by the test's end.
func tctx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// ok checks a constructor's error: ok(connection.NewDealer(ep))(t).
func ok[T any](v T, err error) func(*testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// closeAll closes sockets at the end of the test.
func closeAll(t *testing.T, cs ...interface{ Close() error }) {
	t.Cleanup(func() {
		for _, c := range cs {
			c.Close()
		}
	})
}
