package connection_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/internal/testutil"
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
		srv    []connection.Option
		cli    []connection.Option
		inWire bool
	}{
		{"plain", nil, nil, true},
		{"curve", []connection.Option{connection.WithCurveServer(server)}, []connection.Option{connection.WithCurveClient(server.Public, client)}, false},
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
			r.Wait(5 * time.Second)
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
