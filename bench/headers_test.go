package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/messaging"
)

// The "no header" pub/sub row sends v1 envelopes, byte for byte what a
// v1 peer sends (no header at all), and the plain messaging row sends
// the v2 header with a publisher id and a sequence number.
func TestPublishedEnvelopes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	payload := bytes.Repeat([]byte{kindData}, 100)
	v1, err := messaging.Encode(wrapperspb.Bytes(payload), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, role := range []string{roles[sysMsgV1], roles[sysMsg]} {
		pub, err := newPublisher(role, "")
		if err != nil {
			t.Fatal(err)
		}
		sub, err := connection.NewSubscriber(pub.endpoint)
		if err != nil {
			t.Fatal(err)
		}
		got := firstPublished(ctx, t, pub, sub, payload)
		sub.Close()
		_, h, err := messaging.DecodeHeader(got)
		if err != nil {
			t.Fatal(err)
		}
		switch role {
		case roles[sysMsgV1]:
			if h != nil || !bytes.Equal(got, v1) {
				t.Errorf("%s: header %v, %d bytes; want none, and the %d bytes of the v1 envelope", role, h, len(got), len(v1))
			}
		default:
			if h.GetPublisher() == "" || h.GetSequence() == 0 {
				t.Errorf("%s: header %v; want a publisher id and a sequence", role, h)
			}
		}
	}
}

// firstPublished sends payload through pub until sub, subscribed to
// everything, receives one, and returns what it received.
func firstPublished(ctx context.Context, t *testing.T, pub publisher, sub *connection.Subscriber, payload []byte) []byte {
	t.Helper()
	got := make(chan []byte, 1)
	go func() {
		m, err := sub.Recv(ctx)
		if err == nil {
			got <- bytes.Clone(m.Payload())
		}
	}()
	tick := time.NewTicker(10 * time.Millisecond) // a subscription takes a moment to reach the publisher
	defer tick.Stop()
	for {
		select {
		case b := <-got:
			return b
		case <-tick.C:
			if err := pub.send(payload); err != nil {
				t.Fatal(err)
			}
		case <-ctx.Done():
			t.Fatal("nothing published arrived")
		}
	}
}

// In request/reply, the plain messaging row's requests are v1 envelopes
// (no deadline, so no header), the "v2 header" row's carry the header's
// timeout_us, and so does every request of the rows with a deadline per
// call.
func TestRequestEnvelopes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rep, err := connection.NewResponse("@tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer rep.Close()
	for _, c := range []struct {
		role       string
		deadline   bool
		wantHeader bool
	}{{roles[sysMsg], false, false}, {roles[sysMsgV2], false, true}, {roles[sysMsg], true, true}} {
		call, err := newCaller(c.role, rep.Endpoint())
		if err != nil {
			t.Fatal(err)
		}
		cctx := context.Background()
		if c.deadline {
			var stop context.CancelFunc
			cctx, stop = context.WithTimeout(ctx, 10*time.Second)
			defer stop()
		}
		errc := make(chan error, 1)
		go func() { errc <- call(cctx, []byte("x")) }()
		m, err := rep.Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_, h, err := messaging.DecodeHeader(m.Payload())
		if err != nil {
			t.Fatal(err)
		}
		if got := h.GetTimeoutUs() > 0; got != c.wantHeader || !c.wantHeader && h != nil {
			t.Errorf("%s, deadline %v: header %v; want a timeout_us: %v", c.role, c.deadline, h, c.wantHeader)
		}
		if err := rep.Send(ctx, m...); err != nil {
			t.Fatal(err)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}

// Every row with metrics or tracing on says so in its role, and only
// those.
func TestObserved(t *testing.T) {
	for name, role := range roles {
		want := byte(0)
		switch {
		case strings.HasSuffix(name, ", metrics on"):
			want = 'm'
		case strings.HasSuffix(name, ", tracing on"):
			want = 't'
		}
		if got := observed(role); got != want {
			t.Errorf("%s (role %s): observed %q, want %q", name, role, got, want)
		}
	}
}

// vmHWM reads the peak resident set of a /proc status file, in MiB.
func TestVmHWM(t *testing.T) {
	status := "Name:\tbench\nVmPeak:\t  200000 kB\nVmHWM:\t   30720 kB\nVmRSS:\t   20480 kB\n"
	if got := vmHWM([]byte(status)); got != 30 {
		t.Errorf("vmHWM = %g MiB, want 30", got)
	}
	if got := vmHWM([]byte("Name:\tx\n")); got != 0 {
		t.Errorf("vmHWM of a status with no VmHWM = %g, want 0", got)
	}
}

// The shape table takes each varied workload's p50 against the same
// system's on the base workload, per repetition.
func TestShapeTable(t *testing.T) {
	base := workload{name: "req/rep 64 B, 1 responder, no deadline", latency: true, systems: []system{{name: sysRaw}, {name: sysConn}}}
	nine := workload{name: "req/rep 64 B, 9 responders", latency: true, base: base.name, part: "9 responders", systems: base.systems}
	r := &results{Runs: []measurement{
		{Workload: base.name, System: sysRaw, Rep: 0, P50: 100e-6},
		{Workload: base.name, System: sysConn, Rep: 0, P50: 80e-6},
		{Workload: nine.name, System: sysRaw, Rep: 0, P50: 110e-6},
		{Workload: nine.name, System: sysConn, Rep: 0, P50: 160e-6},
	}}
	md := r.markdown([]workload{base, nine})
	for _, want := range []string{"## What each part of the shape costs", "| raw libzmq | 1.10× [1.10–1.10] |", "| dividere connection | 2.00× [2.00–2.00] |", "2.00× [2.00–2.00] vs itself with 1 responder, no deadline"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}
