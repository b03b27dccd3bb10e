package mech

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/nacl/box"

	"github.com/dividere-go/dividere/internal/z85"
	"github.com/dividere-go/dividere/internal/zmtp/wire"
)

func md(typ string, extra ...wire.Property) wire.Metadata {
	return append(wire.Metadata{{Name: "Socket-Type", Value: []byte(typ)}}, extra...)
}

func TestCurveHandshakeAndMessages(t *testing.T) {
	spub, ssec := keyPair(t)
	cpub, csec := keyPair(t)
	var seen CurveClient
	server := CurveServerConfig{Secret: ssec, Authorize: func(c CurveClient) error { seen = c; return nil }}.Factory()
	p := handshakePair(t, NewCurveClient(spub, cpub, csec), server,
		md("DEALER", wire.Property{Name: "Identity", Value: []byte("c1")}, wire.Property{Name: "X-Hello", Value: []byte("from the client")}),
		md("ROUTER", wire.Property{Name: "X-Hello", Value: []byte("from the server")}))
	if p.cerr != nil || p.serr != nil {
		t.Fatalf("handshake: client %v, server %v", p.cerr, p.serr)
	}
	if p.sres.UserID != z85.EncodeKey(cpub) {
		t.Errorf("server's UserID = %q, want the client's key %q", p.sres.UserID, z85.EncodeKey(cpub))
	}
	if seen.Public != cpub || seen.Remote == nil || seen.UserID() != p.sres.UserID {
		t.Errorf("Authorize saw %+v", seen)
	}
	if v, _ := seen.Metadata.Get("identity"); string(v) != "c1" {
		t.Errorf("Authorize saw Identity %q", v)
	}
	for _, c := range []struct {
		m          wire.Metadata
		name, want string
	}{
		{p.sres.Peer, "Socket-Type", "DEALER"}, {p.sres.Peer, "Identity", "c1"}, {p.sres.Peer, "X-Hello", "from the client"},
		{p.cres.Peer, "Socket-Type", "ROUTER"}, {p.cres.Peer, "X-Hello", "from the server"},
	} {
		if v, ok := c.m.Get(c.name); !ok || string(v) != c.want {
			t.Errorf("metadata %s = %q, %v; want %q", c.name, v, ok, c.want)
		}
	}
	if p.cres.UserID != "" {
		t.Errorf("client's UserID = %q, want none", p.cres.UserID)
	}

	// Both directions at once, with multi-frame messages, empty frames,
	// a frame over the short frame's 255 bytes and one of 100 KiB.
	const n = 200
	msgOf := func(from string, i int) [][]byte {
		m := [][]byte{[]byte(fmt.Sprintf("%s %d", from, i)), {}}
		switch i % 3 {
		case 1:
			m = append(m, bytes.Repeat([]byte{byte(i)}, 300))
		case 2:
			m = m[:1]
		}
		if i == n/2 {
			m = append(m, bytes.Repeat([]byte("x"), 100<<10))
		}
		return m
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for _, side := range []struct {
		name     string
		tx, rx   *streamConn
		peerName string
	}{{"client", p.c, p.s, "server"}, {"server", p.s, p.c, "client"}} {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := 0; i < n; i++ {
				if i == 7 {
					// A ZMTP command rides inside MESSAGE too.
					if err := side.tx.sendCommand(wire.CmdPing, []byte{0, 10}, []byte("ctx")); err != nil {
						errs <- err
						return
					}
				}
				if err := side.tx.send(msgOf(side.name, i)...); err != nil {
					errs <- err
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			pings := 0
			for i := 0; i < n; i++ {
				m, err := side.rx.recv(func(c wire.Command) {
					if c.Name == wire.CmdPing {
						pings++
					}
				})
				if err != nil {
					errs <- fmt.Errorf("%s receiving %d: %w", side.peerName, i, err)
					return
				}
				want := msgOf(side.name, i)
				if len(m) != len(want) {
					errs <- fmt.Errorf("%s: message %d has %d frames, want %d", side.peerName, i, len(m), len(want))
					return
				}
				for j := range m {
					if !bytes.Equal(m[j], want[j]) {
						errs <- fmt.Errorf("%s: message %d frame %d = %.20q, want %.20q", side.peerName, i, j, m[j], want[j])
						return
					}
				}
			}
			if pings != 1 {
				errs <- fmt.Errorf("%s saw %d PINGs, want 1", side.peerName, pings)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestCurveWrongServerKey(t *testing.T) {
	_, ssec := keyPair(t)
	otherPub, _ := keyPair(t)
	cpub, csec := keyPair(t)
	p := handshakePair(t, NewCurveClient(otherPub, cpub, csec), NewCurveServer(ssec, nil), md("REQ"), md("REP"))
	if !errors.Is(p.serr, ErrAuth) {
		t.Errorf("server: %v, want ErrAuth", p.serr)
	}
	if p.cerr == nil || !strings.Contains(p.cerr.Error(), "after HELLO") {
		t.Errorf("client: %v, want the server closing after HELLO", p.cerr)
	}
}

func TestCurveClientNotAllowed(t *testing.T) {
	spub, ssec := keyPair(t)
	goodPub, _ := keyPair(t)
	cpub, csec := keyPair(t)
	errNotListed := errors.New("key not on the allow list")
	allow := func(k [32]byte) error {
		if k != goodPub {
			return errNotListed
		}
		return nil
	}
	p := handshakePair(t, NewCurveClient(spub, cpub, csec), NewCurveServer(ssec, allow), md("REQ"), md("REP"))
	if !errors.Is(p.serr, ErrAuth) || !errors.Is(p.serr, errNotListed) || !strings.Contains(p.serr.Error(), z85.EncodeKey(cpub)) {
		t.Errorf("server: %v, want ErrAuth and the allow error, naming the key", p.serr)
	}
	if !errors.Is(p.cerr, ErrAuth) || !errors.Is(p.cerr, ErrPeerError) || !strings.Contains(p.cerr.Error(), `"400"`) {
		t.Errorf("client: %v, want ErrAuth from ERROR 400", p.cerr)
	}
}

func TestCurveClientKeyMismatch(t *testing.T) {
	spub, ssec := keyPair(t)
	cpub, _ := keyPair(t)
	_, csec := keyPair(t)
	p := handshakePair(t, NewCurveClient(spub, cpub, csec), NewCurveServer(ssec, nil), md("REQ"), md("REP"))
	if p.cerr == nil || !strings.Contains(p.cerr.Error(), "not the secret key's") {
		t.Errorf("client: %v", p.cerr)
	}
	if p.serr == nil {
		t.Error("server handshake succeeded")
	}
}

func TestCurveSocketTypes(t *testing.T) {
	spub, ssec := keyPair(t)
	cpub, csec := keyPair(t)
	p := handshakePair(t, NewCurveClient(spub, cpub, csec), NewCurveServer(ssec, nil), md("PUB"), md("REP"))
	if !errors.Is(p.serr, wire.ErrProtocol) || !strings.Contains(p.serr.Error(), "cannot talk") {
		t.Errorf("server: %v", p.serr)
	}
	if !errors.Is(p.cerr, ErrPeerError) || !strings.Contains(p.cerr.Error(), "invalid socket type") {
		t.Errorf("client: %v", p.cerr)
	}
}

func TestCurveRoles(t *testing.T) {
	spub, ssec := keyPair(t)
	cpub, csec := keyPair(t)
	c, s := NewCurveClient(spub, cpub, csec)(), NewCurveServer(ssec, nil)()
	if c.Name() != "CURVE" || s.Name() != "CURVE" || c.AsServer() || !s.AsServer() {
		t.Error("names or roles")
	}
	// Two clients: each gets a HELLO where it waits for WELCOME.
	_, _, err1, err2 := chanHandshake(c, NewCurveClient(spub, cpub, csec)(), nil, nil, nil)
	if !errors.Is(err1, wire.ErrProtocol) || !errors.Is(err2, wire.ErrProtocol) {
		t.Errorf("two clients: %v, %v", err1, err2)
	}
}

// codecs returns the two ends of a handshake made in memory.
func codecs(t testing.TB) (client, server *curveCodec) {
	t.Helper()
	spub, ssec := keyPair(t)
	cpub, csec := keyPair(t)
	cres, sres, cerr, serr := chanHandshake(NewCurveClient(spub, cpub, csec)(), NewCurveServer(ssec, nil)(), md("DEALER"), md("ROUTER"), nil)
	if cerr != nil || serr != nil {
		t.Fatalf("handshake: %v, %v", cerr, serr)
	}
	return cres.Codec.(*curveCodec), sres.Codec.(*curveCodec)
}

// sealed seals one frame and returns the frame the reader would read.
func sealed(t testing.TB, c *curveCodec, flags byte, body string) wire.Frame {
	t.Helper()
	b, err := c.Seal(nil, flags, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > c.SealedSize(len(body)) {
		t.Fatalf("Seal wrote %d bytes, SealedSize said %d", len(b), c.SealedSize(len(body)))
	}
	h := wire.HeaderSize(len(b) - 2)
	return wire.Frame{Flags: b[0] &^ wire.FlagLong, Body: b[h:]}
}

func TestCurveBitFlipped(t *testing.T) {
	c, s := codecs(t)
	good := sealed(t, c, wire.FlagMore, "hello")
	if f, err := s.Open(good); err != nil || string(f.Body) != "hello" || !f.More() || f.IsCommand() {
		t.Fatalf("Open = %+v, %v", f, err)
	}
	// Every byte of a MESSAGE matters: flip each in turn.
	m := sealed(t, c, 0, "a message long enough to span a few bytes of box")
	for i := range m.Body {
		bad := wire.Frame{Flags: m.Flags, Body: bytes.Clone(m.Body)}
		bad.Body[i] ^= 0x10
		if f, err := s.Open(bad); err == nil {
			t.Fatalf("flipping byte %d: Open = %q, want an error", i, f.Body)
		} else if !errors.Is(err, wire.ErrProtocol) {
			t.Fatalf("flipping byte %d: %v, not a protocol error", i, err)
		}
	}
	if f, err := s.Open(m); err != nil || string(f.Body) != "a message long enough to span a few bytes of box" {
		t.Fatalf("the untouched MESSAGE after the flipped ones: %q, %v", f.Body, err)
	}
	if _, err := s.Open(wire.Frame{Body: []byte("\x05hello")}); err == nil {
		t.Error("a plaintext frame opened")
	}
}

func TestCurveReplayed(t *testing.T) {
	c, s := codecs(t)
	m1, m2, m3, m4 := sealed(t, c, 0, "1"), sealed(t, c, 0, "2"), sealed(t, c, 0, "3"), sealed(t, c, 0, "4")
	for _, m := range []wire.Frame{m1, m2} {
		if _, err := s.Open(m); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Open(m1); !errors.Is(err, ErrCurveNonce) {
		t.Errorf("replayed: %v, want ErrCurveNonce", err)
	}
	if _, err := s.Open(m2); !errors.Is(err, ErrCurveNonce) {
		t.Errorf("replayed last: %v, want ErrCurveNonce", err)
	}
	if _, err := s.Open(m4); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(m3); !errors.Is(err, ErrCurveNonce) {
		t.Errorf("reordered: %v, want ErrCurveNonce", err)
	}
	// A MESSAGE sent the other way, or by the server to another client,
	// does not open.
	back := sealed(t, s, 0, "from the server")
	if _, err := s.Open(back); err == nil {
		t.Error("the server opened its own MESSAGE")
	}
	c2, s2 := codecs(t)
	_ = c2
	if _, err := s2.Open(sealed(t, c, 0, "5")); !errors.Is(err, ErrCurveBox) {
		t.Errorf("another connection's MESSAGE: %v, want ErrCurveBox", err)
	}
}

func TestCurveCommandFlags(t *testing.T) {
	c, s := codecs(t)
	f, err := s.Open(sealed(t, c, wire.FlagCommand, "\x04PING\x00\x00"))
	if err != nil || !f.IsCommand() || f.More() || string(f.Body) != "\x04PING\x00\x00" {
		t.Fatalf("command: %+v, %v", f, err)
	}
	// An ERROR the peer sends in plaintext after the handshake closes the
	// connection with its reason.
	_, err = s.Open(wire.Frame{Flags: wire.FlagCommand, Body: append([]byte("\x05ERROR\x04"), "oops"...)})
	if !errors.Is(err, ErrPeerError) || !strings.Contains(err.Error(), "oops") {
		t.Errorf("plaintext ERROR: %v", err)
	}
}

func TestCurveSharedKey(t *testing.T) {
	for i := 0; i < 8; i++ {
		apub, asec := keyPair(t)
		bpub, bsec := keyPair(t)
		var k1, k2, want [32]byte
		if err := sharedKey(&k1, &bpub, &asec); err != nil {
			t.Fatal(err)
		}
		if err := sharedKey(&k2, &apub, &bsec); err != nil {
			t.Fatal(err)
		}
		box.Precompute(&want, &bpub, &asec)
		if k1 != want || k2 != want {
			t.Fatal("sharedKey differs from box.Precompute")
		}
	}
	_, sec := keyPair(t)
	var k, zero, one [32]byte
	one[0] = 1
	for _, low := range [][32]byte{zero, one} {
		if err := sharedKey(&k, &low, &sec); err == nil {
			t.Errorf("low-order key %x accepted", low[:2])
		}
	}
}

// hello builds a client's HELLO data for the tests that forge one.
func helloFor(t *testing.T, server [32]byte) []byte {
	t.Helper()
	var got []byte
	cpub, csec := keyPair(t)
	cc, sc := chanPair()
	go func() {
		b := <-sc.in
		got = b
		sc.close()
	}()
	NewCurveClient(server, cpub, csec)().Handshake(cc, nil)
	cmd, _ := wire.ParseCommand(got)
	return cmd.Data
}

func TestCurveMalformedHello(t *testing.T) {
	spub, ssec := keyPair(t)
	good := helloFor(t, spub)
	mutate := func(f func([]byte) []byte) []byte { return f(bytes.Clone(good)) }
	var zero [32]byte
	for name, data := range map[string][]byte{
		"short":        good[:len(good)-1],
		"long":         append(bytes.Clone(good), 0),
		"version":      mutate(func(b []byte) []byte { b[0] = 2; return b }),
		"padding":      mutate(func(b []byte) []byte { b[10] = 1; return b }),
		"signature":    mutate(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }),
		"low-order C'": mutate(func(b []byte) []byte { copy(b[2+helloPadding:], zero[:]); return b }),
	} {
		cc, sc := chanPair()
		go func() {
			cc.WriteCommand(cmdHello, data)
			cc.close()
		}()
		_, err := NewCurveServer(ssec, nil)().Handshake(sc, md("REP"))
		sc.close()
		if !errors.Is(err, wire.ErrProtocol) && !errors.Is(err, ErrAuth) {
			t.Errorf("%s: %v", name, err)
		}
		if _, ok := <-cc.in; ok {
			t.Errorf("%s: the server answered", name)
		}
	}
	cc, sc := chanPair()
	go func() { cc.WriteCommand(cmdInitiate, make([]byte, initiateMin)); cc.close() }()
	if _, err := NewCurveServer(ssec, nil)().Handshake(sc, nil); !errors.Is(err, wire.ErrProtocol) {
		t.Errorf("INITIATE first: %v", err)
	}
}

// TestCurveCookie checks the cookie key's lifetime: a cookie opens after
// one turn of the key and not after two.
func TestCurveCookie(t *testing.T) {
	spub, ssec := keyPair(t)
	cpub, csec := keyPair(t)
	for _, c := range []struct {
		wait time.Duration
		ok   bool
	}{{0, true}, {59 * time.Second, true}, {90 * time.Second, true}, {150 * time.Second, false}, {10 * time.Minute, false}} {
		// A new server whose cookie key is made by this HELLO.
		var mu sync.Mutex
		now := time.Unix(1000, 0)
		cfg := CurveServerConfig{Secret: ssec, CookieLifetime: time.Minute, now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }}
		server := cfg.Factory()
		// The clock turns while the INITIATE is on its way.
		turn := func(name string, data []byte) []byte {
			if name == cmdInitiate {
				mu.Lock()
				now = now.Add(c.wait)
				mu.Unlock()
			}
			return data
		}
		_, _, cerr, serr := chanHandshake(NewCurveClient(spub, cpub, csec)(), server(), md("REQ"), md("REP"), turn)
		if c.ok && (cerr != nil || serr != nil) {
			t.Errorf("after %v: %v, %v", c.wait, cerr, serr)
		}
		if !c.ok && (serr == nil || !strings.Contains(serr.Error(), "cookie does not open")) {
			t.Errorf("after %v: server %v, want the cookie refused", c.wait, serr)
		}
	}
}

// TestCurveReplayedHandshake replays a recorded HELLO and INITIATE on a
// new connection to the same server: the cookie opens (its key is the
// server's) but is not this connection's.
func TestCurveReplayedHandshake(t *testing.T) {
	spub, ssec := keyPair(t)
	cpub, csec := keyPair(t)
	server := NewCurveServer(ssec, nil)
	var rec [][]byte
	record := func(name string, data []byte) []byte {
		rec = append(rec, append([]byte{byte(len(name))}, append([]byte(name), data...)...))
		return data
	}
	if _, _, cerr, serr := chanHandshake(NewCurveClient(spub, cpub, csec)(), server(), md("REQ"), md("REP"), record); cerr != nil || serr != nil {
		t.Fatal(cerr, serr)
	}
	cc, sc := chanPair()
	go func() {
		for _, b := range rec {
			cc.out <- b
			if _, ok := <-cc.in; !ok {
				break
			}
		}
		cc.close()
	}()
	_, err := server().Handshake(sc, md("REP"))
	sc.close()
	if err == nil || !strings.Contains(err.Error(), "not sent on this connection") {
		t.Errorf("replayed handshake: %v", err)
	}
}

func TestCurveCodecAllocs(t *testing.T) {
	c, s := codecs(t)
	body := make([]byte, 100)
	var dst []byte
	var err error
	seal := testing.AllocsPerRun(1000, func() {
		dst, err = c.Seal(dst[:0], 0, body)
	})
	if err != nil || seal != 0 {
		t.Errorf("Seal: %v allocations a frame (%v), want 0", seal, err)
	}
	frames := make([]wire.Frame, 1100)
	for i := range frames {
		frames[i] = sealed(t, c, 0, string(body))
	}
	i := 0
	open := testing.AllocsPerRun(1000, func() {
		if _, err := s.Open(frames[i]); err != nil {
			t.Fatal(err)
		}
		i++
	})
	if open > 0.05 {
		t.Errorf("Open: %v allocations a 100-byte frame, want a shared slab", open)
	}
}
