package mech

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/dividere-go/dividere/internal/z85"
	"github.com/dividere-go/dividere/internal/zmtp/wire"
)

// These tests put the CURVE mechanism against libzmq (Debian's pyzmq,
// which links libzmq 4.3 with libsodium), both ways, over raw TCP: the
// test drives the greeting, the mechanism and the codec itself.

// pyPeer is a python3 process running one of the scripts below; it says
// what it saw on its standard output, a line at a time.
type pyPeer struct {
	lines <-chan string
	cmd   *exec.Cmd
}

func startPython(t *testing.T, script string, args ...string) *pyPeer {
	t.Helper()
	if err := exec.Command("/usr/bin/python3", "-c", `import zmq, sys; sys.exit(0 if zmq.has("curve") else 1)`).Run(); err != nil {
		t.Skip("no /usr/bin/python3 with a CURVE-capable pyzmq")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	cmd := exec.CommandContext(ctx, "/usr/bin/python3", append([]string{"-c", script}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	lines := make(chan string, 16)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		cancel()
		if t.Failed() && stderr.Len() > 0 {
			t.Logf("python stderr:\n%s", stderr.String())
		}
	})
	return &pyPeer{lines: lines, cmd: cmd}
}

// expect waits for the python peer's next line, which must start with
// prefix, and returns its words after the prefix.
func (p *pyPeer) expect(t *testing.T, prefix string) []string {
	t.Helper()
	select {
	case l, ok := <-p.lines:
		if !ok {
			t.Fatalf("python ended before saying %q", prefix)
		}
		if !strings.HasPrefix(l, prefix) {
			t.Fatalf("python said %q, want %q", l, prefix)
		}
		return strings.Fields(strings.TrimPrefix(l, prefix))
	case <-time.After(20 * time.Second):
		t.Fatalf("python did not say %q in time", prefix)
	}
	return nil
}

// pyServer binds a libzmq CURVE server (REP or ROUTER) that prints what
// it gets and echoes it. With an allowed key it runs a ZAP handler that
// lets only that key in; it sends heartbeats, so PING and PONG cross the
// codec as commands.
const pyServer = `
import sys, signal, zmq
from zmq.utils import z85
signal.alarm(40)
typ, secret, allowed, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
ctx = zmq.Context()
zap = None
if allowed != "-":
    zap = ctx.socket(zmq.REP)
    zap.linger = 0
    zap.bind("inproc://zeromq.zap.01")
s = ctx.socket(getattr(zmq, typ))
s.linger = 2000
s.curve_server = True
s.curve_secretkey = secret.encode()
s.heartbeat_ivl = 50
s.heartbeat_timeout = 2000
port = s.bind_to_random_port("tcp://127.0.0.1")
print("port", port, flush=True)
poller = zmq.Poller()
poller.register(s, zmq.POLLIN)
if zap is not None:
    poller.register(zap, zmq.POLLIN)
done = 0
while done < rounds:
    ready = dict(poller.poll(20000))
    if not ready:
        print("timeout", flush=True)
        sys.exit(1)
    if zap is not None and zap in ready:
        req = zap.recv_multipart()
        key = z85.encode(req[6]).decode()
        if key == allowed:
            zap.send_multipart([req[0], req[1], b"200", b"OK", key.encode(), b""])
        else:
            zap.send_multipart([req[0], req[1], b"400", b"not on the list", b"", b""])
            print("refused", key, flush=True)
            done += 1
    if s in ready:
        frames = s.recv_multipart(copy=False)
        last = frames[-1]
        user = "-"
        if zap is not None:
            user = last.get("User-Id")
        ident = frames[0].bytes.decode() if typ == "ROUTER" else "-"
        print("got", repr(last.bytes.decode()), "user", user, "type", last.get("Socket-Type"), "id", ident, flush=True)
        s.send_multipart([f.bytes for f in frames[:-1]] + [b"echo:" + last.bytes])
        done += 1
s.close()
ctx.term()
`

// pyClient connects a libzmq CURVE client (REQ or DEALER), reports its
// handshake's monitor event, and, when it succeeded, sends one request
// and prints the reply.
const pyClient = `
import sys, signal, zmq
from zmq.utils.monitor import recv_monitor_message
signal.alarm(40)
typ, endpoint, serverkey, pub, sec = sys.argv[1:6]
ctx = zmq.Context()
s = ctx.socket(getattr(zmq, typ))
s.linger = 0
s.curve_serverkey = serverkey.encode()
s.curve_publickey = pub.encode()
s.curve_secretkey = sec.encode()
s.heartbeat_ivl = 50
s.heartbeat_timeout = 2000
if typ == "DEALER":
    s.routing_id = b"py-dealer"
names = {zmq.EVENT_HANDSHAKE_SUCCEEDED: "succeeded", zmq.EVENT_HANDSHAKE_FAILED_AUTH: "auth",
         zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL: "protocol", zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL: "nodetail"}
mask = 0
for e in names:
    mask |= e
mon = s.get_monitor_socket(mask)
s.connect(endpoint)
ev = recv_monitor_message(mon)
print("event", names.get(ev["event"], ev["event"]), ev["value"], flush=True)
if ev["event"] == zmq.EVENT_HANDSHAKE_SUCCEEDED:
    if typ == "DEALER":
        s.send_multipart([b"", b"hello from python"])
    else:
        s.send(b"hello from python")
    s.rcvtimeo = 20000
    print("reply", repr(s.recv_multipart()[-1].decode()), flush=True)
`

// answerPings counts the PINGs a connection gets and answers each with a
// PONG, through the codec, as a command.
func answerPings(s *streamConn, n *int, errp *error) func(wire.Command) {
	return func(c wire.Command) {
		if c.Name != wire.CmdPing {
			return
		}
		*n++
		p, err := wire.ParsePing(c.Data)
		if err == nil {
			err = s.sendCommand(wire.CmdPong, p.Context)
		}
		if err != nil && *errp == nil {
			*errp = err
		}
	}
}

// dialLibzmq connects to a python server and runs the CURVE client on it.
func dialLibzmq(t *testing.T, port string, m Mechanism, local wire.Metadata) (*streamConn, Result, error) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", "127.0.0.1:"+port, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	s := newStreamConn(nc)
	res, err := s.handshake(m, local)
	return s, res, err
}

func TestCurveClientAgainstLibzmq(t *testing.T) {
	for _, typ := range []string{"REP", "ROUTER"} {
		t.Run(typ, func(t *testing.T) {
			spub, ssec := keyPair(t)
			cpub, csec := keyPair(t)
			py := startPython(t, pyServer, typ, z85.EncodeKey(ssec), z85.EncodeKey(cpub), "1")
			port := py.expect(t, "port ")[0]
			ours := "REQ"
			local := md(ours)
			if typ == "ROUTER" {
				ours = "DEALER"
				local = md(ours, wire.Property{Name: "Identity", Value: []byte("go-dealer")})
			}
			s, res, err := dialLibzmq(t, port, NewCurveClient(spub, cpub, csec)(), local)
			if err != nil {
				t.Fatalf("handshake with libzmq: %v", err)
			}
			if v, _ := res.Peer.Get("Socket-Type"); string(v) != typ {
				t.Errorf("libzmq says it is a %q", v)
			}
			// Wait for libzmq's first PING and answer it before the request:
			// a PONG taken for a message would reach the server's socket.
			var pings int
			var perr error
			onCmd := answerPings(s, &pings, &perr)
			for pings == 0 {
				f, err := s.recvFrame()
				if err != nil {
					t.Fatalf("waiting for a PING: %v", err)
				}
				if !f.IsCommand() {
					t.Fatalf("a message before the request: %q", f.Body)
				}
				c, err := wire.ParseCommand(f.Body)
				if err != nil {
					t.Fatal(err)
				}
				onCmd(c)
			}
			if err := s.send([]byte{}, []byte("hello from go")); err != nil {
				t.Fatal(err)
			}
			reply, err := s.recv(onCmd)
			if err != nil || perr != nil {
				t.Fatalf("reply: %v, %v", err, perr)
			}
			if len(reply) != 2 || len(reply[0]) != 0 || string(reply[1]) != "echo:hello from go" {
				t.Fatalf("reply %q", reply)
			}
			got := py.expect(t, "got ")
			want := []string{"'hello from go'", "user", z85.EncodeKey(cpub), "type", ours, "id", "-"}
			if typ == "ROUTER" {
				want[6] = "go-dealer"
			}
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("libzmq got %q, want %q", got, want)
			}
		})
	}
}

func TestCurveClientRefusedByLibzmq(t *testing.T) {
	spub, ssec := keyPair(t)
	cpub, csec := keyPair(t)
	otherPub, _ := keyPair(t)
	py := startPython(t, pyServer, "ROUTER", z85.EncodeKey(ssec), z85.EncodeKey(otherPub), "1")
	port := py.expect(t, "port ")[0]
	_, _, err := dialLibzmq(t, port, NewCurveClient(spub, cpub, csec)(), md("DEALER"))
	if !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), `"400"`) {
		t.Errorf("refused handshake: %v, want ErrAuth with ERROR 400", err)
	}
	if got := py.expect(t, "refused "); got[0] != z85.EncodeKey(cpub) {
		t.Errorf("libzmq refused %q", got)
	}
}

func TestCurveClientWrongKeyAgainstLibzmq(t *testing.T) {
	_, ssec := keyPair(t)
	otherPub, _ := keyPair(t)
	cpub, csec := keyPair(t)
	py := startPython(t, pyServer, "REP", z85.EncodeKey(ssec), "-", "1")
	port := py.expect(t, "port ")[0]
	_, _, err := dialLibzmq(t, port, NewCurveClient(otherPub, cpub, csec)(), md("REQ"))
	if err == nil || !strings.Contains(err.Error(), "after HELLO") {
		t.Errorf("wrong server key: %v, want libzmq closing after HELLO", err)
	}
}

// serveLibzmq accepts one connection from a python client and runs the
// CURVE server on it.
func serveLibzmq(t *testing.T, ln net.Listener, f Factory, local wire.Metadata) (*streamConn, Result, error) {
	t.Helper()
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(20 * time.Second))
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	s := newStreamConn(nc)
	res, err := s.handshake(f(), local)
	return s, res, err
}

func TestCurveServerAgainstLibzmq(t *testing.T) {
	for _, typ := range []string{"REQ", "DEALER"} {
		t.Run(typ, func(t *testing.T) {
			spub, ssec := keyPair(t)
			cpub, csec := keyPair(t)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			var seen CurveClient
			server := CurveServerConfig{Secret: ssec, Authorize: func(c CurveClient) error {
				seen = c
				if c.Public != cpub {
					return errors.New("not on the list")
				}
				return nil
			}}.Factory()
			py := startPython(t, pyClient, typ, "tcp://"+ln.Addr().String(), z85.EncodeKey(spub), z85.EncodeKey(cpub), z85.EncodeKey(csec))
			ours := "REP"
			if typ == "DEALER" {
				ours = "ROUTER"
			}
			s, res, err := serveLibzmq(t, ln, server, md(ours))
			if err != nil {
				t.Fatalf("handshake with libzmq: %v", err)
			}
			if res.UserID != z85.EncodeKey(cpub) {
				t.Errorf("UserID = %q, want %q", res.UserID, z85.EncodeKey(cpub))
			}
			if seen.Remote == nil || !strings.HasPrefix(seen.Remote.String(), "127.0.0.1:") {
				t.Errorf("Authorize saw the remote %v", seen.Remote)
			}
			if v, _ := res.Peer.Get("Socket-Type"); string(v) != typ {
				t.Errorf("libzmq says it is a %q", v)
			}
			if typ == "DEALER" {
				if v, _ := res.Peer.Get("Identity"); string(v) != "py-dealer" {
					t.Errorf("libzmq's Identity = %q", v)
				}
			}
			if ev := py.expect(t, "event "); ev[0] != "succeeded" {
				t.Fatalf("libzmq's handshake event: %q", ev)
			}
			var pings int
			var perr error
			onCmd := answerPings(s, &pings, &perr)
			req, err := s.recv(onCmd)
			if err != nil {
				t.Fatal(err)
			}
			if len(req) != 2 || len(req[0]) != 0 || string(req[1]) != "hello from python" {
				t.Fatalf("request %q", req)
			}
			// Hold the reply until libzmq has sent a PING and had its PONG.
			for pings == 0 {
				f, err := s.recvFrame()
				if err != nil {
					t.Fatalf("waiting for a PING: %v", err)
				}
				if !f.IsCommand() {
					t.Fatalf("a message before the reply: %q", f.Body)
				}
				c, _ := wire.ParseCommand(f.Body)
				onCmd(c)
			}
			if perr != nil {
				t.Fatal(perr)
			}
			if err := s.send([]byte{}, []byte("echo:"+string(req[1]))); err != nil {
				t.Fatal(err)
			}
			if got := py.expect(t, "reply "); strings.Join(got, " ") != "'echo:hello from python'" {
				t.Errorf("libzmq got the reply %q", got)
			}
		})
	}
}

func TestCurveServerRefusesLibzmq(t *testing.T) {
	spub, ssec := keyPair(t)
	cpub, csec := keyPair(t)
	otherPub, _ := keyPair(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	errNotListed := errors.New("not on the list")
	server := NewCurveServer(ssec, func(k [32]byte) error {
		if k != otherPub {
			return errNotListed
		}
		return nil
	})
	py := startPython(t, pyClient, "REQ", "tcp://"+ln.Addr().String(), z85.EncodeKey(spub), z85.EncodeKey(cpub), z85.EncodeKey(csec))
	_, _, err = serveLibzmq(t, ln, server, md("REP"))
	if !errors.Is(err, ErrAuth) || !errors.Is(err, errNotListed) {
		t.Errorf("server: %v, want the refusal", err)
	}
	if ev := py.expect(t, "event "); fmt.Sprint(ev) != "[auth 400]" {
		t.Errorf("libzmq's handshake event: %q, want an authentication failure, 400", ev)
	}
}

func TestCurveServerWrongKeyFromLibzmq(t *testing.T) {
	_, ssec := keyPair(t)
	otherPub, _ := keyPair(t)
	cpub, csec := keyPair(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	startPython(t, pyClient, "REQ", "tcp://"+ln.Addr().String(), z85.EncodeKey(otherPub), z85.EncodeKey(cpub), z85.EncodeKey(csec))
	_, _, err = serveLibzmq(t, ln, NewCurveServer(ssec, nil), md("REP"))
	if !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), "HELLO does not open") {
		t.Errorf("server: %v, want HELLO refused", err)
	}
}
