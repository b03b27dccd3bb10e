package zmtp

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dividere-go/dividere/internal/z85"
	"github.com/dividere-go/dividere/internal/zmtp/mech"
	"github.com/dividere-go/dividere/internal/zmtp/wire"
)

// The conformance matrix over CURVE: this engine's sockets against
// libzmq's (pyzmq, Node's zeromq) with CURVE on, the engine as the CURVE
// server and as the client, and the refusals a CURVE server owes a bad
// client, each followed by a good client being served.

// curveKeys is one CURVE key pair, in both forms.
type curveKeys struct {
	pub, sec   [32]byte
	zpub, zsec string
}

func newCurveKeys(t *testing.T) curveKeys {
	t.Helper()
	pub, sec, err := z85.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return curveKeys{pub: pub, sec: sec, zpub: z85.EncodeKey(pub), zsec: z85.EncodeKey(sec)}
}

// allowOnly is an Authorize that lets in the clients whose keys are
// listed, and records whom it saw.
type allowOnly struct {
	mu      sync.Mutex
	keys    map[[32]byte]bool
	seen    []string
	refused int
}

func newAllowOnly(keys ...curveKeys) *allowOnly {
	a := &allowOnly{keys: map[[32]byte]bool{}}
	for _, k := range keys {
		a.keys[k.pub] = true
	}
	return a
}

var errNotListed = errors.New("key not on the allow list")

func (a *allowOnly) authorize(c mech.CurveClient) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seen = append(a.seen, c.UserID())
	if !a.keys[c.Public] {
		a.refused++
		return errNotListed
	}
	return nil
}

func (a *allowOnly) refusals() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.refused
}

// curveServerOpt and curveClientOpt are a libzmq peer's CURVE options.
func curveServerOpt(server curveKeys, allowed ...curveKeys) peerOpts {
	o := peerOpts{"curve_server": true, "curve_secretkey": server.zsec}
	if allowed != nil {
		var zs []string
		for _, k := range allowed {
			zs = append(zs, k.zpub)
		}
		o["zap_allow"] = zs
	}
	return o
}

func curveClientOpt(server, client curveKeys) peerOpts {
	return peerOpts{"curve_serverkey": server.zpub, "curve_publickey": client.zpub, "curve_secretkey": client.zsec}
}

func withOpts(a, b peerOpts) peerOpts {
	out := peerOpts{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// curveScenarios are the matrix's scenarios, but for DEALER/ROUTER's
// largest frame, 1 MiB rather than 10: every byte is sealed and opened
// on both sides, and under the race detector, beside the rest of the
// package, 10 MiB each way overran the 5 s a receive may take.
var curveScenarios = func() []scenario {
	var out []scenario
	for _, sc := range scenarios {
		if sc.name == "dealer-router" {
			sc.run = func(t *testing.T, dealer, router side) {
				for _, m := range [][][]byte{{{}}, frames("a", "", "b"), {pattern(255)}, {pattern(256)},
					{{}, pattern(255), pattern(256), []byte("x")}, {pattern(1 << 20)}} {
					if err := dealer.send(m); err != nil {
						t.Fatalf("%s send: %v", dealer.name(), err)
					}
					got := expectFrames(t, router, append(frames("d1"), m...))
					if err := router.send(got); err != nil {
						t.Fatalf("%s send: %v", router.name(), err)
					}
					expectFrames(t, dealer, m)
				}
			}
		}
		out = append(out, sc)
	}
	return out
}()

func scenarioNamed(name string) scenario {
	for _, sc := range curveScenarios {
		if sc.name == name {
			return sc
		}
	}
	panic("no scenario " + name)
}

// TestCurveConformance runs REQ/REP, PUB/SUB and DEALER/ROUTER over
// CURVE against each libzmq peer: either socket type ours, and either
// side the CURVE server (which binds). Our server lets in the client's
// key only and reports it as the peer's UserID; libzmq's runs a ZAP
// handler that does the same.
func TestCurveConformance(t *testing.T) {
	t.Parallel()
	forEachImpl(t, func(impl peerImpl, run func(string, func(*testing.T))) {
		for _, name := range []string{"req-rep", "pub-sub", "dealer-router"} {
			sc := scenarioNamed(name)
			for _, goRole := range []int{0, 1} {
				for _, goServer := range []bool{true, false} {
					roles := [2]role{sc.a, sc.b}
					ours, theirs := roles[goRole], roles[1-goRole]
					who := "client"
					if goServer {
						who = "server"
					}
					run(fmt.Sprintf("curve/%s/go-%s-%s", sc.name, ours.typ, who), func(t *testing.T) {
						server, client := newCurveKeys(t), newCurveKeys(t)
						gopt := ours.goOpt
						var popt peerOpts
						auth := newAllowOnly(client)
						if goServer {
							gopt.Mechanism = mech.CurveServerConfig{Secret: server.sec, Authorize: auth.authorize}.Factory()
							popt = withOpts(theirs.peerOpt, curveClientOpt(server, client))
						} else {
							gopt.Mechanism = mech.NewCurveClient(server.pub, client.pub, client.sec)
							// libzmq's own REQ as a CURVE server with a ZAP
							// handler loses every reply (libzmq 4.3.4 and 4.3.5,
							// libzmq REP to libzmq REQ too): its REQ serves
							// without one.
							allow := []curveKeys{client}
							if theirs.typ == REQ {
								allow = nil
							}
							popt = withOpts(theirs.peerOpt, curveServerOpt(server, allow...))
						}
						g := newSock(t, ours.typ, gopt)
						p := startPeer(t, impl, theirs.typ, popt)
						link(t, g, p, "tcp", goServer)
						sides := [2]side{}
						sides[goRole] = goSide{t, g}
						sides[1-goRole] = libzmqSide{p}
						sc.run(t, sides[0], sides[1])
						if goServer {
							peers := g.Peers()
							if len(peers) != 1 || peers[0].UserID != client.zpub {
								t.Errorf("our server's peers %+v, want one with UserID %s", peers, client.zpub)
							}
						}
						if st := g.Stats(); st.HandshakeFailures != 0 || st.ProtocolErrors != 0 {
							t.Errorf("stats %+v", st)
						}
					})
				}
			}
		}
	})
}

// rawCurve is a CURVE client driven by hand over a net.Conn: the
// greeting, mech's client handshake, then MESSAGEs sealed with its Codec
// and written as bytes, so that a test can change or repeat them.
type rawCurve struct {
	nc    net.Conn
	fr    *wire.Reader
	codec mech.Codec
}

// WriteCommand implements mech.Conn.
func (r *rawCurve) WriteCommand(name string, data ...[]byte) error {
	_, err := r.nc.Write(wire.AppendCommand(nil, name, data...))
	return err
}

// ReadCommand implements mech.Conn.
func (r *rawCurve) ReadCommand() (wire.Command, error) {
	f, err := r.fr.ReadFrame()
	if err != nil {
		return wire.Command{}, err
	}
	if !f.IsCommand() {
		return wire.Command{}, fmt.Errorf("a message during the handshake")
	}
	return wire.ParseCommand(f.Body)
}

// dialRawCurve connects to ep as a CURVE client of the given socket type
// and identity, and completes the handshake.
func dialRawCurve(t *testing.T, ep string, server, client curveKeys, typ, identity string) *rawCurve {
	t.Helper()
	nc, err := net.DialTimeout("tcp", strings.TrimPrefix(ep, "tcp://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	r := &rawCurve{nc: nc, fr: wire.NewReader(bufio.NewReader(nc), wire.Limits{MaxMessageSize: 1 << 20})}
	m := mech.NewCurveClient(server.pub, client.pub, client.sec)()
	g := wire.Greeting{Major: wire.VersionMajor, Minor: wire.VersionMinor, Mechanism: m.Name()}
	if _, err := nc.Write(g.Append(nil)); err != nil {
		t.Fatal(err)
	}
	var gb [wire.GreetingSize]byte
	if _, err := io.ReadFull(nc, gb[:]); err != nil {
		t.Fatalf("greeting: %v", err)
	}
	// libzmq does not set the as-server bit: it is not checked.
	if pg, err := wire.ParseGreeting(gb[:]); err != nil || pg.Mechanism != "CURVE" {
		t.Fatalf("greeting %+v %v", pg, err)
	}
	md := wire.Metadata{{Name: "Socket-Type", Value: []byte(typ)}, {Name: "Identity", Value: []byte(identity)}}
	res, err := m.Handshake(r, md)
	if err != nil {
		t.Fatalf("raw CURVE handshake: %v", err)
	}
	r.codec = res.Codec
	return r
}

// sealed is the wire form of a message, one MESSAGE per frame.
func (r *rawCurve) sealed(t *testing.T, msg ...string) []byte {
	t.Helper()
	var b []byte
	for i, f := range msg {
		var flags byte
		if i < len(msg)-1 {
			flags = wire.FlagMore
		}
		var err error
		if b, err = r.codec.Seal(b, flags, []byte(f)); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// expectClosed reads until the peer closes the connection, which it must
// do within 5 s, and fails if anything but a close comes.
func (r *rawCurve) expectClosed(t *testing.T, what string) {
	t.Helper()
	r.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		f, err := r.fr.ReadFrame()
		if err == nil {
			if f2, err := r.codec.Open(f); err == nil && f2.IsCommand() {
				continue // a PING, say
			}
			t.Fatalf("%s: the server sent a frame instead of closing", what)
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("%s: the connection is still open after 5 s", what)
		}
		return
	}
}

// TestCurveConformanceRefusals: a CURVE server, ours or libzmq's, that
// lets one key in refuses a client with the wrong server key, a client
// whose key is not on the list, a plaintext (NULL) client, a MESSAGE with
// a byte flipped mid-stream and a replayed MESSAGE (closing those
// connections, delivering nothing of them), and serves its good client
// after each. Ours counts each in its Stats.
func TestCurveConformanceRefusals(t *testing.T) {
	t.Parallel()
	forEachImpl(t, func(impl peerImpl, run func(string, func(*testing.T))) {
		run("go-server", func(t *testing.T) { curveRefusalsGoServer(t, impl) })
		run("libzmq-server", func(t *testing.T) { curveRefusalsLibzmqServer(t, impl) })
	})
}

func isHandshakeFailure(e Event) bool {
	return e.Kind == EventHandshakeFailed || e.Kind == EventHandshakeProtocol || e.Kind == EventHandshakeAuth
}

// A bad libzmq client must not try again within the test: each refusal
// is then counted once.
const noRetry = 60000

func curveRefusalsGoServer(t *testing.T, impl peerImpl) {
	server, good, stranger := newCurveKeys(t), newCurveKeys(t), newCurveKeys(t)
	auth := newAllowOnly(good)
	events := newEventLog()
	router := newSock(t, ROUTER, Options{
		Mechanism: mech.CurveServerConfig{Secret: server.sec, Authorize: auth.authorize}.Factory(),
		Events:    events.add, Logger: slog.New(slog.DiscardHandler)})
	ep, err := router.Bind("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := goSide{t, router}
	gp := startPeer(t, impl, DEALER, withOpts(peerOpts{"identity": []byte("good")}, curveClientOpt(server, good)))
	gp.connect(ep)
	d := libzmqSide{gp}
	n := 0
	roundTrip := func() {
		t.Helper()
		n++
		mustSend(t, d, "ping", fmt.Sprint(n))
		expect(t, r, "good", "ping", fmt.Sprint(n)) // and nothing of a bad client before it
		mustSend(t, r, "good", "pong", fmt.Sprint(n))
		expect(t, d, "pong", fmt.Sprint(n))
	}
	roundTrip()
	wantHS, wantProto, wantAuth := uint64(0), uint64(0), 0
	check := func(what string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			st := router.Stats()
			// A refused connection is counted before it is detached: the
			// good peer alone is left a moment later.
			if st.HandshakeFailures == wantHS && st.ProtocolErrors == wantProto && events.count(EventHandshakeAuth) == wantAuth && st.Peers == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after %s: stats %+v, %d auth events; want %d handshake failures, %d protocol errors, %d auth events, the good peer alone",
					what, st, events.count(EventHandshakeAuth), wantHS, wantProto, wantAuth)
			}
			time.Sleep(time.Millisecond) // polling counters, bounded above
		}
		roundTrip()
		if st := router.Stats(); st.Peers != 1 {
			t.Fatalf("after %s: %d peers, want the good one", what, st.Peers)
		}
	}

	// The wrong server key: HELLO does not open, the connection closes
	// unanswered (an authentication failure, as libzmq counts it).
	wrong := newCurveKeys(t)
	startPeer(t, impl, DEALER, withOpts(peerOpts{"identity": []byte("wrong"), "reconnect_ivl": noRetry}, curveClientOpt(wrong, good))).connect(ep)
	wantHS++
	wantAuth++
	check("the wrong server key")

	// A key not on the list: refused after INITIATE with ERROR 400.
	startPeer(t, impl, DEALER, withOpts(peerOpts{"identity": []byte("stranger"), "reconnect_ivl": noRetry}, curveClientOpt(server, stranger))).connect(ep)
	wantHS++
	wantAuth++
	check("a key not on the list")
	if auth.refusals() != 1 {
		t.Fatalf("Authorize refused %d clients, want 1", auth.refusals())
	}

	// A plaintext client: the NULL mechanism against CURVE.
	startPeer(t, impl, DEALER, peerOpts{"identity": []byte("plain"), "reconnect_ivl": noRetry}).connect(ep)
	wantHS++
	check("a NULL client")
	if n := events.count(EventHandshakeProtocol) + events.count(EventHandshakeFailed); n != 1 {
		t.Errorf("%d handshake failures not for authentication, want the NULL client's", n)
	}

	// One byte flipped in the box of a MESSAGE mid-stream: the message
	// before it is delivered, it and what follows are not, and the
	// connection closes.
	raw := dialRawCurve(t, ep, server, good, "DEALER", "raw")
	if _, err := raw.nc.Write(raw.sealed(t, "before")); err != nil {
		t.Fatal(err)
	}
	expect(t, r, "raw", "before")
	bad := raw.sealed(t, "flipped")
	bad[len(bad)-5] ^= 0x20
	if _, err := raw.nc.Write(append(bad, raw.sealed(t, "after")...)); err != nil {
		t.Fatal(err)
	}
	raw.expectClosed(t, "a flipped byte")
	wantProto++
	check("a flipped byte")

	// A replayed MESSAGE: the first copy is delivered, the second closes
	// the connection.
	raw = dialRawCurve(t, ep, server, good, "DEALER", "raw2")
	once := raw.sealed(t, "once")
	if _, err := raw.nc.Write(once); err != nil {
		t.Fatal(err)
	}
	expect(t, r, "raw2", "once")
	raw.nc.Write(once)
	raw.expectClosed(t, "a replayed MESSAGE")
	wantProto++
	check("a replayed MESSAGE")
	if m, err := r.recv(100 * time.Millisecond); err == nil {
		t.Fatalf("the server delivered %s after the refusals", show(m))
	}
}

func curveRefusalsLibzmqServer(t *testing.T, impl peerImpl) {
	server, good, stranger := newCurveKeys(t), newCurveKeys(t), newCurveKeys(t)
	lp := startPeer(t, impl, ROUTER, curveServerOpt(server, good))
	ep := lp.bind("tcp://127.0.0.1:*")
	r := libzmqSide{lp}
	dealer := newSock(t, DEALER, Options{Identity: []byte("good"), Mechanism: mech.NewCurveClient(server.pub, good.pub, good.sec)})
	if err := dealer.Connect(ep); err != nil {
		t.Fatal(err)
	}
	d := goSide{t, dealer}
	n := 0
	roundTrip := func(what string) {
		t.Helper()
		n++
		mustSend(t, d, "ping", fmt.Sprint(n))
		m := expectAny(t, r)
		if !eq(m, "good", "ping", fmt.Sprint(n)) {
			t.Fatalf("after %s: libzmq got %s, want the good client's ping", what, show(m))
		}
		mustSend(t, r, "good", "pong", fmt.Sprint(n))
		expect(t, d, "pong", fmt.Sprint(n))
	}
	roundTrip("nothing")
	// Each bad client of ours sees its handshake fail, and tries again.
	refused := func(what string, k mech.Factory, wantKind EventKind) {
		t.Helper()
		events := newEventLog()
		s := newSock(t, DEALER, Options{Identity: []byte(what), Mechanism: k, Events: events.add,
			ReconnectInterval: time.Hour, Logger: slog.New(slog.DiscardHandler)})
		if err := s.Connect(ep); err != nil {
			t.Fatal(err)
		}
		e := events.waitFor(t, 10*time.Second, what+" refused", isHandshakeFailure)
		if e.Kind != wantKind && wantKind != 0 {
			t.Errorf("%s: %v (%v), want %v", what, e.Kind, e.Err, wantKind)
		}
		if st := s.Stats(); st.HandshakeFailures == 0 || st.Peers != 0 {
			t.Errorf("%s: stats %+v", what, st)
		}
		roundTrip(what)
	}
	wrong := newCurveKeys(t)
	refused("wrong-server-key", mech.NewCurveClient(wrong.pub, good.pub, good.sec), EventHandshakeFailed)
	refused("stranger", mech.NewCurveClient(server.pub, stranger.pub, stranger.sec), EventHandshakeAuth)
	// libzmq closes on a mechanism it does not speak, without an ERROR:
	// no detail on our side.
	refused("plain", mech.NewNull, 0)

	raw := dialRawCurve(t, ep, server, good, "DEALER", "raw")
	raw.nc.Write(raw.sealed(t, "before"))
	expect(t, r, "raw", "before")
	bad := raw.sealed(t, "flipped")
	bad[len(bad)-5] ^= 0x20
	raw.nc.Write(append(bad, raw.sealed(t, "after")...))
	raw.expectClosed(t, "a flipped byte")
	roundTrip("a flipped byte")

	raw = dialRawCurve(t, ep, server, good, "DEALER", "raw2")
	once := raw.sealed(t, "once")
	raw.nc.Write(once)
	expect(t, r, "raw2", "once")
	raw.nc.Write(once)
	raw.expectClosed(t, "a replayed MESSAGE")
	roundTrip("a replayed MESSAGE")
}
