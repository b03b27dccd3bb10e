package zmtp

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"testing"

	"github.com/dividere-go/dividere/internal/zmtp/wire"
)

// In-process benchmarks of the engine's send and receive paths, for
// finding costs (go test -bench . -benchmem ./internal/zmtp). Over tcp,
// the far side is a minimal ZMTP peer of plain bytes (a sink, a source
// of pre-encoded messages, an echo), so that allocs/op are the engine's
// side alone; over inproc both sides are the engine's.

var benchSizes = []int{100, 1024}

// fakePeer is the far end of a tcp connection, past a NULL handshake as
// a socket of type typ.
type fakePeer struct {
	c net.Conn
	r *bufio.Reader
}

func fakeHandshake(c net.Conn, typ string, server bool) (*fakePeer, error) {
	g := wire.Greeting{Major: wire.VersionMajor, Minor: wire.VersionMinor, Mechanism: "NULL", AsServer: server}
	if _, err := c.Write(g.Append(nil)); err != nil {
		return nil, err
	}
	r := bufio.NewReaderSize(c, 64<<10)
	var gb [wire.GreetingSize]byte
	if _, err := io.ReadFull(r, gb[:]); err != nil {
		return nil, err
	}
	md := wire.AppendMetadata(nil, wire.Property{Name: "Socket-Type", Value: []byte(typ)})
	if _, err := c.Write(wire.AppendCommand(nil, wire.CmdReady, md)); err != nil {
		return nil, err
	}
	fr := wire.NewReader(r, wire.Limits{MaxMessageSize: -1, MaxFrames: 16})
	if _, err := fr.ReadFrame(); err != nil { // their READY
		return nil, err
	}
	return &fakePeer{c: c, r: r}, nil
}

func mustFake(b *testing.B, c net.Conn, typ string) *fakePeer {
	p, err := fakeHandshake(c, typ, false)
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// fakeServe listens for one connection and hands it, handshaken, to f.
func fakeServe(tb testing.TB, typ string, f func(*fakePeer)) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		p, err := fakeHandshake(c, typ, true)
		if err != nil {
			tb.Error(err)
			return
		}
		f(p)
	}()
	return "tcp://" + ln.Addr().String()
}

func benchSock(b *testing.B, typ Type) *Socket {
	s, err := New(typ, Options{SendHWM: -1, SendQueueBytes: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close(); <-s.Done() })
	return s
}

// BenchmarkSend: a PUB publishing as fast as it can; a REQ's round trip.
func BenchmarkSend(b *testing.B) {
	for _, size := range benchSizes {
		payload := make([]byte, size)
		b.Run(fmt.Sprintf("pubsub/tcp/%dB", size), func(b *testing.B) {
			total := int64(b.N) * int64(wire.MessageSize([][]byte{payload}))
			got := make(chan struct{})
			pub := benchSock(b, PUB)
			ep, err := pub.Bind("tcp://127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			c, err := net.Dial("tcp", ep[len("tcp://"):])
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			fp := mustFake(b, c, "SUB")
			fp.c.Write(wire.AppendCommand(nil, wire.CmdSubscribe, nil))
			waitSubscribed(pub)
			go func() {
				io.CopyN(io.Discard, fp.r, total)
				close(got)
			}()
			benchPublish(b, pub, payload, got)
		})
		b.Run(fmt.Sprintf("pubsub/inproc/%dB", size), func(b *testing.B) {
			pub, sub := benchInproc(b, PUB, SUB)
			sub.Subscribe(nil)
			waitSubscribed(pub)
			got := make(chan struct{})
			go func() {
				ctx := context.Background()
				for range b.N {
					if _, err := sub.Recv(ctx); err != nil {
						return
					}
				}
				close(got)
			}()
			benchPublish(b, pub, payload, got)
		})
		b.Run(fmt.Sprintf("reqrep/tcp/%dB", size), func(b *testing.B) {
			ep := fakeServe(b, "REP", func(p *fakePeer) { io.Copy(p.c, p.r) }) // a REP's reply is its request
			req := benchSock(b, REQ)
			if err := req.Connect(ep); err != nil {
				b.Fatal(err)
			}
			benchRoundTrips(b, req, payload)
		})
		b.Run(fmt.Sprintf("reqrep/inproc/%dB", size), func(b *testing.B) {
			rep, req := benchInproc(b, REP, REQ)
			go echo(rep)
			benchRoundTrips(b, req, payload)
		})
	}
}

// BenchmarkRecv: a SUB taking messages as fast as they come; a REP
// answering one request at a time.
func BenchmarkRecv(b *testing.B) {
	for _, size := range benchSizes {
		payload := make([]byte, size)
		b.Run(fmt.Sprintf("pubsub/tcp/%dB", size), func(b *testing.B) {
			// The source writes the same block of encoded messages again
			// and again.
			var block []byte
			for len(block) < 256<<10 {
				block = wire.AppendMessage(block, [][]byte{payload})
			}
			ep := fakeServe(b, "PUB", func(p *fakePeer) {
				for {
					if _, err := p.c.Write(block); err != nil {
						return
					}
				}
			})
			sub := benchSock(b, SUB)
			sub.Subscribe(nil)
			if err := sub.Connect(ep); err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			if _, err := sub.Recv(ctx); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := sub.Recv(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("pubsub/inproc/%dB", size), func(b *testing.B) {
			pub, sub := benchInproc(b, PUB, SUB)
			sub.Subscribe(nil)
			waitSubscribed(pub)
			stop := make(chan struct{})
			defer close(stop)
			go func() {
				ctx := context.Background()
				msg := [][]byte{payload}
				for {
					select {
					case <-stop:
						return
					default:
					}
					pub.Send(ctx, msg)
				}
			}()
			ctx := context.Background()
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := sub.Recv(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("reqrep/tcp/%dB", size), func(b *testing.B) {
			rep := benchSock(b, REP)
			ep, err := rep.Bind("tcp://127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			go echo(rep)
			c, err := net.Dial("tcp", ep[len("tcp://"):])
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			fp := mustFake(b, c, "REQ")
			req := wire.AppendMessage(nil, [][]byte{nil, payload})
			reply := make([]byte, len(req))
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := c.Write(req); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(fp.r, reply); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// waitSubscribed spins until the publisher has a subscriber.
func waitSubscribed(pub *Socket) {
	for pub.Subscribers(nil) == 0 {
		runtime.Gosched()
	}
}

func benchInproc(b *testing.B, bindT, connT Type) (*Socket, *Socket) {
	x, y := benchSock(b, bindT), benchSock(b, connT)
	ep := fmt.Sprintf("inproc://bench-%s-%p", b.Name(), x)
	if _, err := x.Bind(ep); err != nil {
		b.Fatal(err)
	}
	if err := y.Connect(ep); err != nil {
		b.Fatal(err)
	}
	return x, y
}

func benchPublish(b *testing.B, pub *Socket, payload []byte, got chan struct{}) {
	ctx := context.Background()
	msg := [][]byte{payload}
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := pub.Send(ctx, msg); err != nil {
			b.Fatal(err)
		}
	}
	<-got
}

func benchRoundTrips(b *testing.B, req *Socket, payload []byte) {
	ctx := context.Background()
	msg := [][]byte{payload}
	if err := req.Send(ctx, msg); err != nil { // the connection is up
		b.Fatal(err)
	}
	if _, err := req.Recv(ctx); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := req.Send(ctx, msg); err != nil {
			b.Fatal(err)
		}
		if _, err := req.Recv(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

func echo(rep *Socket) {
	ctx := context.Background()
	for {
		m, err := rep.Recv(ctx)
		if err != nil {
			return
		}
		if rep.Send(ctx, m) != nil {
			return
		}
	}
}
