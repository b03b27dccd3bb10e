package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/internal/testutil"
	"github.com/dividere-go/dividere/messaging"
	"github.com/dividere-go/dividere/msglib"
)

// benchWait bounds a bench process: it ends by itself well before, even
// on a loaded machine.
const benchWait = 90 * time.Second

// decodeBench parses bench -json's one object, and nothing else.
func decodeBench(t *testing.T, out string) benchResult {
	t.Helper()
	var r benchResult
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("bench -json printed %q: %v", out, err)
	}
	if dec.More() {
		t.Fatalf("bench -json printed more than one object: %q", out)
	}
	return r
}

// textNumbers finds re in a bench text report and returns its numbers.
func textNumbers(t *testing.T, out, re string) []uint64 {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %s in\n%s", re, out)
	}
	var ns []uint64
	for _, s := range m[1:] {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		ns = append(ns, n)
	}
	return ns
}

func checkLatency(t *testing.T, what string, l latency, samples uint64) {
	t.Helper()
	if l.Count != samples || l.P50 <= 0 || l.P50 > l.P90 || l.P90 > l.P99 || l.P99 > l.Max {
		t.Errorf("%s latency %+v: want %d samples, 0 < p50 <= p90 <= p99 <= max", what, l, samples)
	}
}

// pub and sub in processes of their own, both ways round: the publishers
// listening (sharing one socket) with the subscribers connecting, then
// the subscriber listening with publishers connecting, each with its
// own socket. Nothing is dropped (fewer messages than a queue holds),
// so every subscriber gets every message, and each side's JSON agrees
// with the other's text.
func TestBenchPubSubProcesses(t *testing.T) {
	ep := "tcp://127.0.0.1:" + itoa(testutil.Port(t))
	sub := start(t, "bench", "sub", "-endpoint", ep, "-subs", "2", "-pubs", "2", "-json")
	pub := start(t, "bench", "pub", "-endpoint", ep, "-pubs", "2", "-subs", "2", "-count", "20001", "-size", "200", "-timeout", "60s")
	if code := pub.wait(t, benchWait); code != exitOK {
		t.Fatalf("pub: exit %d: %s", code, pub.err.String())
	}
	if code := sub.wait(t, benchWait); code != exitOK {
		t.Fatalf("sub: exit %d: %s", code, sub.err.String())
	}
	pt := pub.out.String() + pub.err.String()
	sent := textNumbers(t, pt, `pub: 2 publisher\(s\) sent (\d+) in`)[0]
	if sent != 20001 {
		t.Fatalf("pub sent %d, want 20001:\n%s", sent, pt)
	}
	if n := textNumbers(t, pt, `send errors (\d+), waits for a full queue \d+, slow subscribers (\d+), dropped (\d+)`); n[0]+n[1]+n[2] != 0 {
		t.Errorf("pub refused, found slow or dropped: %v\n%s", n, pt)
	}
	r := decodeBench(t, sub.out.String())
	s := r.Sub
	if r.Mode != "sub" || r.Size != 200 || s == nil || r.Pub != nil {
		t.Fatalf("sub -json: %+v", r)
	}
	if s.Subscribers != 2 || s.Publishers != 2 || s.PublishersEnded != 2 || s.Received != 2*sent || s.Expected != 2*sent ||
		s.Lost != 0 || s.Malformed != 0 || s.Seconds <= 0 || s.MsgsPerSec <= 0 {
		t.Errorf("sub -json: %+v; want both subscribers to get all %d from both publishers", s, sent)
	}
	checkLatency(t, "sub", s.Latency, s.Received)

	// The other way round, and the other way of reporting.
	ep = "tcp://127.0.0.1:" + itoa(testutil.Port(t))
	sub = start(t, "bench", "sub", "-endpoint", "@"+ep, "-pubs", "3")
	pub = start(t, "bench", "pub", "-endpoint", ">"+ep, "-pubs", "3", "-count", "9000", "-rate", "20000", "-timeout", "60s", "-json")
	if code := pub.wait(t, benchWait); code != exitOK {
		t.Fatalf("connecting pub: exit %d: %s", code, pub.err.String())
	}
	if code := sub.wait(t, benchWait); code != exitOK {
		t.Fatalf("listening sub: exit %d: %s", code, sub.err.String())
	}
	for _, e := range []string{pt, pub.err.String()} {
		if strings.Contains(e, "still there") { // it should see its subscribers leave, not wait out -timeout
			t.Errorf("pub waited for subscribers gone: %s", e)
		}
	}
	r = decodeBench(t, pub.out.String())
	p := r.Pub
	if r.Mode != "pub" || p == nil || r.Sub != nil || p.Publishers != 3 || p.Sent != 9000 || p.SendErrors != 0 || p.Seconds <= 0 {
		t.Fatalf("pub -json: %+v %+v", r, p)
	}
	// 3 publishers at 20,000/s each: 3,000 each take 150 ms at least.
	if p.Seconds < 0.149 || p.MsgsPerSec > 60001 {
		t.Errorf("pub -json: %d in %.3fs (%.0f/s): faster than -rate allows", p.Sent, p.Seconds, p.MsgsPerSec)
	}
	st := sub.out.String()
	n := textNumbers(t, st, `received (\d+) of (\d+) from (\d+) publisher\(s\) \((\d+) ended\)`)
	if n[0] != p.Sent || n[1] != p.Sent || n[2] != 3 || n[3] != 3 {
		t.Errorf("sub: %v, want %d of %d from 3 (3 ended):\n%s", n, p.Sent, p.Sent, st)
	}
	if n := textNumbers(t, st, `lost (\d+) \(`); n[0] != 0 {
		t.Errorf("sub lost %d:\n%s", n[0], st)
	}
}

// A subscriber that joins while the publisher is publishing reports
// what it missed, and the publisher's count and the subscriber's agree.
func TestBenchLateSubscriber(t *testing.T) {
	ep := "tcp://127.0.0.1:" + itoa(testutil.Port(t))
	pub := start(t, "bench", "pub", "-endpoint", ep, "-subs", "0", "-count", "20000", "-rate", "5000", "-json")
	// Something is published before the bench subscriber exists: a
	// subscriber of the test's own sees 100 messages first.
	early, err := messaging.NewSubscriber(">"+ep, messaging.WithTypes(&msglib.Bytes{}))
	if err != nil {
		t.Fatal(err)
	}
	defer early.Close()
	ctx, cancel := context.WithTimeout(context.Background(), benchWait)
	defer cancel()
	for range 100 {
		if _, err := early.Recv(ctx); err != nil {
			t.Fatalf("early subscriber: %v; pub said %s", err, pub.err.String())
		}
	}
	sub := start(t, "bench", "sub", "-endpoint", ep, "-json")
	if code := sub.wait(t, benchWait); code != exitOK {
		t.Fatalf("sub: exit %d: %s", code, sub.err.String())
	}
	early.Close() // the publisher waits for its subscribers to leave
	if code := pub.wait(t, benchWait); code != exitOK {
		t.Fatalf("pub: exit %d: %s", code, pub.err.String())
	}
	p, s := decodeBench(t, pub.out.String()).Pub, decodeBench(t, sub.out.String()).Sub
	if p.Sent != 20000 || s.Expected != p.Sent || s.Received+s.Lost != p.Sent || s.LostBeforeJoin < 100 ||
		s.LostBeforeJoin != s.Lost || s.PublishersEnded != 1 {
		t.Errorf("a late subscriber: pub %+v, sub %+v; want all 20000 accounted for, 100 or more lost before joining, none in gaps", p, s)
	}
}

// Gaps in a publisher's sequence, a tail that never came and a payload
// that is not bench's are each counted; the subscriber keeps going.
func TestBenchGapsCounted(t *testing.T) {
	pub, err := messaging.NewPublisher("@tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	sub := start(t, "bench", "sub", "-endpoint", pub.Conn().Endpoints()[0], "-json")
	ctx, cancel := context.WithTimeout(context.Background(), benchWait)
	defer cancel()
	if err := pub.WaitSubscribers(ctx, &msglib.Bytes{}, 1); err != nil {
		t.Fatalf("bench sub never subscribed: %v; %s", err, sub.err.String())
	}
	m := &msglib.Bytes{Data: make([]byte, 64)}
	send := func(seq, v uint64) {
		putHeader(m.Data, 42, seq, v)
		if err := pub.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	for seq := uint64(1); seq <= 100; seq++ {
		if seq == 50 {
			if err := pub.Send(ctx, &msglib.Bytes{Data: []byte("short")}); err != nil {
				t.Fatal(err)
			}
		}
		if seq < 50 || seq >= 60 { // 50 to 59 never sent
			send(seq, uint64(time.Now().UnixNano()))
		}
	}
	send(0, 105) // the end marker: it says 105 went out, 101 to 105 never came
	if code := sub.wait(t, benchWait); code != exitOK {
		t.Fatalf("sub: exit %d: %s", code, sub.err.String())
	}
	r := decodeBench(t, sub.out.String())
	s := r.Sub
	if r.Size != 64 || s.Received != 90 || s.Expected != 105 || s.LostGaps != 10 || s.LostAtEnd != 5 || s.LostBeforeJoin != 0 ||
		s.Lost != 15 || s.Malformed != 1 || s.Publishers != 1 || s.PublishersEnded != 1 {
		t.Errorf("sub -json: %+v; want 90 of 105, 10 lost in gaps and 5 at the end, 1 malformed", s)
	}
	checkLatency(t, "sub", s.Latency, 90)
	if e := sub.err.String(); !strings.Contains(e, "not a bench payload") {
		t.Errorf("the malformed payload was not said: %q", e)
	}
}

// A subscriber that reads nothing fills its queue: the publisher counts
// the waits, finds it slow and drops for it, and says so.
func TestBenchSlowSubscriber(t *testing.T) {
	ep := "tcp://127.0.0.1:" + itoa(testutil.Port(t))
	stuck, err := messaging.NewSubscriber(">"+ep, messaging.WithTypes(&msglib.Bytes{}), messaging.WithConnectionOptions(connection.WithRecvHWM(10)))
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Close()
	pub := start(t, "bench", "pub", "-endpoint", ep, "-hwm", "100", "-count", "50000", "-size", "1000", "-timeout", "3s", "-json")
	if code := pub.wait(t, benchWait); code != exitOK {
		t.Fatalf("pub: exit %d: %s", code, pub.err.String())
	}
	p := decodeBench(t, pub.out.String()).Pub
	if p.Sent != 50000 || p.SendErrors != 0 || p.SendWaits == 0 || p.SlowSubscribers == 0 {
		t.Errorf("pub -json: %+v; want every send made, waits and a slow subscriber counted", p)
	}
	if os.Getenv("DIVIDERE_ZMQ") == "go" && p.Dropped == 0 {
		t.Errorf("pub -json: %+v; the Go engine counts what it dropped", p)
	}
	if e := pub.err.String(); !strings.Contains(e, "still there") {
		t.Errorf("pub did not say a subscriber stayed: %q", e)
	}
}

// rep and req in processes of their own: every request answered, and the
// responder's count agrees with the requesters'.
func TestBenchReqRepProcesses(t *testing.T) {
	ep := "tcp://127.0.0.1:" + itoa(testutil.Port(t))
	rep := start(t, "bench", "rep", "-endpoint", ep)
	req := start(t, "bench", "req", "-endpoint", ep, "-clients", "3", "-count", "3000", "-size", "300", "-timeout", "60s", "-json")
	if code := req.wait(t, benchWait); code != exitOK {
		t.Fatalf("req: exit %d: %s", code, req.err.String())
	}
	r := decodeBench(t, req.out.String())
	q := r.Req
	if r.Mode != "req" || r.Size != 300 || q == nil || q.Clients != 3 || q.Calls != 3000 || q.Answered != 3000 ||
		q.Refused+q.Timeouts+q.Errors+q.Mismatched != 0 || q.Seconds <= 0 || q.CallsPerSec <= 0 {
		t.Fatalf("req -json: %+v %+v", r, q)
	}
	checkLatency(t, "req", q.Latency, 3000)
	rep.cmd.Process.Signal(syscall.SIGINT)
	if code := rep.wait(t, benchWait); code != exitOK {
		t.Fatalf("rep: exit %d: %s", code, rep.err.String())
	}
	if n := textNumbers(t, rep.out.String(), `rep: answered (\d+), refused (\d+)`); n[0] != q.Answered || n[1] != 0 {
		t.Errorf("rep answered %v, req had %d answers", n, q.Answered)
	}
}

// A responder registered as a service, found through the name service;
// a type it does not answer is refused, counted and said.
func TestBenchNamedService(t *testing.T) {
	rport, nport := testutil.Port(t), testutil.Port(t)
	addr := "127.0.0.1:" + itoa(rport)
	ns := background(t, "registry", "-requests", "@tcp://"+addr, "-notices", "@tcp://127.0.0.1:"+itoa(nport), "-watch", "tcp://127.0.0.1:0")
	waitOutput(t, ns, "name service: requests on")
	rep := start(t, "bench", "rep", "-service", "bench.Echo", "-registry", addr, "-endpoint", "tcp://127.0.0.1:0")
	waitOutputFor(t, rep.err, "registered as bench.Echo", benchWait)
	req := start(t, "bench", "req", "-service", "bench.Echo", "-registry", addr, "-count", "500", "-clients", "2", "-json")
	if code := req.wait(t, benchWait); code != exitOK {
		t.Fatalf("req -service: exit %d: %s", code, req.err.String())
	}
	r := decodeBench(t, req.out.String())
	if q := r.Req; q.Answered != 500 || q.Calls != 500 || q.Mismatched != 0 || !strings.HasPrefix(r.Endpoint, "tcp://127.0.0.1:") {
		t.Errorf("req -service: %+v %+v", r, q)
	}
	code, o, e := runBin(t, "bench", "req", "-service", "bench.Echo", "-registry", addr, "-count", "7", "-type", "dividere.Text", "-body", `{"text": "hi"}`)
	if code != exitOK || !strings.Contains(o, "answered 0, refused 7,") || !strings.Contains(e, "UNIMPLEMENTED") {
		t.Errorf("req -type a type the responder does not answer: exit %d\n%s%s", code, o, e)
	}
	if code, _, e := runBin(t, "bench", "req", "-service", "nobody", "-registry", addr); code != exitFailure || !strings.Contains(e, "not found") {
		t.Errorf("req -service nobody: exit %d %q", code, e)
	}
}

// waitOutputFor waits up to d until b holds want.
func waitOutputFor(t *testing.T, b *syncBuffer, want string, d time.Duration) {
	t.Helper()
	if !testutil.Poll(d, func() bool { return strings.Contains(b.String(), want) }) {
		t.Fatalf("no %q within %v in %q", want, d, b.String())
	}
}

// Both sides in one process, for a quick look.
func TestBenchOneProcess(t *testing.T) {
	code, o, e := cli(t, "bench", "pubsub", "-count", "5000", "-pubs", "2", "-subs", "2", "-json")
	if code != exitOK {
		t.Fatalf("pubsub: exit %d: %s", code, e)
	}
	r := decodeBench(t, o)
	if r.Pub.Sent != 5000 || r.Sub.Received != 10000 || r.Sub.Expected != 10000 || r.Sub.Lost != 0 || r.Sub.PublishersEnded != 2 {
		t.Errorf("pubsub -json: pub %+v sub %+v", r.Pub, r.Sub)
	}
	code, o, e = cli(t, "bench", "reqrep", "-count", "2000", "-clients", "2", "-size", "0")
	if code != exitOK {
		t.Fatalf("reqrep: exit %d: %s", code, e)
	}
	n := textNumbers(t, o, `made (\d+) calls[^\n]*\n\s+answered (\d+), refused 0, timeouts 0, errors 0, mismatched 0\n[^\n]*\nrep: answered (\d+), refused 0`)
	if n[0] != 2000 || n[1] != 2000 || n[2] != 2000 {
		t.Errorf("reqrep: %v\n%s", n, o)
	}
	code, o, e = cli(t, "bench", "reqrep", "-duration", "300ms", "-json")
	if r := decodeBench(t, o); code != exitOK || r.Req.Answered == 0 || r.Req.Answered != r.Rep.Answered || r.Req.Seconds < 0.3 {
		t.Errorf("reqrep -duration: exit %d %+v %+v %s", code, r.Req, r.Rep, e)
	}
}

// Bad command lines: one line that says why, exit 2.
func TestBenchUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bench", "pubsubb"}, `did you mean "pubsub"`},
		{[]string{"bench", "rep", "-endpoint", "tcp://*:0", "-pubs", "2"}, "bench rep takes no -pubs"},
		{[]string{"bench", "pub", "-endpoint", "tcp://*:0", "-size", "10"}, "-size 10"},
		{[]string{"bench", "pub"}, "needs -endpoint"},
		{[]string{"bench", "sub", "-endpoint", "@tcp://127.0.0.1:0", "-subs", "2"}, "one port takes one listener"},
		{[]string{"bench", "req", "-endpoint", "tcp://127.0.0.1:1", "-service", "x"}, "not both"},
		{[]string{"bench", "pubsub", "-count", "0"}, "-count 0"},
		{[]string{"bench", "pubsub", "-endpoint", ">tcp://127.0.0.1:1"}, "must listen"},
		{[]string{"bench", "req", "-endpoint", "bogus"}, "bad endpoint"},
		{[]string{"bench", "req", "-endpoint", "tcp://127.0.0.1:1", "-body", "{}"}, "-body needs -type"},
		{[]string{"bench", "rep", "-endpoint", "tcp://*:0", "-registry", "127.0.0.1:1"}, "-registry needs -service"},
	} {
		code, _, e := cli(t, tc.args...)
		if code != exitUsage || !strings.Contains(e, tc.want) || strings.Count(strings.TrimSpace(e), "\n") > 0 {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and one line with %q", tc.args, code, e, tc.want)
		}
	}
	if code, _, e := cli(t, "bench"); code != exitUsage || !strings.Contains(e, "wrong number of arguments") {
		t.Errorf("bench with no mode: exit %d %q", code, e)
	}
	code, o, _ := cli(t, "help", "bench")
	if code != exitOK || !strings.Contains(o, "process of its own") || !strings.Contains(o, "-clients") || !strings.Contains(o, "reqrep") {
		t.Errorf("help bench: exit %d\n%s", code, o)
	}
	code, _, e := cli(t, "bench", "req", "-endpoint", "tcp://127.0.0.1:"+itoa(testutil.Port(t)), "-timeout", "300ms")
	if code != exitFailure || !strings.Contains(e, "no responder") {
		t.Errorf("req to nobody: exit %d %q", code, e)
	}
}

func TestHist(t *testing.T) {
	var h hist
	for v := int64(1); v <= 100000; v++ {
		h.add(v * 1000) // 1 µs to 100 ms, evenly
	}
	l := h.summary()
	for _, c := range []struct {
		got, want int64
	}{{l.P50, 50_000_000}, {l.P90, 90_000_000}, {l.P99, 99_000_000}, {l.Max, 100_000_000}} {
		if c.got < c.want || float64(c.got) > float64(c.want)*1.016 {
			t.Errorf("%+v: %d, want %d within 1.6%% above", l, c.got, c.want)
		}
	}
	for v := uint64(0); v < 1<<20; v += 7 {
		if i := histBucket(v); histHigh(i) < int64(v) || (i > 0 && histHigh(i-1) >= int64(v)) {
			t.Fatalf("%d in bucket %d, which holds up to %d", v, i, histHigh(i))
		}
	}
}

// With CURVE: a subscriber with the publisher's key gets everything, one
// without it is never a subscriber; a subscriber stopped by Ctrl-C says
// what it had.
func TestBenchCurveAndInterrupt(t *testing.T) {
	key := t.TempDir() + "/server.key"
	if code, _, e := cli(t, "keygen", "-o", key); code != exitOK {
		t.Fatalf("keygen: %d %s", code, e)
	}
	ep := "tcp://127.0.0.1:" + itoa(testutil.Port(t))
	sub := start(t, "bench", "sub", "-endpoint", ep, "-curve-server-key", key, "-pubs", "2", "-timeout", "10m", "-json")
	pub := start(t, "bench", "pub", "-endpoint", ep, "-curve-server", key, "-count", "1000", "-timeout", "60s")
	// The subscriber waits for a second publisher that never comes, and
	// shows the first's thousand when interrupted.
	waitOutputFor(t, sub.err, "publisher 1 of 2 ended: 1000 received of 1000 sent", benchWait)
	sub.cmd.Process.Signal(syscall.SIGINT)
	if code := sub.wait(t, benchWait); code != exitOK {
		t.Fatalf("sub: exit %d: %s", code, sub.err.String())
	}
	if code := pub.wait(t, benchWait); code != exitOK { // it waited for the subscriber to leave
		t.Fatalf("pub: exit %d: %s", code, pub.err.String())
	}
	r := decodeBench(t, sub.out.String())
	if !r.Interrupted || r.Sub.Received != 1000 || r.Sub.Expected != 1000 || r.Sub.PublishersEnded != 1 {
		t.Errorf("interrupted sub -json: %+v %+v", r, r.Sub)
	}
	if n := textNumbers(t, pub.out.String(), `sent (\d+) in`); n[0] != 1000 {
		t.Errorf("pub sent %d", n[0])
	}
	// Without the key, no handshake, so no subscriber.
	ep = "tcp://127.0.0.1:" + itoa(testutil.Port(t))
	start(t, "bench", "sub", "-endpoint", ep)
	code, _, e := runBin(t, "bench", "pub", "-endpoint", ep, "-curve-server", key, "-count", "10", "-timeout", "2s")
	if code != exitFailure || !strings.Contains(e, "did not come within 2s") {
		t.Errorf("pub to a subscriber without the key: exit %d %q", code, e)
	}
}

// On a terminal the sending side draws a progress bar to the end; with
// -json, or off a terminal, none.
func TestBenchProgressBar(t *testing.T) {
	script, err := exec.LookPath("script") // util-linux: runs a command on a pseudo-terminal
	if err != nil {
		t.Skip("no script(1) to give the command a terminal (apt-get install bsdutils)")
	}
	bin := dividereBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), benchWait)
	defer cancel()
	for _, tc := range []struct {
		args string
		bar  bool
	}{
		{"bench reqrep -count 3000", true},
		{"bench reqrep -count 3000 -json", false},
	} {
		out, err := exec.CommandContext(ctx, script, "-qec", bin+" "+tc.args, "/dev/null").CombinedOutput()
		if err != nil {
			t.Fatalf("%s on a terminal: %v\n%s", tc.args, err, out)
		}
		if got := strings.Contains(string(out), "[##############################] 100% sent 3000 of 3000"); got != tc.bar {
			t.Errorf("%s on a terminal: progress bar to the end %v, want %v:\n%q", tc.args, got, tc.bar, out)
		}
	}
	if _, o, e := cli(t, "bench", "reqrep", "-count", "300"); strings.Contains(o+e, "[#") {
		t.Errorf("a bar off a terminal: %q %q", o, e)
	}
}

// A responder that never answers makes timeouts, one that answers
// something else mismatches; each is counted, none is an answer's latency
// but the mismatched (which were answered).
func TestBenchReqCountsFailures(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	silent, err := connection.NewResponse("@tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for ctx.Err() == nil {
			silent.Recv(ctx) // and no reply
		}
	}()
	code, o, e := cli(t, "bench", "req", "-endpoint", silent.Endpoints()[0], "-count", "3", "-timeout", "300ms", "-json")
	r := decodeBench(t, o)
	if q := r.Req; code != exitOK || q.Calls != 3 || q.Timeouts != 3 || q.Answered != 0 || q.Latency.Count != 0 {
		t.Errorf("req to a silent responder: exit %d %+v %s", code, q, e)
	}
	liar, err := messaging.NewResponse("@tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer liar.Close()
	go func() {
		for ctx.Err() == nil {
			if _, err := liar.Recv(ctx); err == nil {
				liar.Send(ctx, &msglib.Bytes{Data: []byte("not your request")})
			}
		}
	}()
	code, o, e = cli(t, "bench", "req", "-endpoint", liar.Endpoints()[0], "-count", "50", "-clients", "2")
	if n := textNumbers(t, o, `answered (\d+), refused 0, timeouts 0, errors 0, mismatched (\d+)`); code != exitOK || n[0] != 50 || n[1] != 50 {
		t.Errorf("req to a responder that answers something else: exit %d\n%s%s", code, o, e)
	}
}
