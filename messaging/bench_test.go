package messaging_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/internal/benchkit"
	"github.com/dividere-go/dividere/internal/testpb"
	"github.com/dividere-go/dividere/messaging"
)

// The messaging layer measured against the connection layer carrying the
// same bytes (the encoded envelope), over tcp on loopback:
//
//	go test -run '^$' -bench . -benchtime 2s ./messaging

// sample is a message whose envelope is about 100 bytes.
var sample = &testpb.Echo{Data: make([]byte, 76), Seq: 123456789}

func BenchmarkCodec(b *testing.B) {
	env, _ := messaging.Encode(sample, nil)
	b.Run(fmt.Sprintf("encode/%dB", len(env)), func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := messaging.Encode(sample, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run(fmt.Sprintf("decode/%dB", len(env)), func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := messaging.Decode(env, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	// With a header: a publisher's sequence, and a request's deadline,
	// metadata and trace context.
	seq := &messaging.Header{Publisher: "Zm9vYmFyYmF6cXV4", Sequence: 123456}
	full := &messaging.Header{TimeoutUs: 250000, Traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		Metadata: map[string]string{"tenant": "acme"}}
	for _, h := range []struct {
		name string
		h    *messaging.Header
	}{{"sequence", seq}, {"request", full}} {
		henv, _ := messaging.Encode(sample, h.h)
		b.Run(fmt.Sprintf("encode+%s/%dB", h.name, len(henv)), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := messaging.Encode(sample, h.h); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("decode+%s/%dB", h.name, len(henv)), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := messaging.Decode(henv, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("decodewithheader+%s/%dB", h.name, len(henv)), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := messaging.Decode(henv, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkPubSub100B(b *testing.B) {
	ctx := context.Background()
	env, _ := messaging.Encode(sample, nil)
	b.Run("connection", func(b *testing.B) {
		pub, _ := connection.NewPublisher("@tcp://127.0.0.1:0")
		sub, _ := connection.NewSubscriber(pub.Endpoint())
		defer pub.Close()
		defer sub.Close()
		pub.WaitSubscribers(ctx, "", 1)
		b.SetBytes(int64(len(env)))
		benchkit.Stream(b,
			func() error { return pub.Send(ctx, env) },
			func() error { _, err := sub.Recv(ctx); return err })
	})
	b.Run("messaging", func(b *testing.B) {
		pub, _ := messaging.NewPublisher("@tcp://127.0.0.1:0")
		sub, _ := messaging.NewSubscriber(pub.Endpoint(), messaging.WithTypes(sample))
		defer pub.Close()
		defer sub.Close()
		pub.WaitSubscribers(ctx, sample, 1)
		b.SetBytes(int64(len(env)))
		benchkit.Stream(b,
			func() error { return pub.Send(ctx, sample) },
			func() error { _, err := sub.Recv(ctx); return err })
	})
}

// A receive loop that makes a deadline context per message pays for the
// context and its timer on every message; one context for the loop does
// not (docs/guide.md, "Receive loops"):
//
//	go test -run '^$' -bench RecvContext -benchmem ./messaging
func BenchmarkRecvContext(b *testing.B) {
	ctx := context.Background()
	for _, perMessage := range []bool{false, true} {
		name := map[bool]string{false: "one-per-loop", true: "one-per-message"}[perMessage]
		b.Run(name, func(b *testing.B) {
			pub, _ := messaging.NewPublisher("@tcp://127.0.0.1:0")
			sub, _ := messaging.NewSubscriber(pub.Endpoint(), messaging.WithTypes(sample))
			defer pub.Close()
			defer sub.Close()
			pub.WaitSubscribers(ctx, sample, 1)
			loop, cancel := context.WithCancel(ctx)
			defer cancel()
			recv := func() error { _, err := sub.Recv(loop); return err }
			if perMessage {
				recv = func() error {
					mctx, cancel := context.WithTimeout(loop, time.Second)
					defer cancel()
					_, err := sub.Recv(mctx)
					return err
				}
			}
			b.ReportAllocs()
			benchkit.Stream(b, func() error { return pub.Send(ctx, sample) }, recv)
		})
	}
}

func BenchmarkReqRep100B(b *testing.B) {
	ctx := context.Background()
	env, _ := messaging.Encode(sample, nil)
	b.Run("connection", func(b *testing.B) {
		rep, _ := connection.NewResponse("@tcp://127.0.0.1:0")
		req, _ := connection.NewRequest(rep.Endpoint())
		defer req.Close()
		go func() {
			for {
				m, err := rep.Recv(ctx)
				if err != nil {
					return
				}
				rep.Send(ctx, m...)
			}
		}()
		defer rep.Close()
		b.ResetTimer()
		for b.Loop() {
			if _, err := req.Call(ctx, env); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("messaging", func(b *testing.B) {
		rep, _ := messaging.NewResponse("@tcp://127.0.0.1:0")
		req, _ := messaging.NewRequest(rep.Endpoint())
		defer req.Close()
		go func() {
			for {
				m, err := rep.Recv(ctx)
				if err != nil {
					return
				}
				rep.Send(ctx, m)
			}
		}()
		defer rep.Close()
		b.ResetTimer()
		for b.Loop() {
			if _, err := messaging.Call[proto.Message](ctx, req, sample); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkReactorEcho: round trips through a Reactor, one at a time from
// a Request (latency) and pipelined from a Dealer to a Router (rate).
// round-trips/s is the figure to read.
func BenchmarkReactorEcho(b *testing.B) {
	ctx := context.Background()
	echo := func(ctx context.Context, m *testpb.Echo, _ messaging.Peer) (*testpb.Echo, error) { return m, nil }
	b.Run("request", func(b *testing.B) {
		rep, _ := messaging.NewResponse("@tcp://127.0.0.1:0")
		defer rep.Close()
		r := messaging.NewReactor([]messaging.Endpoint{rep})
		messaging.Handle(r, echo)
		go r.Serve(ctx)
		defer r.Shutdown(ctx)
		req, _ := messaging.NewRequest(rep.Endpoint())
		defer req.Close()
		b.ResetTimer()
		for b.Loop() {
			if _, err := messaging.Call[proto.Message](ctx, req, sample); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "round-trips/s")
	})
	b.Run("pipelined", func(b *testing.B) {
		router, _ := messaging.NewRouter("@tcp://127.0.0.1:0")
		defer router.Close()
		r := messaging.NewReactor([]messaging.Endpoint{router})
		messaging.Handle(r, echo)
		go r.Serve(ctx)
		defer r.Shutdown(ctx)
		d, _ := messaging.NewDealer(router.Endpoint())
		defer d.Close()
		benchkit.Pipeline(b, 64,
			func() error { return d.Send(ctx, nil, sample) },
			func() error { _, _, err := d.Recv(ctx); return err })
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "round-trips/s")
	})
}

// BenchmarkReactorCPU: a handler that burns about 0.5 ms of CPU per
// message, on 1 and 2 workers. With two cores, two workers should come
// close to twice the rate.
func BenchmarkReactorCPU(b *testing.B) {
	ctx := context.Background()
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			router, _ := messaging.NewRouter("@tcp://127.0.0.1:0")
			defer router.Close()
			r := messaging.NewReactor([]messaging.Endpoint{router}, messaging.WithWorkers(workers))
			messaging.Handle(r, func(ctx context.Context, m *testpb.Work, _ messaging.Peer) (*testpb.WorkDone, error) {
				return &testpb.WorkDone{Seq: m.Seq, Digest: burn(int(m.Rounds))}, nil
			})
			go r.Serve(ctx)
			defer r.Shutdown(ctx)
			d, _ := messaging.NewDealer(router.Endpoint())
			defer d.Close()
			work := &testpb.Work{Rounds: 50}
			benchkit.Pipeline(b, 16,
				func() error { return d.Send(ctx, nil, work) },
				func() error { _, _, err := d.Recv(ctx); return err })
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

var _ proto.Message = sample
