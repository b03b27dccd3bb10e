package zmtp

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// A zmqPeer is one libzmq socket in a process of its own, pyzmq's or
// Node's zeromq (interop/zmqpeer), driven line by line over its stdin
// and stdout.

// peerDir is where the peer scripts are, from this package's directory.
var peerDir = filepath.Join("..", "..", "interop", "zmqpeer")

// peerImpl is one way of running a libzmq peer.
type peerImpl struct {
	name string   // "pyzmq", "node"
	argv []string // the command that runs the peer
	skip string   // why it cannot run here; "" when it can
}

var (
	implsOnce sync.Once
	impls     []peerImpl
)

// peerImpls returns the libzmq peers and whether each can run here:
// pyzmq from Debian's python3-zmq (/usr/bin/python3; the python3 on
// PATH may be another), and Node's zeromq as installed by
// `scripts/deps.sh test` into interop/zmqpeer/node_modules.
func peerImpls() []peerImpl {
	implsOnce.Do(func() {
		py := peerImpl{name: "pyzmq", argv: []string{"/usr/bin/python3", filepath.Join(peerDir, "peer.py")}}
		if out, err := exec.Command("/usr/bin/python3", "-c", "import zmq").CombinedOutput(); err != nil {
			py.skip = fmt.Sprintf("/usr/bin/python3 cannot import zmq (install python3-zmq, or run scripts/deps.sh test): %v %s", err, bytes.TrimSpace(out))
		}
		node := peerImpl{name: "node", argv: []string{"node", filepath.Join(peerDir, "peer.js")}}
		if _, err := exec.LookPath("node"); err != nil {
			node.skip = "node is not installed"
		} else if _, err := os.Stat(filepath.Join(peerDir, "node_modules", "zeromq")); err != nil {
			node.skip = "interop/zmqpeer/node_modules/zeromq is missing (run scripts/deps.sh test, or npm install --prefix interop/zmqpeer)"
		}
		impls = []peerImpl{py, node}
	})
	return impls
}

// peerSlots bounds the conformance subtests running at once across the
// package. They spend their time waiting on other processes, so they run
// more at once than t.Parallel would let them (GOMAXPROCS, 2 on a small
// machine).
var peerSlots = make(chan struct{}, 8)

// forEachImpl calls each for every libzmq peer that can run here (and
// skips the others, saying why); each declares subtests with run, which
// runs them concurrently, named after the peer. It returns when they
// have all ended.
func forEachImpl(t *testing.T, each func(impl peerImpl, run func(name string, f func(t *testing.T)))) {
	var wg sync.WaitGroup
	for _, impl := range peerImpls() {
		if impl.skip != "" {
			t.Run(impl.name, func(t *testing.T) { t.Skip(impl.skip) })
			continue
		}
		each(impl, func(name string, f func(t *testing.T)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				peerSlots <- struct{}{}
				defer func() { <-peerSlots }()
				t.Run(impl.name+"/"+name, f)
			}()
		})
	}
	wg.Wait()
}

// peerOpts are a libzmq socket's options, by peer.py's names; durations
// are in milliseconds.
type peerOpts map[string]any

type zmqPeer struct {
	t       *testing.T
	impl    peerImpl
	typ     Type
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	replies chan peerReply
	killed  chan struct{} // closed by kill: nobody waits for replies
	once    sync.Once
	exited  chan struct{}
	stderr  bytes.Buffer // guarded by the process: read once it has exited
}

type peerReply struct {
	OK     bool              `json:"ok"`
	Err    string            `json:"err"`
	Msg    string            `json:"msg"`
	EP     string            `json:"ep"`
	Frames []json.RawMessage `json:"frames"`
}

// A frame over bigFrame bytes crosses the pipe to a peer not as text,
// which would cost more than the test itself, but as what makes it: a
// frame sent is pattern(n), given as {"fill": patternBlock, "size": n},
// and a frame received is given by its size and SHA-256.
const bigFrame = 64 << 10

// patternBlock is 251 bytes, a prime, so that a frame cut or shifted
// anywhere does not compare equal.
var patternBlock = func() []byte {
	b := make([]byte, 251)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}()

// patternCache holds the largest pattern a test uses, made once: under
// the race detector, making and comparing 10 MiB costs more than sending
// it.
var patternCache = bytes.Repeat(patternBlock, (16<<20)/len(patternBlock)+1)

// pattern returns n bytes of patternBlock repeated, to be read only.
func pattern(n int) []byte {
	if n <= len(patternCache) {
		return patternCache[:n:n]
	}
	return bytes.Repeat(patternBlock, n/len(patternBlock)+1)[:n]
}

// isPattern reports whether f is pattern(len(f)), at once when it is
// the very slice pattern returned.
func isPattern(f []byte) bool {
	if len(f) > 0 && len(f) <= len(patternCache) && &f[0] == &patternCache[0] {
		return true
	}
	return bytes.Equal(f, pattern(len(f)))
}

// patternSums caches the SHA-256 of pattern(n) by n.
var patternSums sync.Map

func patternSum(n int) string {
	if s, ok := patternSums.Load(n); ok {
		return s.(string)
	}
	sum := sha256.Sum256(pattern(n))
	s := hex.EncodeToString(sum[:])
	patternSums.Store(n, s)
	return s
}

type fillFrame struct {
	Fill []byte `json:"fill"`
	Size int    `json:"size"`
}

type digestFrame struct {
	Size   int    `json:"size"`
	SHA256 string `json:"sha256"`
}

func encodeFrames(msg [][]byte) []any {
	out := make([]any, len(msg))
	for i, f := range msg {
		if len(f) > bigFrame && isPattern(f) {
			out[i] = fillFrame{patternBlock, len(f)}
		} else {
			out[i] = base64.StdEncoding.EncodeToString(f)
		}
	}
	return out
}

// decodeFrames turns a reply's frames into bytes: a digest back into the
// pattern it is the digest of, or, when it is not, into a description
// that compares equal to nothing a test sends.
func decodeFrames(raw []json.RawMessage) ([][]byte, error) {
	out := make([][]byte, len(raw))
	for i, r := range raw {
		var b64 string
		if json.Unmarshal(r, &b64) == nil {
			f, err := base64.StdEncoding.DecodeString(b64)
			if err != nil {
				return nil, err
			}
			out[i] = f
			continue
		}
		var d digestFrame
		if err := json.Unmarshal(r, &d); err != nil {
			return nil, err
		}
		if patternSum(d.Size) == d.SHA256 {
			out[i] = pattern(d.Size)
		} else {
			out[i] = []byte(fmt.Sprintf("%d bytes that are not the pattern (sha256 %s)", d.Size, d.SHA256))
		}
	}
	return out, nil
}

// peerError is a libzmq call that failed; Code is the errno's name.
type peerError struct{ Code, Msg string }

func (e *peerError) Error() string { return e.Code + ": " + e.Msg }

// errPeerAgain is libzmq's EAGAIN: a timeout.
var errPeerAgain = &peerError{Code: "EAGAIN"}

func (e *peerError) Is(target error) bool {
	t, ok := target.(*peerError)
	return ok && t.Code == e.Code
}

// startPeer starts a libzmq peer with one socket of type typ. It is
// killed when the test ends.
func startPeer(t *testing.T, impl peerImpl, typ Type, opts peerOpts) *zmqPeer {
	t.Helper()
	p := &zmqPeer{t: t, impl: impl, typ: typ, replies: make(chan peerReply),
		killed: make(chan struct{}), exited: make(chan struct{})}
	p.cmd = exec.Command(impl.argv[0], impl.argv[1:]...)
	p.cmd.Stderr = &p.stderr
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("%s: %v", impl.name, err)
	}
	go func() {
		defer close(p.exited)
		r := bufio.NewReaderSize(stdout, 1<<20)
		for {
			line, err := r.ReadBytes('\n')
			if err != nil {
				break
			}
			var rep peerReply
			if err := json.Unmarshal(line, &rep); err != nil {
				rep = peerReply{Err: "EBADREPLY", Msg: fmt.Sprintf("%v: %.200q", err, line)}
			}
			select {
			case p.replies <- rep:
				continue
			case <-p.killed:
				io.Copy(io.Discard, r) // to the end, which the kill brings
			}
			break
		}
		p.cmd.Wait()
	}()
	t.Cleanup(p.kill)
	if opts == nil {
		opts = peerOpts{}
	}
	p.must(map[string]any{"op": "open", "type": typ.String(), "opts": opts})
	return p
}

// kill ends the process (stopped or not) and waits for it.
func (p *zmqPeer) kill() {
	p.once.Do(func() { close(p.killed) })
	p.stdin.Close()
	p.cmd.Process.Kill()
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		p.t.Errorf("%s: the peer process did not end 10 s after SIGKILL", p.impl.name)
		return
	}
	if p.t.Failed() && p.stderr.Len() > 0 {
		p.t.Logf("%s %s stderr:\n%s", p.impl.name, p.typ, p.stderr.String())
	}
}

// call sends one request and waits for its reply; wait is how long the
// request itself may take.
func (p *zmqPeer) call(req map[string]any, wait time.Duration) (peerReply, error) {
	p.t.Helper()
	b, err := json.Marshal(req)
	if err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.stdin.Write(append(b, '\n')); err != nil {
		p.t.Fatalf("%s: writing %s: %v", p.impl.name, req["op"], err)
	}
	select {
	case rep := <-p.replies:
		if !rep.OK {
			return rep, &peerError{Code: rep.Err, Msg: rep.Msg}
		}
		return rep, nil
	case <-p.exited:
		p.t.Fatalf("%s: the peer exited during %s:\n%s", p.impl.name, req["op"], p.stderr.String())
	case <-time.After(wait + 15*time.Second):
		p.t.Fatalf("%s: no reply to %s", p.impl.name, req["op"])
	}
	return peerReply{}, nil
}

func (p *zmqPeer) must(req map[string]any) peerReply {
	p.t.Helper()
	rep, err := p.call(req, 0)
	if err != nil {
		p.t.Fatalf("%s %s %v: %v", p.impl.name, p.typ, req["op"], err)
	}
	return rep
}

// bind binds an endpoint (a tcp port of "*" is chosen) and returns it.
func (p *zmqPeer) bind(ep string) string {
	p.t.Helper()
	return p.must(map[string]any{"op": "bind", "ep": ep}).EP
}

func (p *zmqPeer) connect(ep string) {
	p.t.Helper()
	p.must(map[string]any{"op": "connect", "ep": ep})
}

func (p *zmqPeer) subscribe(topic string) {
	p.t.Helper()
	p.must(map[string]any{"op": "subscribe", "topic": []byte(topic)})
}

func (p *zmqPeer) unsubscribe(topic string) {
	p.t.Helper()
	p.must(map[string]any{"op": "unsubscribe", "topic": []byte(topic)})
}

// send sends one message, waiting up to timeout for room.
func (p *zmqPeer) send(msg [][]byte, timeout time.Duration) error {
	p.t.Helper()
	_, err := p.call(map[string]any{"op": "send", "frames": encodeFrames(msg), "timeout": timeout.Milliseconds()}, timeout)
	return err
}

// recv receives one message, waiting up to timeout (errPeerAgain after).
func (p *zmqPeer) recv(timeout time.Duration) ([][]byte, error) {
	p.t.Helper()
	rep, err := p.call(map[string]any{"op": "recv", "timeout": timeout.Milliseconds()}, timeout)
	if err != nil {
		return nil, err
	}
	if rep.Frames == nil {
		return nil, errors.New("a reply to recv without frames")
	}
	return decodeFrames(rep.Frames)
}

// shortDir is a temporary directory with a path short enough for unix
// sockets (108 bytes), which t.TempDir's, named after the test, may not
// be.
func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "zc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
