// Package nodeclient_test runs the Node.js dividere client (clients/node)
// against the Go implementation, each side in its own process: pub/sub
// both ways, calls by name both ways, error codes and deadlines, loss
// made by a Go publisher's drops, the dividere command on a Node
// service, and CURVE.
package nodeclient_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/internal/testpb"
	"github.com/dividere-go/dividere/internal/testutil"
	"github.com/dividere-go/dividere/messaging"
	"github.com/dividere-go/dividere/msglib"
	"github.com/dividere-go/dividere/registry"
	"github.com/dividere-go/dividere/service"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// The Node package's test schema beyond dividere's own: a packaged type
// that the subscriber does not ask for, and types the dividere command
// does not know.
var (
	packagedProto, _ = filepath.Abs(filepath.Join("..", "..", "proto", "testmsgs", "Packaged.proto"))
	nodeTestProto, _ = filepath.Abs(filepath.Join("test", "nodetest.proto"))
)

// requireNode fails the test when node or the package's node_modules is
// missing, saying how to install them. It only skips when node itself
// is not installed and the run is not a CI run (CI set): a machine
// without Node can still run the rest.
func requireNode(t *testing.T) {
	t.Helper()
	why := ""
	if _, err := exec.LookPath("node"); err != nil {
		why = "node is not installed (Debian: apt-get install nodejs npm), then npm install --prefix clients/node"
		if os.Getenv("CI") == "" {
			t.Skip(why)
		}
	} else {
		for _, m := range []string{"zeromq", "protobufjs"} {
			if _, err := os.Stat(filepath.Join("node_modules", m)); err != nil {
				why = "clients/node/node_modules/" + m + " is missing: run scripts/deps.sh test, or npm install --prefix clients/node"
				break
			}
		}
	}
	if why != "" {
		t.Fatal(why)
	}
}

// An event is one line the Node driver (test/driver.js) writes.
type event struct {
	ID        string            `json:"id"`
	Ev        string            `json:"ev"`
	Name      string            `json:"name"`
	Msg       map[string]any    `json:"msg"`
	Header    *header           `json:"header"`
	Code      int               `json:"code"`
	Kind      string            `json:"kind"`
	Message   string            `json:"message"`
	Endpoint  string            `json:"endpoint"`
	Publisher string            `json:"publisher"`
	Hex       string            `json:"hex"`
	Lost      int               `json:"lost"`
	Received  int               `json:"received"`
	Sequence  int               `json:"sequence"`
	LostBy    map[string]int    `json:"lostBy"`
	Instance  map[string]any    `json:"instance"`
	Metadata  map[string]string `json:"metadata"`
}

type header struct {
	TimeoutUs float64           `json:"timeoutUs"`
	Metadata  map[string]string `json:"metadata"`
	Publisher string            `json:"publisher"`
	Sequence  int               `json:"sequence"`
}

func (e event) text() string { s, _ := e.Msg["text"].(string); return s }

// A nodePeer is the driver in a process of its own, given commands on
// its stdin; its events are kept until a test asks for them.
type nodePeer struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr testutil.Buffer
	mu     sync.Mutex
	events []event
	taken  []bool
	more   chan struct{} // closed and replaced at each event
	exited chan struct{}
	nextID int
}

func startNode(t *testing.T) *nodePeer {
	t.Helper()
	requireNode(t)
	p := &nodePeer{t: t, more: make(chan struct{}), exited: make(chan struct{})}
	p.cmd = exec.Command("node", filepath.Join("test", "driver.js"))
	p.cmd.Env = append(os.Environ(), "DIVIDERE_TEST_PROTO="+packagedProto+","+nodeTestProto)
	p.cmd.Stderr = &p.stderr
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.exited)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			var ev event
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				ev = event{Ev: "garbage", Message: sc.Text()}
			}
			p.mu.Lock()
			p.events = append(p.events, ev)
			p.taken = append(p.taken, false)
			close(p.more)
			p.more = make(chan struct{})
			p.mu.Unlock()
		}
		p.cmd.Wait()
	}()
	t.Cleanup(func() {
		p.stdin.Close() // the driver closes what it opened and exits
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("node stderr:\n%s", p.stderr.String())
		}
	})
	return p
}

// do sends a command and returns its id.
func (p *nodePeer) do(cmd map[string]any) string {
	p.t.Helper()
	p.mu.Lock()
	p.nextID++
	id := strconv.Itoa(p.nextID)
	p.mu.Unlock()
	cmd["id"] = id
	b, _ := json.Marshal(cmd)
	if _, err := p.stdin.Write(append(b, '\n')); err != nil {
		p.t.Fatalf("node: %v\n%s", err, p.stderr.String())
	}
	return id
}

// wait returns the first event not yet taken of command id and kind ev
// (any of them when ev is ""); a fatal event, the driver's exit or the
// context's end fails the test.
func (p *nodePeer) wait(ctx context.Context, id string, evs ...string) event {
	p.t.Helper()
	for i := 0; ; {
		p.mu.Lock()
		for ; i < len(p.events); i++ {
			e := p.events[i]
			if e.Ev == "fatal" || e.Ev == "garbage" {
				p.mu.Unlock()
				p.t.Fatalf("node: %s\n%s", e.Message, p.stderr.String())
			}
			if p.taken[i] || e.ID != id || (len(evs) > 0 && !contains(evs, e.Ev)) {
				continue
			}
			p.taken[i] = true
			p.mu.Unlock()
			return e
		}
		more := p.more
		p.mu.Unlock()
		select {
		case <-more:
		case <-p.exited:
			p.t.Fatalf("node exited waiting for %v of command %s\n%s", evs, id, p.stderr.String())
		case <-ctx.Done():
			p.t.Fatalf("no %v from node for command %s: %v\n%s", evs, id, ctx.Err(), p.stderr.String())
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// call runs a call command and returns its reply or error event.
func (p *nodePeer) call(ctx context.Context, cmd map[string]any) event {
	p.t.Helper()
	cmd["op"] = "call"
	return p.wait(ctx, p.do(cmd), "reply", "error")
}

// nameService runs a Go name service on loopback ports the system picks.
func nameService(t *testing.T) *registry.Server {
	t.Helper()
	s, err := registry.NewServer(registry.WithEndpoints("tcp://127.0.0.1:0", "tcp://127.0.0.1:0", ""))
	if err != nil {
		t.Fatal(err)
	}
	testutil.Serve(t, s)
	return s
}

func addr(endpoint string) string { return strings.TrimPrefix(endpoint, "tcp://") }

// The package's own unit tests (envelope round trips, bad input, loss
// accounting).
func TestNodeUnit(t *testing.T) {
	requireNode(t)
	ctx := testutil.Ctx(t, 2*time.Minute)
	out, err := exec.CommandContext(ctx, "node", "--test", filepath.Join("test", "envelope.test.js"), filepath.Join("test", "loss.test.js")).CombinedOutput()
	if err != nil {
		t.Fatalf("node --test: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("# fail 0")) || bytes.Contains(out, []byte("# pass 0\n")) {
		t.Fatalf("node --test did not report its results:\n%s", out)
	}
}

// Node's envelopes are Go's, byte for byte: v1 without a header, and a v2
// header that Go reads; and Node reads what Go encodes.
func TestEnvelopeBytes(t *testing.T) {
	p := startNode(t)
	ctx := testutil.Ctx(t, time.Minute)
	for _, m := range []proto.Message{&msglib.Text{Text: "hello"}, &msglib.ServiceLookupReq{ServiceName: "svc"}, &testpb.Packaged{Text: "p"}} {
		want, err := messaging.Encode(m, nil)
		if err != nil {
			t.Fatal(err)
		}
		name := string(m.ProtoReflect().Descriptor().FullName())
		// protojson's field names are protobufjs's (lowerCamelCase).
		var fields map[string]any
		if err := json.Unmarshal([]byte(protojson.Format(m)), &fields); err != nil {
			t.Fatal(err)
		}
		got := p.wait(ctx, p.do(map[string]any{"op": "encode", "name": name, "msg": fields}), "encoded")
		if got.Hex != hex.EncodeToString(want) {
			t.Errorf("%s: node encodes %s, go %x", name, got.Hex, want)
		}
		dec := p.wait(ctx, p.do(map[string]any{"op": "decode", "hex": hex.EncodeToString(want)}), "decoded", "error")
		if dec.Ev != "decoded" || dec.Name != name || dec.Header != nil {
			t.Errorf("%s: node decodes go's envelope as %+v", name, dec)
		}
	}
	// A v2 header from Node, read by Go.
	h := map[string]any{"timeoutUs": 1500000, "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		"metadata": map[string]string{"tenant": "acme"}, "publisher": "abcdefghijkl", "sequence": 7}
	got := p.wait(ctx, p.do(map[string]any{"op": "encode", "name": "dividere.Text", "msg": map[string]any{"text": "x"}, "header": h}), "encoded")
	b, _ := hex.DecodeString(got.Hex)
	m, _, err := messaging.Decode(b, nil)
	if err != nil || m.(*msglib.Text).GetText() != "x" {
		t.Fatalf("go decodes node's v2 envelope: %v %v", m, err)
	}
	_, gh, err := messaging.DecodeHeader(b)
	if err != nil || gh.GetTimeoutUs() != 1500000 || gh.GetMetadata()["tenant"] != "acme" || gh.GetPublisher() != "abcdefghijkl" ||
		gh.GetSequence() != 7 || gh.GetTraceparent() != h["traceparent"] {
		t.Fatalf("go reads node's header as %v %v", gh, err)
	}
	// Garbage is an error of its kind in Node.
	if dec := p.wait(ctx, p.do(map[string]any{"op": "decode", "hex": "ffffff"}), "decoded", "error"); dec.Kind != "not-envelope" {
		t.Fatalf("garbage decodes as %+v", dec)
	}
}

// Go publishes two types; a Node subscriber asks for one, by its exact
// type prefix, and gets exactly those, in order, with Go's publisher id,
// sequence and metadata.
func TestGoPublisherNodeSubscriber(t *testing.T) {
	p := startNode(t)
	ctx := testutil.Ctx(t, 2*time.Minute)
	pub, err := messaging.NewPublisher("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	sub := p.do(map[string]any{"op": "sub", "endpoint": pub.Endpoint(), "types": []string{"dividere.Text"}})
	p.wait(ctx, sub, "subscribed")
	if err := pub.WaitSubscribers(ctx, &msglib.Text{}, 1); err != nil {
		t.Fatal(err)
	}
	const n = 50
	mctx := messaging.AppendMetadata(ctx, "tenant", "acme")
	for i := range n {
		if err := pub.Send(mctx, &testpb.Packaged{Text: "not for node"}); err != nil {
			t.Fatal(err)
		}
		if err := pub.Send(mctx, &msglib.Text{Text: fmt.Sprint("m", i)}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		e := p.wait(ctx, sub, "msg", "loss")
		if e.Ev != "msg" || e.Name != "dividere.Text" || e.text() != fmt.Sprint("m", i) {
			t.Fatalf("message %d: %+v", i, e)
		}
		if e.Header == nil || e.Header.Publisher != pub.ID() || e.Header.Sequence != i+1 || e.Header.Metadata["tenant"] != "acme" || e.Lost != 0 {
			t.Fatalf("message %d: header %+v, lost %d (publisher %s)", i, e.Header, e.Lost, pub.ID())
		}
	}
}

// A Node publisher waits for its Go subscriber (no sleep) and publishes;
// Go gets every message, stamped with a sequence in which it sees no gap.
func TestNodePublisherGoSubscriber(t *testing.T) {
	p := startNode(t)
	ctx := testutil.Ctx(t, 2*time.Minute)
	const n = 200
	id := p.do(map[string]any{"op": "pub", "name": "dividere.Text", "count": n, "text": "n", "metadata": map[string]string{"from": "node"}})
	bound := p.wait(ctx, id, "bound")
	sub, err := messaging.NewSubscriber(bound.Endpoint, messaging.WithTypes(&msglib.Text{}))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	for i := range n {
		m, err := messaging.RecvAs[*msglib.Text](ctx, sub)
		if err != nil || m.Text != fmt.Sprint("n", i) {
			t.Fatalf("message %d: %v %v", i, m, err)
		}
	}
	p.wait(ctx, id, "sent")
	if st := sub.MessageStats(); st.Lost != 0 || st.Received != n {
		t.Fatalf("go subscriber stats %+v, want %d received and none lost", st, n)
	}
	if _, ok := sub.LostByPublisher()[bound.Publisher]; !ok && len(sub.LostByPublisher()) > 0 {
		t.Fatalf("lost by publisher %v", sub.LostByPublisher())
	}
}

// A Go publisher that drops for a slow subscriber (plain PUB, small
// queues) makes gaps in its sequence; the Node subscriber, which reads
// nothing during the burst, counts exactly what it lost.
func TestNodeSubscriberCountsGoPublisherLoss(t *testing.T) {
	p := startNode(t)
	ctx := testutil.Ctx(t, 3*time.Minute)
	pub, err := messaging.NewPublisher("tcp://127.0.0.1:0", messaging.WithPublisherConnOptions(
		connection.WithSendHWM(100), connection.WithSlowSubscriberWait(0)))
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	sub := p.do(map[string]any{"op": "sub", "endpoint": pub.Endpoint(), "types": []string{"dividere.Text"}, "hwm": 100, "paused": true, "countOnly": true})
	p.wait(ctx, sub, "subscribed")
	if err := pub.WaitSubscribers(ctx, &msglib.Text{}, 1); err != nil {
		t.Fatal(err)
	}
	// 40,000 messages of 1 KiB: far more than the queues and the
	// loopback's socket buffers hold.
	pad := strings.Repeat("x", 1024)
	const burst = 40000
	for i := range burst {
		if err := pub.Send(ctx, &msglib.Text{Text: fmt.Sprint("b", i, pad)}); err != nil {
			t.Fatal(err)
		}
	}
	p.do(map[string]any{"op": "resume"})
	// Loss shows when the next message arrives, so messages follow the
	// burst until one reaches Node.
	var got event
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	counted := make(chan event, 1)
	go func() { counted <- p.wait(ctx, sub, "count") }()
	for got.Ev == "" {
		if err := pub.Send(ctx, &msglib.Text{Text: "end"}); err != nil {
			t.Fatal(err)
		}
		select {
		case got = <-counted:
		case <-tick.C:
		}
	}
	t.Logf("node received %d, lost %d, of the first %d; publisher %+v", got.Received, got.Lost, got.Sequence, pub.Stats())
	if got.Lost == 0 || got.Received+got.Lost != got.Sequence {
		t.Fatalf("received %d + lost %d, want %d exactly (and some lost)", got.Received, got.Lost, got.Sequence)
	}
	if got.LostBy[pub.ID()] != got.Lost {
		t.Fatalf("lost by publisher %v, want %d for %s", got.LostBy, got.Lost, pub.ID())
	}
	loss := p.wait(ctx, sub, "loss")
	if loss.Publisher != pub.ID() || loss.Name != "dividere.Text" || loss.Lost == 0 {
		t.Fatalf("loss event %+v", loss)
	}
}

// goEcho is the Go service's handler of dividere.Text: what the text
// says it does.
func goEcho(ctx context.Context, m *msglib.Text, _ messaging.Peer) (*msglib.Text, error) {
	verb, rest, _ := strings.Cut(m.Text, ":")
	switch verb {
	case "fail":
		c, why, _ := strings.Cut(rest, ":")
		n, _ := strconv.Atoi(c)
		return nil, messaging.Errorf(messaging.Code(n), "%s", why)
	case "deadline":
		d, ok := ctx.Deadline()
		if !ok {
			return &msglib.Text{Text: "none"}, nil
		}
		return &msglib.Text{Text: fmt.Sprint(time.Until(d).Milliseconds())}, nil
	case "sleep":
		n, _ := strconv.Atoi(rest)
		select {
		case <-time.After(time.Duration(n) * time.Millisecond):
			return &msglib.Text{Text: "slept"}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	case "meta":
		b, _ := json.Marshal(messaging.IncomingHeader(ctx).GetMetadata())
		return &msglib.Text{Text: string(b)}, nil
	}
	return &msglib.Text{Text: "go:" + m.Text}, nil
}

// Node finds a Go service by name through the Go name service and calls
// it: replies, refusals with their codes, the deadline and metadata
// travel; and Node hears the name service's change notices.
func TestNodeCallsGoService(t *testing.T) {
	ns := nameService(t)
	p := startNode(t)
	ctx := testutil.Ctx(t, 2*time.Minute)
	requests, _, watches := ns.Endpoints()
	reg := addr(requests)
	watch := p.do(map[string]any{"op": "watch", "registry": reg, "watch": addr(watches)})
	p.wait(ctx, watch, "watching")
	if err := ns.WaitWatchers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	svc, err := service.New(nil, service.WithName("go.echo"), service.WithHost("127.0.0.1"), service.WithVersion("1.2.3"),
		service.WithRegistry(registry.WithEndpoints(ns.Endpoints())))
	if err != nil {
		t.Fatal(err)
	}
	messaging.Handle(svc, goEcho)
	testutil.Serve(t, svc)
	if err := svc.WaitRegistered(ctx); err != nil {
		t.Fatal(err)
	}
	ev := p.wait(ctx, watch, "event")
	if ev.Kind != "REGISTERED" || ev.Instance["service"] != "go.echo" || ev.Instance["version"] != "1.2.3" {
		t.Fatalf("change notice %+v", ev)
	}

	byName := func(text string, extra map[string]any) event {
		cmd := map[string]any{"service": "go.echo", "registry": reg, "name": "dividere.Text", "msg": map[string]any{"text": text}}
		for k, v := range extra {
			cmd[k] = v
		}
		return p.call(ctx, cmd)
	}
	if e := byName("hello", nil); e.Ev != "reply" || e.text() != "go:hello" {
		t.Fatalf("call: %+v", e)
	}
	if e := byName("fail:5:no order 7", nil); e.Ev != "error" || e.Code != int(messaging.NotFound) || e.Message != "no order 7" {
		t.Fatalf("refusal: %+v", e)
	}
	if e := byName("fail:7:not yours", nil); e.Code != int(messaging.PermissionDenied) || e.Message != "not yours" {
		t.Fatalf("refusal: %+v", e)
	}
	// The caller's time travels: the handler's deadline is what Node had
	// left, a little less.
	e := byName("deadline", map[string]any{"timeoutMs": 4000})
	left, _ := strconv.Atoi(e.text())
	if e.Ev != "reply" || left <= 0 || left > 4000 {
		t.Fatalf("the handler's deadline: %+v", e)
	}
	// A handler that outlives it is refused DEADLINE_EXCEEDED (by Go, or
	// by Node's own clock, whichever comes first).
	if e := byName("sleep:10000", map[string]any{"timeoutMs": 300}); e.Ev != "error" || e.Code != int(messaging.DeadlineExceeded) {
		t.Fatalf("a handler past its deadline: %+v", e)
	}
	if e := byName("meta", map[string]any{"metadata": map[string]string{"tenant": "acme"}}); e.text() != `{"tenant":"acme"}` {
		t.Fatalf("metadata: %+v", e)
	}
	// A type nobody handles.
	if e := p.call(ctx, map[string]any{"service": "go.echo", "registry": reg, "name": "dividere.Bytes", "msg": map[string]any{}}); e.Code != int(messaging.Unimplemented) {
		t.Fatalf("unhandled type: %+v", e)
	}
	// A name nobody registered.
	if e := p.call(ctx, map[string]any{"service": "nobody", "registry": reg, "name": "dividere.Text", "msg": map[string]any{}}); e.Code != int(messaging.NotFound) {
		t.Fatalf("unknown service: %+v", e)
	}
	if e := p.wait(ctx, p.do(map[string]any{"op": "lookup", "registry": reg, "service": "go.echo"}), "instance", "error"); e.Instance["endpoint"] != svc.Instance().Endpoint() {
		t.Fatalf("lookup: %+v, want %s", e, svc.Instance().Endpoint())
	}
}

// nodeService starts a Node service registered with ns, and returns its
// endpoint.
func nodeService(t *testing.T, ctx context.Context, p *nodePeer, ns *registry.Server, name string, extra map[string]any) string {
	t.Helper()
	requests, notices, _ := ns.Endpoints()
	cmd := map[string]any{"op": "serve", "service": name, "registry": addr(requests), "notices": addr(notices), "version": "0.9.0"}
	for k, v := range extra {
		cmd[k] = v
	}
	return p.wait(ctx, p.do(cmd), "registered").Endpoint
}

// A Go client finds a Node service by name and calls it; the Node
// service's refusals reach Go as *messaging.Error with their codes, and
// Go's deadline reaches the Node handler.
func TestGoCallsNodeService(t *testing.T) {
	ns := nameService(t)
	p := startNode(t)
	ctx := testutil.Ctx(t, 2*time.Minute)
	ep := nodeService(t, ctx, p, ns, "node.echo", map[string]any{"handlerTimeoutMs": 1000})
	c, err := registry.NewClient(registry.WithEndpoints(ns.Endpoints()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	in, err := c.Lookup(ctx, "node.echo")
	if err != nil || in.Endpoint() != ep || in.Version != "0.9.0" {
		t.Fatalf("lookup: %+v %v, node serves on %s", in, err, ep)
	}
	call := func(ctx context.Context, m proto.Message) (*msglib.Text, error) {
		return registry.Call[*msglib.Text](ctx, c, "node.echo", m)
	}
	if rep, err := call(ctx, &msglib.Text{Text: "hi"}); err != nil || rep.Text != "node:hi" {
		t.Fatalf("call: %v %v", rep, err)
	}
	for _, tc := range []struct {
		text string
		code messaging.Code
		msg  string
	}{
		{"fail:5:no such order", messaging.NotFound, "no such order"},
		{"fail:3:bad qty", messaging.InvalidArgument, "bad qty"},
		{"throw:boom", messaging.Unknown, "boom"},
		{"none", messaging.Internal, "handler sent no reply"},
		// The service's own limit (handlerTimeoutMs 1 s), well before
		// the caller's.
		{"sleep:20000", messaging.DeadlineExceeded, ""},
	} {
		_, err := call(ctx, &msglib.Text{Text: tc.text})
		var refusal *messaging.Error
		if !errors.As(err, &refusal) || refusal.Code != tc.code || (tc.msg != "" && refusal.Message != tc.msg) {
			t.Fatalf("%s: %v (%T), want %v %q", tc.text, err, err, tc.code, tc.msg)
		}
	}
	if _, err := call(ctx, &msglib.Bytes{Data: []byte("x")}); messaging.CodeOf(err) != messaging.Unimplemented {
		t.Fatalf("unhandled type: %v", err)
	}
	// Go's deadline reaches the Node handler.
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	rep, err := call(dctx, &msglib.Text{Text: "deadline"})
	if err != nil {
		t.Fatal(err)
	}
	if left, _ := strconv.Atoi(rep.Text); left <= 0 || left > 5000 {
		t.Fatalf("the node handler's deadline: %q ms left", rep.Text)
	}
	// A deadline that passes in Node is answered DEADLINE_EXCEEDED.
	sctx, cancel2 := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel2()
	if _, err := call(sctx, &msglib.Text{Text: "sleep:10000"}); messaging.CodeOf(err) != messaging.DeadlineExceeded {
		t.Fatalf("past the deadline: %v", err)
	}
	mctx := messaging.AppendMetadata(ctx, "tenant", "acme")
	if rep, err := call(mctx, &msglib.Text{Text: "meta"}); err != nil || rep.Text != `{"tenant":"acme"}` {
		t.Fatalf("metadata: %v %v", rep, err)
	}
	// Bytes that are no envelope are refused INVALID_ARGUMENT, and the
	// service goes on.
	raw, err := connection.NewRequest(ep)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	b, err := raw.Call(ctx, []byte{0xff, 0xff})
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := messaging.Decode(b.Payload(), nil)
	if ack, ok := m.(*msglib.Ack); err != nil || !ok || ack.Ok || messaging.Code(ack.Code) != messaging.InvalidArgument {
		t.Fatalf("garbage answered with %v %v", m, err)
	}
	if rep, err := call(ctx, &msglib.Text{Text: "still"}); err != nil || rep.Text != "node:still" {
		t.Fatalf("after garbage: %v %v", rep, err)
	}
	// The Node service reports its counters with each renewal (every
	// third of its TTL).
	testutil.Eventually(t, time.Minute, "the node service's stats in its registration", func() bool {
		list, err := c.List(ctx, "node.echo")
		return err == nil && len(list) == 1 && list[0].Stats.GetRequests() > 0 && list[0].Stats.GetErrors() > 0
	})
}

// binDir holds the dividere command built for the tests; TestMain
// removes it.
var binDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// dividereBinary builds the dividere command (a module of its own) once.
var dividereBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "dividere-node-test")
	if err != nil {
		return "", err
	}
	binDir = dir
	bin := filepath.Join(dir, "dividere")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = filepath.Join("..", "..", "cmd", "dividere")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build cmd/dividere: %v\n%s", err, out)
	}
	return bin, nil
})

// The dividere command calls, describes and pings a Node service, found
// by name.
func TestDividereCommandOnNodeService(t *testing.T) {
	ns := nameService(t)
	p := startNode(t)
	ctx := testutil.Ctx(t, 4*time.Minute)
	// The service describes its types with a descriptor set that protoc
	// writes, so that the command can call it with a type it was not
	// built with.
	descriptors := ""
	if protoc, err := exec.LookPath("protoc"); err == nil {
		descriptors = filepath.Join(t.TempDir(), "nodetest.pb")
		if out, err := exec.CommandContext(ctx, protoc, "--include_imports", "--descriptor_set_out="+descriptors,
			"-I", filepath.Dir(nodeTestProto), nodeTestProto).CombinedOutput(); err != nil {
			t.Fatalf("protoc: %v\n%s", err, out)
		}
	}
	ep := nodeService(t, ctx, p, ns, "node.cli", map[string]any{"descriptorsFile": descriptors})
	bin, err := dividereBinary()
	if err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (int, string, string) {
		requests, _, _ := ns.Endpoints()
		cmd := exec.CommandContext(ctx, bin, append(args, "-registry", addr(requests))...)
		cmd.Env = append(os.Environ(), "DIVIDERE_ZMQ=go") // it is built without cgo
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, out.String(), errOut.String()
	}
	if code, out, e := run("call", "node.cli", "dividere.Text", `{"text": "cli"}`); code != 0 || !strings.Contains(out, `{"type":"dividere.Text","msg":{"text":"node:cli"}}`) {
		t.Fatalf("call: exit %d\n%s\n%s", code, out, e)
	}
	if code, out, e := run("call", "node.cli", "dividere.Text", `{"text": "fail:5:no order 7"}`); code != 1 || !strings.Contains(e, "NOT_FOUND: no order 7") {
		t.Fatalf("call refused: exit %d\n%s\n%s", code, out, e)
	}
	if code, out, e := run("call", "node.cli", "dividere.Text", `{"text": "sleep:10000"}`, "-timeout", "500ms"); code != 1 || !strings.Contains(e, "DEADLINE_EXCEEDED") && !strings.Contains(e, "no reply") {
		t.Fatalf("call past its deadline: exit %d\n%s\n%s", code, out, e)
	}
	code, out, e := run("info", "node.cli")
	for _, want := range []string{"service", "node.cli", "version", "0.9.0", "types", "dividere.Text", "round trip", ep} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("info: exit %d, no %q in\n%s\n%s", code, want, out, e)
		}
	}
	if code, out, e := run("ping", "-count", "2", "node.cli"); code != 0 || !strings.Contains(out, "seq=2") || !strings.Contains(out, "2 round trips") {
		t.Fatalf("ping: exit %d\n%s\n%s", code, out, e)
	}
	t.Run("descriptors", func(t *testing.T) {
		if descriptors == "" {
			t.Skip("protoc is not installed (Debian: protobuf-compiler, or scripts/deps.sh test)")
		}
		code, out, e := run("call", "node.cli", "nodetest.Order", `{"item": "tea", "qty": 2}`)
		if code != 0 || !strings.Contains(out, `{"type":"nodetest.OrderPlaced","msg":{"id":"tea-2"}}`) {
			t.Fatalf("call with the service's descriptors: exit %d\n%s\n%s", code, out, e)
		}
		// Without them, the command cannot make the request.
		nodeService(t, ctx, p, ns, "node.nodesc", nil)
		if code, out, e := run("call", "node.nodesc", "nodetest.Order", `{"item": "tea"}`); code == 0 || !strings.Contains(e, "nodetest.Order") {
			t.Fatalf("call without descriptors: exit %d\n%s\n%s", code, out, e)
		}
	})
}

// Node is a CURVE client of a Go server that allows its key; a Node
// client with another key is refused, and gets no reply.
func TestNodeCurveClient(t *testing.T) {
	p := startNode(t)
	ctx := testutil.Ctx(t, 2*time.Minute)
	server, err := connection.NewKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	client, _ := connection.NewKeyPair()
	stranger, _ := connection.NewKeyPair()
	// The Authenticator answers for the server on either engine.
	auth, err := connection.StartAuthenticator(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer auth.Close()
	if err := auth.SetKeys(client.Public); err != nil {
		t.Fatal(err)
	}
	rep, err := messaging.NewResponse("tcp://127.0.0.1:0", messaging.WithConnectionOptions(connection.WithCurveServer(server)))
	if err != nil {
		t.Fatal(err)
	}
	r := messaging.NewReactor([]messaging.Endpoint{rep})
	messaging.Handle(r, goEcho)
	testutil.Serve(t, r)
	curve := func(k connection.KeyPair) map[string]any {
		return map[string]any{"serverKey": server.Public, "publicKey": k.Public, "secretKey": k.Secret}
	}
	e := p.call(ctx, map[string]any{"endpoint": rep.Endpoint(), "name": "dividere.Text", "msg": map[string]any{"text": "secret"}, "curve": curve(client)})
	if e.Ev != "reply" || e.text() != "go:secret" {
		t.Fatalf("curve call: %+v", e)
	}
	if e := p.call(ctx, map[string]any{"endpoint": rep.Endpoint(), "name": "dividere.Text", "msg": map[string]any{"text": "fail:16:who"}, "curve": curve(client)}); e.Code != int(messaging.Unauthenticated) {
		t.Fatalf("curve refusal: %+v", e)
	}
	e = p.call(ctx, map[string]any{"endpoint": rep.Endpoint(), "name": "dividere.Text", "msg": map[string]any{"text": "let me in"}, "curve": curve(stranger), "timeoutMs": 1500})
	if e.Ev != "error" || e.Code != int(messaging.DeadlineExceeded) {
		t.Fatalf("a key the server does not allow: %+v", e)
	}
	if st := auth.Stats(); st.Allowed == 0 || st.Refused == 0 {
		t.Fatalf("authenticator %+v: want the client allowed and the stranger refused", st)
	}
}

// A restarted Go name service learns a Node service back: the service
// registers again when it hears RediscoverReq, long before its renewal
// (a third of a one-minute TTL) would.
func TestNodeServiceRediscovered(t *testing.T) {
	reqs, notices := testutil.Port(t), testutil.Port(t)
	start := func() *registry.Server {
		s, err := registry.NewServer(registry.WithEndpoints(fmt.Sprintf("tcp://127.0.0.1:%d", reqs), fmt.Sprintf("tcp://127.0.0.1:%d", notices), "tcp://127.0.0.1:0"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	ns := start()
	errc := make(chan error, 1)
	go func() { errc <- ns.Serve(context.Background()) }()
	p := startNode(t)
	ctx := testutil.Ctx(t, 2*time.Minute)
	ep := nodeService(t, ctx, p, ns, "node.back", map[string]any{"ttlMs": 60000})
	ns.Close()
	<-errc
	ns = start()
	testutil.Serve(t, ns)
	c, err := registry.NewClient(registry.WithEndpoints(ns.Endpoints()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	took := testutil.Eventually(t, 15*time.Second, "the node service registered again", func() bool {
		in, err := c.Lookup(ctx, "node.back")
		return err == nil && in.Endpoint() == ep
	})
	t.Logf("registered again %v after the restart", took)
}
