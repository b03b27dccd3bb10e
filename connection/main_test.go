package connection_test

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/internal/testproc"
	"github.com/dividere-go/dividere/internal/testutil"
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

// tctx is testutil.Ctx.
func tctx(t *testing.T, d time.Duration) context.Context { return testutil.Ctx(t, d) }

// ok is testutil.OK.
func ok[T any](v T, err error) func(*testing.T) T { return testutil.OK(v, err) }

// closeAll is testutil.CloseAll.
func closeAll(t *testing.T, cs ...io.Closer) { testutil.CloseAll(t, cs...) }

// ready reports whether w has a message to receive within d.
func ready(w connection.Waitable, d time.Duration) bool {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	_, err := connection.WaitAny(ctx, w)
	return err == nil
}
