package connection_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dividere-go/dividere/connection"
)

// RecvView hands decode each message in turn: what decode returns comes
// back, its error included, without losing the next message; and a
// socket's error is the socket's, as Recv's, with decode not called.
func TestRecvView(t *testing.T) {
	pub, sub := pubSub(t, "tcp://127.0.0.1:0")
	ctx := tctx(t, 20*time.Second)
	errOdd := errors.New("odd message")
	calls := 0
	decode := func(m connection.Message) (string, error) {
		calls++
		p := string(m.Payload()) // a copy: decode must not keep the frames
		if strings.HasSuffix(p, "odd") {
			return "", errOdd
		}
		return p, nil
	}
	for _, p := range []string{"one", "two odd", "three"} {
		if err := pub.Send(ctx, []byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []struct {
		v   string
		err error
	}{{"one", nil}, {"", errOdd}, {"three", nil}} {
		v, err := connection.RecvView(ctx, sub, decode)
		if v != want.v || !errors.Is(err, want.err) || (want.err == nil) != (err == nil) {
			t.Fatalf("RecvView: %q, %v; want %q, %v", v, err, want.v, want.err)
		}
	}
	if st := sub.Stats(); st.Received != 3 || st.RecvErrors != 0 {
		t.Errorf("stats %+v: want 3 received and no receive error (decode's errors are not the socket's)", st)
	}
	sub.Close()
	if _, err := connection.RecvView(ctx, sub, decode); !errors.Is(err, connection.ErrClosed) || calls != 3 {
		t.Fatalf("RecvView on a closed socket: %v after %d decodes; want ErrClosed after 3", err, calls)
	}
}
