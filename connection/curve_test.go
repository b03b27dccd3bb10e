package connection_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/internal/testproc"
	"github.com/dividere-go/dividere/internal/testutil"
	"github.com/dividere-go/dividere/internal/z85"
	"github.com/dividere-go/dividere/internal/zmtp/mech"
	"github.com/dividere-go/dividere/internal/zmtp/wire"
)

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

func keyPair(t *testing.T) connection.KeyPair {
	t.Helper()
	k, err := connection.NewKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func authenticator(t *testing.T, keys ...string) *connection.Authenticator {
	t.Helper()
	a, err := connection.StartAuthenticator(quietLog)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	if err := a.SetKeys(keys...); err != nil {
		t.Fatal(err)
	}
	return a
}

// call makes one request with a short deadline.
func call(req *connection.Request, payload string, d time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	m, err := req.Call(ctx, []byte(payload))
	return string(m.Payload()), err
}

func TestCurveAllowListAndReload(t *testing.T) {
	server, alice, bob := keyPair(t), keyPair(t), keyPair(t)
	auth := authenticator(t, alice.Public)
	rep := ok(connection.NewResponse("tcp://*:0", connection.WithCurveServer(server)))(t)
	closeAll(t, rep)
	serveEcho(t, rep, "secure")

	a := ok(connection.NewRequest(rep.Endpoint(), connection.WithCurveClient(server.Public, alice)))(t)
	b := ok(connection.NewRequest(rep.Endpoint(), connection.WithCurveClient(server.Public, bob)))(t)
	plain := ok(connection.NewRequest(rep.Endpoint()))(t)
	wrongServer := ok(connection.NewRequest(rep.Endpoint(), connection.WithCurveClient(bob.Public, alice)))(t)
	closeAll(t, a, b, plain, wrongServer)

	if got, err := call(a, "from alice", 5*time.Second); err != nil || got != "secure:from alice" {
		t.Fatalf("allowed client: %q %v", got, err)
	}
	for name, c := range map[string]*connection.Request{"unlisted key": b, "no key": plain, "wrong server key": wrongServer} {
		if got, err := call(c, "let me in", 300*time.Millisecond); !errors.Is(err, connection.ErrTimeout) {
			t.Fatalf("%s: got %q %v, want nothing", name, got, err)
		}
	}
	// The server kept serving the allowed client all along.
	if got, err := call(a, "still here", 5*time.Second); err != nil || got != "secure:still here" {
		t.Fatalf("allowed client after refusals: %q %v", got, err)
	}
	if st := auth.Stats(); st.Refused == 0 || st.Allowed == 0 {
		t.Fatalf("authenticator stats %+v", st)
	}
	// The server socket counts refusals from its monitor's events, which
	// arrive on their own goroutine.
	waitFor(t, func() bool { return rep.Stats().AuthFailures > 0 })
	// Reloaded without restart: bob gets in on his next attempt.
	if err := auth.SetKeys(alice.Public, bob.Public); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := call(b, "bob again", 300*time.Millisecond)
		if err == nil {
			if got != "secure:bob again" {
				t.Fatalf("bob: %q", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bob never got in after the reload: %v", err)
		}
	}
	// An address rule refuses everyone from loopback, alice included.
	if err := auth.SetAddresses(nil, []string{"127.0.0.0/8"}); err != nil {
		t.Fatal(err)
	}
	late := ok(connection.NewRequest(rep.Endpoint(), connection.WithCurveClient(server.Public, alice)))(t)
	closeAll(t, late)
	if _, err := call(late, "denied", 300*time.Millisecond); !errors.Is(err, connection.ErrTimeout) {
		t.Fatalf("denied address: %v", err)
	}
}

// relay forwards one TCP connection and records what passes through it.
type relay struct {
	ln   net.Listener
	mu   sync.Mutex
	seen bytes.Buffer
	wg   sync.WaitGroup
}

func newRelay(t *testing.T, target string) *relay {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{ln: ln}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			r.wg.Add(2)
			go r.copy(s, c)
			go r.copy(c, s)
		}
	}()
	t.Cleanup(func() { ln.Close(); r.wg.Wait() })
	return r
}

func (r *relay) copy(dst, src net.Conn) {
	defer r.wg.Done()
	defer dst.Close()
	buf := make([]byte, 4096)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			r.mu.Lock()
			r.seen.Write(buf[:n])
			r.mu.Unlock()
			dst.Write(buf[:n])
		}
		if err != nil {
			return
		}
	}
}

func (r *relay) saw(s string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Contains(r.seen.Bytes(), []byte(s))
}

// What crosses the wire: the payload in clear without CURVE (so the check
// can see it), never with CURVE.
func TestCurveTrafficIsEncrypted(t *testing.T) {
	const secret = "SECRET-PAYLOAD-4242"
	server, client := keyPair(t), keyPair(t)
	authenticator(t, client.Public)
	for _, tc := range []struct {
		name   string
		srv    []connection.ResponseOption
		cli    []connection.RequestOption
		inWire bool
	}{
		{"plain", nil, nil, true},
		{"curve", []connection.ResponseOption{connection.WithCurveServer(server)}, []connection.RequestOption{connection.WithCurveClient(server.Public, client)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := ok(connection.NewResponse("tcp://*:0", tc.srv...))(t)
			closeAll(t, rep)
			serveEcho(t, rep, "echo")
			r := newRelay(t, rep.Endpoint()[len("tcp://"):])
			req := ok(connection.NewRequest("tcp://"+r.ln.Addr().String(), append(tc.cli, connection.WithLinger(0))...))(t)
			if got, err := call(req, secret, 5*time.Second); err != nil || got != "echo:"+secret {
				t.Fatalf("%q %v", got, err)
			}
			req.Close()
			if r.saw(secret) != tc.inWire {
				t.Fatalf("payload seen on the wire: %v, want %v", r.saw(secret), tc.inWire)
			}
		})
	}
}

func TestKeyFilesAndEnv(t *testing.T) {
	k := keyPair(t)
	path := filepath.Join(t.TempDir(), "server.key")
	if err := os.WriteFile(path, []byte("# a dividere key pair\n"+k.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := connection.LoadKeyPair(path)
	if err != nil || got != k {
		t.Fatalf("load: %+v %v", got, err)
	}
	t.Setenv("SVC_PUBLIC_KEY", k.Public)
	if got, err := connection.KeyPairFromEnv("SVC"); err != nil || got.Public != k.Public || got.Secret != "" {
		t.Fatalf("env: %+v %v", got, err)
	}
	t.Setenv("SVC_PUBLIC_KEY", "short")
	if _, err := connection.KeyPairFromEnv("SVC"); !errors.Is(err, connection.ErrKey) {
		t.Fatalf("bad key accepted: %v", err)
	}
}

// A proxy serving CURVE on both ends.
func TestCurveProxy(t *testing.T) {
	server, client := keyPair(t), keyPair(t)
	authenticator(t, client.Public)
	proxy := ok(connection.NewProxy("tcp://*:0", "tcp://*:0", connection.WithCurveServer(server)))(t)
	testutil.Serve(t, proxy)
	closeAll(t, proxy)
	cli := connection.WithCurveClient(server.Public, client)
	rep := ok(connection.NewResponse(">"+proxy.Backend.Endpoint(), cli))(t)
	closeAll(t, rep)
	serveEcho(t, rep, "via-curve-proxy")
	req := ok(connection.NewRequest(proxy.Frontend.Endpoint(), cli))(t)
	closeAll(t, req)
	if got, err := call(req, "x", 5*time.Second); err != nil || got != "via-curve-proxy:x" {
		t.Fatalf("%q %v", got, err)
	}
}

// Every message a ROUTER receives carries its sender's key, also when
// libzmq has prefetched it (a Wait, i.e. ZMQ_EVENTS, before the Recv makes
// libzmq build the identity frame without the message's properties).
func TestRouterRecvUser(t *testing.T) {
	server, alice, bob := keyPair(t), keyPair(t), keyPair(t)
	authenticator(t, alice.Public, bob.Public)
	r := ok(connection.NewRouter("tcp://*:0", connection.WithCurveServer(server), connection.WithUserID()))(t)
	closeAll(t, r)
	peers := map[string]*connection.Dealer{}
	for name, k := range map[string]connection.KeyPair{alice.Public: alice, bob.Public: bob} {
		d := ok(connection.NewDealer(r.Endpoint(), connection.WithCurveClient(server.Public, k)))(t)
		closeAll(t, d)
		peers[name] = d
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const n = 200
	for key, d := range peers {
		for i := range n {
			if err := d.Send(ctx, []byte(key)); err != nil {
				t.Fatal(err, i)
			}
		}
	}
	for i := range 2 * n {
		if i%2 == 0 {
			ready(r, 5*time.Second)
		}
		m, user, err := r.RecvUser(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if user != string(m.Payload()) {
			t.Fatalf("message %d from %q came with user %q", i, m.Payload(), user)
		}
	}
}

// logRecords is a slog handler that keeps what is logged, for a test to
// read.
type logRecords struct {
	mu   sync.Mutex
	recs []string
}

func (l *logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecords) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecords) WithGroup(string) slog.Handler            { return l }
func (l *logRecords) Handle(_ context.Context, r slog.Record) error {
	s := r.Message
	r.Attrs(func(a slog.Attr) bool { s += " " + a.String(); return true })
	l.mu.Lock()
	l.recs = append(l.recs, s)
	l.mu.Unlock()
	return nil
}

func (l *logRecords) find(sub string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.recs {
		if strings.Contains(r, sub) {
			return r
		}
	}
	return ""
}

// Each CURVE server socket answers to its own allow list, not the
// process's: alice gets into the one that lists her and not into the one
// that lists bob, and the other way round, while the Authenticator (which
// lists neither) decides for a socket without a list. A refusal is
// counted by the list and the socket, and logged with its reason; the
// list changes while it is in use.
func TestCurveAllowPerSocket(t *testing.T) {
	server, alice, bob := keyPair(t), keyPair(t), keyPair(t)
	auth := authenticator(t) // lists nobody (and on libzmq answers the lists' ZAP domains)
	logs := &logRecords{}
	aliceList, err := connection.NewAllowList(slog.New(logs), alice.Public)
	if err != nil {
		t.Fatal(err)
	}
	forAlice := ok(connection.NewResponse("tcp://*:0", connection.WithCurveServer(server), connection.WithCurveAllowList(aliceList),
		connection.WithUserID()))(t)
	forBob := ok(connection.NewResponse("tcp://*:0", connection.WithCurveServer(server), connection.WithCurveAllow(bob.Public)))(t)
	forNobody := ok(connection.NewResponse("tcp://*:0", connection.WithCurveServer(server)))(t)
	closeAll(t, forAlice, forBob, forNobody)
	users := make(chan string, 16)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() {
		defer close(served)
		for {
			m, user, err := forAlice.RecvUser(ctx)
			if err != nil {
				return
			}
			users <- user
			if err := forAlice.Send(ctx, append([]byte("alice-only:"), m.Payload()...)); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-served })
	serveEcho(t, forBob, "bob-only")
	serveEcho(t, forNobody, "nobody")

	dial := func(rep *connection.Response, k connection.KeyPair) *connection.Request {
		req := ok(connection.NewRequest(rep.Endpoint(), connection.WithCurveClient(server.Public, k), connection.WithLinger(0)))(t)
		closeAll(t, req)
		return req
	}
	if got, err := call(dial(forAlice, alice), "hi", 5*time.Second); err != nil || got != "alice-only:hi" {
		t.Fatalf("alice to her server: %q %v", got, err)
	}
	if u := <-users; u != alice.Public {
		t.Fatalf("the handler saw user %q, want alice's key", u)
	}
	if got, err := call(dial(forBob, bob), "hi", 5*time.Second); err != nil || got != "bob-only:hi" {
		t.Fatalf("bob to his server: %q %v", got, err)
	}
	bobAtAlice := dial(forAlice, bob)
	for name, req := range map[string]*connection.Request{
		"bob to alice's": bobAtAlice, "alice to bob's": dial(forBob, alice), "alice to the Authenticator's": dial(forNobody, alice),
	} {
		if got, err := call(req, "let me in", 300*time.Millisecond); !errors.Is(err, connection.ErrTimeout) {
			t.Fatalf("%s: got %q %v, want nothing", name, got, err)
		}
	}
	waitFor(t, func() bool {
		return forAlice.Stats().AuthFailures > 0 && forBob.Stats().AuthFailures > 0 && forNobody.Stats().AuthFailures > 0
	})
	if st := aliceList.Stats(); st.Allowed == 0 || st.Refused == 0 {
		t.Fatalf("alice's list: %+v", st)
	}
	if st := auth.Stats(); st.Allowed != 0 || st.Refused == 0 {
		t.Fatalf("the Authenticator decided %+v: it should have refused alice at its socket only", st)
	}
	if r := logs.find("key not allowed: " + bob.Public); r == "" || !strings.Contains(r, "connection refused") {
		t.Fatalf("the refusal of bob was not logged with its reason: %q", logs.recs)
	}
	// Changed while in use: bob gets into alice's server at his next try.
	if err := aliceList.SetKeys(alice.Public, bob.Public); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := call(bobAtAlice, "again", 300*time.Millisecond)
		if err == nil {
			if got != "alice-only:again" {
				t.Fatalf("bob: %q", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bob never got in after the change: %v", err)
		}
	}
	if u := <-users; u != bob.Public {
		t.Fatalf("the handler saw user %q, want bob's key", u)
	}
	// An address rule of the list: loopback denied, alice included.
	if err := aliceList.SetAddresses(nil, []string{"127.0.0.0/8"}); err != nil {
		t.Fatal(err)
	}
	if _, err := call(dial(forAlice, alice), "denied", 300*time.Millisecond); !errors.Is(err, connection.ErrTimeout) {
		t.Fatalf("denied address: %v", err)
	}
	waitFor(t, func() bool { return logs.find("address denied") != "" })
}

// An allow list needs a CURVE server and good keys.
func TestCurveAllowMisuse(t *testing.T) {
	if _, err := connection.NewResponse("tcp://*:0", connection.WithCurveAllow(keyPair(t).Public)); !errors.Is(err, connection.ErrOption) {
		t.Fatalf("an allow list without a CURVE server: %v, want ErrOption", err)
	}
	if _, err := connection.NewResponse("tcp://*:0", connection.WithCurveServer(keyPair(t)), connection.WithCurveAllow("not a key")); !errors.Is(err, connection.ErrKey) {
		t.Fatalf("a bad key: %v, want ErrKey", err)
	}
	if _, err := connection.NewAllowList(nil, "short"); !errors.Is(err, connection.ErrKey) {
		t.Fatalf("NewAllowList with a bad key: %v", err)
	}
	// On libzmq a socket's own list holds only through a ZAP handler.
	rep, err := connection.NewResponse("tcp://*:0", connection.WithCurveServer(keyPair(t)), connection.WithCurveAllow(keyPair(t).Public))
	if connection.Engine() == "libzmq" {
		if !errors.Is(err, connection.ErrOption) {
			t.Fatalf("on libzmq without an Authenticator: %v, want ErrOption", err)
		}
		return
	}
	if err != nil {
		t.Fatalf("on the Go engine, without an Authenticator: %v", err)
	}
	rep.Close()
}

// The cost of a HELLO flood on a Go-engine CURVE server (a Response in a
// process of its own, run by TestCurveFloodServer): how many handshakes
// (HELLO to WELCOME) a second it answers, what the flood does to its
// authenticated clients' latency, what CPU each handshake costs it, and
// what a connection that never completes its handshake keeps of its
// memory. The figures are logged (go test -v -run TestCurveHelloFlood
// ./connection); the test fails when a client goes unserved, or a
// half-open connection costs more than maxHalfOpen bytes.
func TestCurveHelloFlood(t *testing.T) {
	if connection.Engine() != "go" {
		t.Skip("the Go engine's CURVE server")
	}
	server, client := keyPair(t), keyPair(t)
	srv := startFloodServer(t, server, client)
	cli := connection.WithCurveClient(server.Public, client)

	base := legitLatency(t, srv.ep, cli, 1500*time.Millisecond)
	flood := newHelloFlood(t, srv.ep, server, 64)
	cpu0 := procCPU(t, srv.pid)
	flood.start()
	during := legitLatency(t, srv.ep, cli, 3*time.Second)
	hs, secs := flood.stop()
	cpu := procCPU(t, srv.pid) - cpu0
	t.Logf("without the flood: %d calls, p50 %v, p99 %v", base.n, base.p50, base.p99)
	t.Logf("during the flood of %d connections: %d calls, p50 %v, p99 %v; %.0f handshakes/s answered (%d in %.1f s), %.0f µs of server CPU each",
		flood.conns, during.n, during.p50, during.p99, float64(hs)/secs, hs, secs, cpu.Seconds()*1e6/float64(max(hs, 1)))
	if during.n == 0 {
		t.Fatal("no authenticated call was served during the flood")
	}

	// Half-open connections: after the greeting and HELLO (WELCOME
	// answered, INITIATE never sent), and before the greeting.
	const n = 1000
	heapReq := ok(connection.NewRequest(srv.ep, cli, connection.WithLinger(0)))(t)
	closeAll(t, heapReq)
	heap := func() int64 {
		got, err := call(heapReq, "heap", 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		v, err := strconv.ParseInt(got, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, stage := range []string{"before the greeting", "after WELCOME"} {
		beforeHeap, before := heap(), rss(t, srv.pid)
		conns := make([]net.Conn, 0, n)
		for range n {
			c := flood.dial(stage == "after WELCOME")
			if c == nil {
				t.Fatal("a half-open connection failed")
			}
			conns = append(conns, c)
		}
		// Each connection's handshake has begun on the server: those
		// after WELCOME were answered; for the silent ones, wait until
		// the server's heap holds them.
		afterHeap := heap()
		for deadline := time.Now().Add(5 * time.Second); stage != "after WELCOME" && afterHeap-beforeHeap < n*4<<10 && time.Now().Before(deadline); {
			afterHeap = heap()
		}
		after := rss(t, srv.pid)
		perHeap, per := (afterHeap-beforeHeap)/n, (after-before)/n
		t.Logf("%d half-open connections %s: heap and stacks in use %d KiB to %d KiB, %d bytes each; RSS %d KiB to %d KiB, %d bytes each",
			n, stage, beforeHeap>>10, afterHeap>>10, perHeap, before>>10, after>>10, per)
		for _, c := range conns {
			c.Close()
		}
		if perHeap > maxHalfOpen {
			t.Errorf("a half-open connection %s holds %d bytes of the server's heap, over %d", stage, perHeap, maxHalfOpen)
		}
	}
}

// maxHalfOpen bounds what one connection that has not completed its
// handshake may cost the server: its goroutine and a 512-byte read
// buffer (the full 64 KiB one comes with the handshake's end), and
// nothing of CURVE's but a cookie's nonce. The engine holds at most 1024
// such connections (zmtp.DefaultMaxHandshakes) and sheds the oldest.
const maxHalfOpen = 24 << 10

// TestCurveFloodServer is TestCurveHelloFlood's server process: run with
// CURVE_FLOOD_SERVER set to the server's public and secret key and the
// allowed client's key, it serves echo over CURVE until it is killed.
func TestCurveFloodServer(t *testing.T) {
	keys := strings.Fields(os.Getenv("CURVE_FLOOD_SERVER"))
	if len(keys) != 3 {
		t.Skip("TestCurveHelloFlood's server process")
	}
	rep, err := connection.NewResponse("tcp://127.0.0.1:0", connection.WithCurveServer(connection.KeyPair{Public: keys[0], Secret: keys[1]}),
		connection.WithCurveAllow(keys[2]), connection.WithLogger(quietLog))
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	fmt.Println("READY", rep.Endpoint())
	ctx := context.Background()
	for {
		m, err := rep.Recv(ctx)
		if err != nil {
			os.Exit(1)
		}
		out := m.Payload()
		if string(out) == "heap" { // what the process holds, after a GC
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			out = fmt.Appendf(nil, "%d", ms.HeapInuse+ms.StackInuse)
		}
		if err := rep.Send(ctx, out); err != nil {
			os.Exit(1)
		}
	}
}

type floodServer struct {
	ep  string
	pid int
}

func startFloodServer(t *testing.T, server, client connection.KeyPair) floodServer {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCurveFloodServer$", "-test.count=1")
	cmd.Env = append(os.Environ(), "DIVIDERE_ZMQ=go", "CURVE_FLOOD_SERVER="+server.Public+" "+server.Secret+" "+client.Public)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if l := sc.Text(); strings.HasPrefix(l, "READY ") || strings.HasPrefix(l, "ERR") {
				ready <- l
			}
		}
		close(ready)
	}()
	select {
	case l := <-ready:
		ep, found := strings.CutPrefix(l, "READY ")
		if !found {
			t.Fatalf("server process: %q", l)
		}
		return floodServer{ep: ep, pid: cmd.Process.Pid}
	case <-time.After(30 * time.Second):
		t.Fatal("the server process did not start")
	}
	return floodServer{}
}

type latencies struct {
	n        int
	p50, p99 time.Duration
}

// legitLatency has 4 authenticated clients call the server in a loop for
// d and returns their latencies; every call must succeed.
func legitLatency(t *testing.T, ep string, cli connection.Option, d time.Duration) latencies {
	t.Helper()
	var mu sync.Mutex
	var all []time.Duration
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	end := time.Now().Add(d)
	for range 4 {
		req := ok(connection.NewRequest(ep, cli, connection.WithLinger(0)))(t)
		closeAll(t, req)
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for time.Now().Before(end) {
				t0 := time.Now()
				if got, err := call(req, "ping", 10*time.Second); err != nil || got != "ping" {
					errc <- fmt.Errorf("a legit call: %q %v", got, err)
					return
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	select {
	case err := <-errc:
		t.Fatal(err)
	default:
	}
	slices.Sort(all)
	if len(all) == 0 {
		return latencies{}
	}
	q := func(p float64) time.Duration { return all[min(len(all)-1, int(p*float64(len(all))))] }
	return latencies{n: len(all), p50: q(0.50), p99: q(0.99)}
}

// helloFlood is conns goroutines each dialing the server, sending a
// greeting and a valid HELLO, reading the WELCOME and hanging up, again
// and again. The HELLOs are made once and replayed: a server keeps no
// state before INITIATE, so it cannot tell, and does all its work for
// each, while the flood costs its sender next to nothing.
type helloFlood struct {
	t      *testing.T
	addr   string
	conns  int
	hellos [][]byte // greeting and HELLO, as sent
	done   chan struct{}
	wg     sync.WaitGroup
	count  atomic.Int64
	t0     time.Time
}

func newHelloFlood(t *testing.T, ep string, server connection.KeyPair, conns int) *helloFlood {
	f := &helloFlood{t: t, addr: strings.TrimPrefix(ep, "tcp://"), conns: conns, done: make(chan struct{})}
	spub, _ := z85.DecodeKey(server.Public)
	g := wire.Greeting{Major: wire.VersionMajor, Minor: wire.VersionMinor, Mechanism: "CURVE"}
	for range conns {
		pub, sec, err := z85.NewKey()
		if err != nil {
			t.Fatal(err)
		}
		c := &helloOnly{}
		mech.NewCurveClient(spub, pub, sec)().Handshake(c, nil)
		if c.hello == nil {
			t.Fatal("no HELLO")
		}
		f.hellos = append(f.hellos, append(g.Append(nil), c.hello...))
	}
	return f
}

// helloOnly is a mech.Conn that keeps the HELLO a client sends and ends
// its handshake there.
type helloOnly struct{ hello []byte }

var errEnough = errors.New("enough")

func (c *helloOnly) WriteCommand(name string, data ...[]byte) error {
	c.hello = wire.AppendCommand(nil, name, data...)
	return errEnough
}

func (c *helloOnly) ReadCommand() (wire.Command, error) { return wire.Command{}, errEnough }

// welcomeSize is the server's greeting and its WELCOME as they come.
const welcomeSize = wire.GreetingSize + 2 + 1 + len("WELCOME") + 160

// dial makes one connection; with hello, it sends the greeting and a
// HELLO and waits for the WELCOME. It returns nil when that fails.
func (f *helloFlood) dial(hello bool) net.Conn {
	c, err := net.DialTimeout("tcp", f.addr, 10*time.Second)
	if err != nil {
		return nil
	}
	if !hello {
		return c
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var b [welcomeSize]byte
	if _, err := c.Write(f.hellos[0]); err != nil {
		c.Close()
		return nil
	}
	if _, err := io.ReadFull(c, b[:]); err != nil || string(b[wire.GreetingSize+3:wire.GreetingSize+10]) != "WELCOME" {
		c.Close()
		return nil
	}
	c.SetDeadline(time.Time{})
	return c
}

func (f *helloFlood) start() {
	f.t0 = time.Now()
	for i := range f.conns {
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			var b [welcomeSize]byte
			for {
				select {
				case <-f.done:
					return
				default:
				}
				c, err := net.DialTimeout("tcp", f.addr, 5*time.Second)
				if err != nil {
					continue
				}
				c.SetDeadline(time.Now().Add(5 * time.Second))
				if _, err := c.Write(f.hellos[i]); err == nil {
					if _, err := io.ReadFull(c, b[:]); err == nil && string(b[wire.GreetingSize+3:wire.GreetingSize+10]) == "WELCOME" {
						f.count.Add(1)
					}
				}
				c.Close()
			}
		}()
	}
}

// stop ends the flood and returns how many WELCOMEs came, in how long.
func (f *helloFlood) stop() (int64, float64) {
	close(f.done)
	f.wg.Wait()
	return f.count.Load(), time.Since(f.t0).Seconds()
}

func rss(t *testing.T, pid int) int64 {
	t.Helper()
	n, err := testproc.RSSOf(pid)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// procCPU is the user and system time process pid has used.
func procCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// The fields after the command's name, in parentheses: utime and
	// stime are the 12th and 13th, in clock ticks (100 a second).
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * 10 * time.Millisecond
}
