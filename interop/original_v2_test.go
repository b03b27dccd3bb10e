package interop_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/internal/testutil"
	"github.com/dividere-go/dividere/messaging"
	"github.com/dividere-go/dividere/msglib"
)

// expect waits for the peer's next line and checks that it is want.
func (p *pyPeer) expect(t *testing.T, ctx context.Context, want string) {
	t.Helper()
	select {
	case l, ok := <-p.Lines:
		if !ok {
			t.Fatalf("peer exited before saying %q", want)
		}
		if l != want {
			t.Fatalf("peer said %q, want %q", l, want)
		}
	case <-ctx.Done():
		t.Fatalf("peer did not say %q in time", want)
	}
}

// traceHook sets trace context on everything sent, as an OpenTelemetry
// integration would.
func traceHook(_ context.Context, _ proto.Message, h *messaging.Header) {
	h.Traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	h.Tracestate = "dividere=interop"
}

// The original is a v1 peer: the v2 header is a field its envelope does
// not have, and ack's code and message are fields its ack does not have.
// It must read every v2 message a Go peer sends, and a Go peer must read
// its v1 messages, in pub/sub and request/reply both ways.
func TestOriginalReadsV2Envelopes(t *testing.T) {
	t.Run("Go publishes, the original subscribes", func(t *testing.T) {
		pub, err := messaging.NewPublisher("tcp://127.0.0.1:0", messaging.WithOutgoing(traceHook))
		if err != nil {
			t.Fatal(err)
		}
		defer pub.Close()
		sub := startOriginal(t, "sub", pub.Endpoint(), "3")
		defer sub.Stdin.Close()
		// A raw subscriber beside it shows that the header did travel.
		raw, err := connection.NewSubscriber(pub.Endpoint())
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		ctx := messaging.AppendMetadata(tctx(t, 30*time.Second), "tenant", "acme")
		if err := pub.WaitSubscribers(ctx, &msglib.ServiceLookupReq{}, 2); err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{"a", "b", "c"} {
			if err := pub.Send(ctx, &msglib.ServiceLookupReq{ServiceName: n}); err != nil {
				t.Fatal(err)
			}
		}
		for i, n := range []string{"a", "b", "c"} {
			sub.expect(t, ctx, fmt.Sprintf(`GOT ServiceLookupReq serviceName: "%s"`, n))
			m, err := raw.Recv(ctx)
			if err != nil {
				t.Fatal(err)
			}
			_, h, err := messaging.DecodeHeader(m.Payload())
			if err != nil || h.GetSequence() != uint64(i+1) || h.GetPublisher() != pub.ID() ||
				h.GetMetadata()["tenant"] != "acme" || h.GetTraceparent() == "" {
				t.Fatalf("header sent: %v %v", h, err)
			}
		}
	})

	t.Run("Go requests with a deadline, the original answers", func(t *testing.T) {
		port := testutil.Port(t)
		rep := startOriginal(t, "rep", strconv.Itoa(port))
		defer rep.Stdin.Close()
		req, err := messaging.NewRequest("tcp://127.0.0.1:"+strconv.Itoa(port), messaging.WithOutgoing(traceHook))
		if err != nil {
			t.Fatal(err)
		}
		defer req.Close()
		ctx := messaging.AppendMetadata(tctx(t, 30*time.Second), "tenant", "acme")
		got, err := messaging.Call[*msglib.ServiceLookupReq](ctx, req, &msglib.ServiceLookupReq{ServiceName: "deadline"})
		if err != nil || got.ServiceName != "deadline" {
			t.Fatalf("the original's echo: %v %v", got, err)
		}
		rep.expect(t, ctx, `GOT ServiceLookupReq serviceName: "deadline"`)
	})

	t.Run("the original requests, Go refuses with a code", func(t *testing.T) {
		resp, err := messaging.NewResponse("tcp://127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Close()
		r := messaging.NewReactor([]messaging.Endpoint{resp}, messaging.WithLogger(quiet))
		messaging.Handle(r, func(ctx context.Context, m *msglib.ServiceLookupReq, _ messaging.Peer) (*msglib.ServiceLookupReq, error) {
			if strings.HasPrefix(m.ServiceName, "nobody") {
				return nil, messaging.Errorf(messaging.NotFound, "no %s here", m.ServiceName)
			}
			return m, nil
		})
		ctx := tctx(t, 30*time.Second)
		errc := make(chan error, 1)
		rctx, stop := context.WithCancel(ctx)
		go func() { errc <- r.Serve(rctx) }()
		defer func() { stop(); <-errc }()
		req := startOriginal(t, "req", resp.Endpoint(), "nobody", "somebody")
		defer req.Stdin.Close()
		req.expect(t, ctx, "REPLY ack ok=False")
		req.expect(t, ctx, `REPLY ServiceLookupReq serviceName: "somebody"`)
	})
}
