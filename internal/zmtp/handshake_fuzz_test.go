package zmtp

import (
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/dividere-go/dividere/internal/zmtp/wire"
)

// fuzzPeerOf is, for each socket type, a type its peer may have.
var fuzzPeerOf = map[Type]string{
	PAIR: "PAIR", PUB: "SUB", SUB: "PUB", REQ: "REP", REP: "REQ", DEALER: "ROUTER",
	ROUTER: "DEALER", PULL: "PUSH", PUSH: "PULL", XPUB: "XSUB", XSUB: "XPUB",
}

// greeting returns a ZMTP greeting of the given version and mechanism.
func greeting(major, minor byte, mechanism string) []byte {
	return wire.Greeting{Major: major, Minor: minor, Mechanism: mechanism}.Append(nil)
}

// ready returns a READY command giving socketType and identity.
func ready(socketType, identity string) []byte {
	md := wire.AppendMetadata(nil, wire.Property{Name: "Socket-Type", Value: []byte(socketType)},
		wire.Property{Name: "Identity", Value: []byte(identity)})
	return wire.AppendCommand(nil, wire.CmdReady, md)
}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// hostileHandshakes are a peer's side of a handshake, each broken in its
// own way: the fuzz target's seeds and the unit test's bad peers.
func hostileHandshakes(peerType string) map[string][]byte {
	g := greeting(3, 1, "NULL")
	hugeCommand := append([]byte{wire.FlagCommand | wire.FlagLong}, binary.BigEndian.AppendUint64(nil, 1<<62)...)
	hugeName := wire.AppendCommand(nil, wire.CmdReady, []byte{11, 'S', 'o', 'c', 'k', 'e', 't', '-', 'T', 'y', 'p', 'e', 0xff, 0xff, 0xff, 0xff})
	return map[string][]byte{
		"garbage":         []byte("GET / HTTP/1.1\r\nHost: example\r\n\r\n" + string(make([]byte, 64))),
		"bad signature":   cat([]byte{0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0x7e}, g[10:]),
		"zmtp 1.0":        {0x01, 0x00},
		"version 2":       greeting(2, 0, "NULL"),
		"truncated":       g[:30],
		"unknown mech":    greeting(3, 1, "FOO"),
		"curve mech":      greeting(3, 1, "CURVE"),
		"huge length":     cat(g, hugeCommand),
		"huge property":   cat(g, hugeName),
		"message first":   cat(g, wire.AppendMessage(nil, [][]byte{[]byte("hello")})),
		"error command":   cat(g, wire.AppendCommand(nil, wire.CmdError, []byte{3, 'b', 'a', 'd'})),
		"ping first":      cat(g, wire.AppendPing(nil, wire.Ping{TTL: 1})),
		"incompatible":    cat(g, ready("NOT-A-TYPE", "")),
		"truncated ready": cat(g, ready(peerType, "id")[:8]),
		"ready then junk": cat(g, ready(peerType, ""), []byte{0x80, 0x01, 0x00}),
		"ready then huge": cat(g, ready(peerType, ""), []byte{wire.FlagLong, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}),
		"ready then bad command": cat(g, ready(peerType, ""),
			wire.AppendCommand(nil, "SUBSCRIBE\xff\xff", nil)),
	}
}

// goodHandshake is a well-behaved peer's side: greeting, READY, a
// subscription, a PING and two messages.
func goodHandshake(peerType string) []byte {
	return cat(greeting(3, 1, "NULL"), ready(peerType, "peer"),
		wire.AppendCommand(nil, wire.CmdSubscribe, nil),
		wire.AppendPing(nil, wire.Ping{TTL: 10, Context: []byte("c")}),
		wire.AppendMessage(nil, [][]byte{nil, []byte("hello")}),
		wire.AppendMessage(nil, [][]byte{[]byte("\x01topic")}))
}

// FuzzHandshake feeds arbitrary bytes, as a peer's side of the greeting
// and handshake and what follows, to a socket of each type. The socket
// must neither panic nor hang, and must let go of the connection and
// every goroutine once the bytes end.
func FuzzHandshake(f *testing.F) {
	for typ, peerType := range fuzzPeerOf {
		f.Add(byte(typ), goodHandshake(peerType))
		f.Add(byte(typ), cat(greeting(3, 0, "NULL"), ready(peerType, ""), wire.AppendMessage(nil, [][]byte{[]byte("\x00")})))
	}
	for _, b := range hostileHandshakes("DEALER") {
		f.Add(byte(ROUTER), b)
	}
	quiet := slog.New(slog.DiscardHandler)
	f.Fuzz(func(t *testing.T, typ byte, data []byte) {
		st := Type(int(typ) % len(typeNames))
		s, err := New(st, Options{HandshakeTimeout: time.Second, RecvHWM: -1, MaxMessageSize: 1 << 16,
			MaxFrames: 64, MaxSubscriptions: 16, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		srv, cli := net.Pipe()
		go io.Copy(io.Discard, cli) // the socket's greeting, READY, PONGs
		go func() {
			cli.Write(data)
			cli.Close()
		}()
		ran := make(chan error, 1)
		go func() { ran <- s.run(srv, nil, nil, "pipe://fuzz") }()
		select {
		case err := <-ran:
			if err == nil {
				t.Fatal("the connection ended without a reason")
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: the connection is still served 5 s after the peer's bytes ended", st)
		}
		s.Close()
		select {
		case <-s.Done():
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: goroutines still running 5 s after Close", st)
		}
		if st := s.Stats(); st.HandshakeFailures+st.ProtocolErrors > 2 {
			t.Fatalf("one connection counted %d handshake failures and %d protocol errors",
				st.HandshakeFailures, st.ProtocolErrors)
		}
	})
}

// TestHostileHandshakesThenGoodPeer connects every hostile handshake to
// a bound ROUTER, some left open where they stop, and checks that a good
// peer is served meanwhile, that each bad one is closed (the stalled ones
// by the handshake timeout) and that each is counted.
func TestHostileHandshakesThenGoodPeer(t *testing.T) {
	ctx := ctxT(t)
	router := newSock(t, ROUTER, Options{HandshakeTimeout: 300 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	ep, err := router.Bind("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ep[len("tcp://"):]
	bad := hostileHandshakes("DEALER")
	conns := make(map[string]net.Conn)
	for name, b := range bad {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		go io.Copy(io.Discard, io.LimitReader(c, 0)) // nothing: the test reads below
		if _, err := c.Write(b); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		conns[name] = c // left open: the socket must close it
	}
	dealer := newSock(t, DEALER, Options{Identity: []byte("good")})
	dealer.Connect(ep)
	for i := 0; i < 3; i++ {
		dealer.Send(ctx, frames("ping"))
		if m := mustRecv(t, ctx, router); !eq(m, "good", "ping") {
			t.Fatalf("router got %q", m)
		}
		router.Send(ctx, frames("good", "pong"))
		if m := mustRecv(t, ctx, dealer); !eq(m, "pong") {
			t.Fatalf("dealer got %q", m)
		}
	}
	for name, c := range conns {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err := io.Copy(io.Discard, c)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("%s: the socket did not close the connection", name)
		}
	}
	// "ready then ..." complete the handshake: protocol errors after it.
	waitFor(t, func() bool {
		st := router.Stats()
		return st.HandshakeFailures == uint64(len(bad)-3) && st.ProtocolErrors == 3
	})
	if st := router.Stats(); st.Peers != 1 {
		t.Fatalf("%d peers up, want the good one", st.Peers)
	}
}

// TestRouterIgnoresReservedIdentity: an identity starting with a zero
// byte is of the kind a ROUTER makes up for anonymous peers, so a peer
// giving one gets one made up instead, and cannot take another's (even
// with RouterHandover).
func TestRouterIgnoresReservedIdentity(t *testing.T) {
	ctx := ctxT(t)
	router := newSock(t, ROUTER, Options{RouterHandover: true})
	ep, err := router.Bind("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	anon := newSock(t, DEALER, Options{})
	anon.Connect(ep)
	anon.Send(ctx, frames("anon"))
	victim := mustRecv(t, ctx, router)[0]
	c, err := net.Dial("tcp", ep[len("tcp://"):])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go io.Copy(io.Discard, c)
	c.Write(cat(greeting(3, 1, "NULL"), ready("DEALER", string(victim)), wire.AppendMessage(nil, [][]byte{[]byte("thief")})))
	m := mustRecv(t, ctx, router)
	if string(m[1]) != "thief" || string(m[0]) == string(victim) {
		t.Fatalf("the thief's message came as %q", m)
	}
	router.Send(ctx, [][]byte{victim, []byte("for anon")})
	if m := mustRecv(t, ctx, anon); !eq(m, "for anon") {
		t.Fatalf("anon got %q", m)
	}
}
