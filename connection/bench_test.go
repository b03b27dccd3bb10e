//go:build libzmq && cgo

package connection_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/internal/benchkit"
	"github.com/dividere-go/dividere/internal/rawzmq"
)

// The benchmarks run each workload twice, through raw pebbe/zmq4 (each
// socket owned by one goroutine, blocking calls) and through the facades,
// over tcp on loopback, so that the cost of the facades' safety shows:
//
//	go test -run '^$' -bench . -benchtime 2s ./connection

func BenchmarkPubSub(b *testing.B) {
	for _, size := range []int{64, 1024} {
		b.Run(fmt.Sprintf("raw/%dB", size), func(b *testing.B) { benchPubSubRaw(b, size) })
		b.Run(fmt.Sprintf("facade/%dB", size), func(b *testing.B) { benchPubSubFacade(b, size) })
	}
}

func benchPubSubRaw(b *testing.B, size int) {
	pub, sub, err := rawzmq.PubSub(context.Background(), 100_000)
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()
	defer sub.Close()
	msg := make([]byte, size)
	b.SetBytes(int64(size))
	benchkit.Stream(b,
		func() error { _, err := pub.SendBytes(msg, 0); return err },
		func() error { _, err := sub.RecvBytes(0); return err })
}

func benchPubSubFacade(b *testing.B, size int) {
	ctx := context.Background()
	pub, err := connection.NewPublisher("@tcp://127.0.0.1:0", connection.WithLinger(0))
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()
	sub, err := connection.NewSubscriber(pub.Endpoint(), connection.WithLinger(0))
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	if err := pub.WaitSubscribers(ctx, "", 1); err != nil {
		b.Fatal(err)
	}
	msg := make([]byte, size)
	b.SetBytes(int64(size))
	benchkit.Stream(b,
		func() error { return pub.Send(ctx, msg) },
		func() error { _, err := sub.Recv(ctx); return err })
}

func BenchmarkReqRep(b *testing.B) {
	b.Run("raw", benchReqRepRaw)
	b.Run("facade", benchReqRepFacade)
}

func benchReqRepRaw(b *testing.B) {
	e, err := rawzmq.ReqRep()
	if err != nil {
		b.Fatal(err)
	}
	msg := make([]byte, 64)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e.Req.SendBytes(msg, 0)
		e.Req.RecvBytes(0)
	}
	b.StopTimer()
	e.Close()
}

func benchReqRepFacade(b *testing.B) {
	ctx := context.Background()
	rep, err := connection.NewResponse("@tcp://127.0.0.1:0", connection.WithLinger(0))
	if err != nil {
		b.Fatal(err)
	}
	req, err := connection.NewRequest(rep.Endpoint(), connection.WithLinger(0))
	if err != nil {
		b.Fatal(err)
	}
	defer req.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			m, err := rep.Recv(ctx)
			if err != nil {
				return
			}
			rep.Send(ctx, m...)
		}
	}()
	msg := make([]byte, 64)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := req.Call(ctx, msg); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	rep.Close()
	<-done
}

// BenchmarkCurve: the cost of CURVE encryption against plain tcp, on the
// same workloads.
func BenchmarkCurve(b *testing.B) {
	server, _ := connection.NewKeyPair()
	client, _ := connection.NewKeyPair()
	auth, err := connection.StartAuthenticator(nil)
	if err != nil {
		b.Fatal(err)
	}
	defer auth.Close()
	auth.SetKeys(client.Public)
	for _, mode := range []struct {
		name     string
		srv, cli connection.Option // nil: none
	}{
		{"plain", nil, nil},
		{"curve", connection.WithCurveServer(server), connection.WithCurveClient(server.Public, client)},
	} {
		b.Run("pubsub-1KiB/"+mode.name, func(b *testing.B) {
			ctx := context.Background()
			pub, _ := connection.NewPublisher("@tcp://127.0.0.1:0", mode.srv, connection.WithLinger(0))
			defer pub.Close()
			sub, _ := connection.NewSubscriber(pub.Endpoint(), mode.cli, connection.WithLinger(0))
			defer sub.Close()
			pub.WaitSubscribers(ctx, "", 1)
			msg := make([]byte, 1024)
			b.SetBytes(1024)
			benchkit.Stream(b,
				func() error { return pub.Send(ctx, msg) },
				func() error { _, err := sub.Recv(ctx); return err })
		})
		b.Run("reqrep/"+mode.name, func(b *testing.B) {
			ctx := context.Background()
			rep, _ := connection.NewResponse("@tcp://127.0.0.1:0", mode.srv, connection.WithLinger(0))
			req, _ := connection.NewRequest(rep.Endpoint(), mode.cli, connection.WithLinger(0))
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
			msg := make([]byte, 64)
			b.ResetTimer()
			for b.Loop() {
				if _, err := req.Call(ctx, msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
