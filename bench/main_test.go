package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/messaging"
)

// The children of a test run are this test binary, run as the bench
// command would run itself.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "child" {
		os.Exit(child(os.Args[2:]))
	}
	os.Exit(m.Run())
}

// A short run of every workload on every system: each child process
// starts, measures and reports, and the report has every row.
func TestSuiteRuns(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute+30*time.Second)
	defer cancel()
	dir := t.TempDir()
	var out bytes.Buffer
	o := options{reps: 1, n: 5000, n1k: 2000, rounds: 50, duration: 200 * time.Millisecond, python: true, out: dir}
	if err := run(ctx, o, &out); err != nil {
		t.Fatal(err)
	}
	table := out.String()
	for _, want := range []string{
		"## pub/sub 100 B", "## pub/sub 1 KiB", "## req/rep 100 B, 1 requester", "## req/rep 100 B, 8 requesters", "## load-balanced",
		"| raw libzmq |", "| dividere connection |", "| dividere messaging |", "| dividere connection, envelope-sized |", "| dividere connection + Protobuf |", "| NATS |", "| gRPC |", "| Python (pyzmq) |",
		"| dividere broker |", "| raw libzmq broker |", "| libzmq zmq_proxy |", "| NATS queue group |", "vs raw libzmq broker", "vs raw libzmq", "vs NATS", "| cores busy |",
		"| raw Go engine |", "| Go engine proxy |", "vs libzmq zmq_proxy",
		"| dividere messaging, no header |", "| dividere messaging, v2 header |", "vs dividere messaging",
		"| dividere Reactor |", "| dividere Reactor, metrics on |", "| dividere Reactor, tracing on |", "vs dividere Reactor",
		"| dividere broker, metrics on |", "| dividere broker, tracing on |", "vs dividere broker",
		"## req/rep 64 B, 1 responder, no deadline", "## req/rep 64 B, 9 responders in one process (1 busy)", "## req/rep 64 B, a deadline context per call",
		"the user's shape", "vs itself with 1 responder, no deadline", "## What each part of the shape costs",
		"| dividere connection, a context per Recv |", "| dividere messaging, a context per Recv |", "## pub/sub 100 B at 10k msgs/s", "| dividere broker, 10k req/s |", "## name service lookups", "| dividere registry, 10k lookups/s |", "| dividere registry, full speed |", "peak RSS MiB",
	} {
		if !strings.Contains(table, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Contains(table, "errors:") || strings.Contains(table, "—") {
		t.Errorf("a measurement failed:\n%s", table)
	}
	for _, f := range []string{"results.md", "results.json", "results.svg"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
}

// The raw Go engine rows, end to end: pub/sub loses nothing (no
// high-water mark, as the raw libzmq rows), req/rep answers, and none of
// the CPU is counted as libzmq I/O threads'.
func TestGoEngineRows(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const n = 20000
	m, err := pubsubRun(roles[sysGo], 1024, n, "")(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m.Sent != n || m.Received != n || m.Lost != 0 || m.Rate <= 0 {
		t.Errorf("pub/sub: sent %d, received %d, lost %d at %.0f/s; want %d, none lost", m.Sent, m.Received, m.Lost, m.Rate, n)
	}
	if m.CPU <= 0 || m.IOCPU != 0 {
		t.Errorf("pub/sub: CPU %g s/msg, of which I/O threads %g; want some, and none", m.CPU, m.IOCPU)
	}
	for _, conc := range []int{1, 8} {
		m, err := reqRepRun(roles[sysGo], "", 100, 100, conc, 200*time.Millisecond, reqShape{})(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if m.Received == 0 || m.P50 <= 0 || m.P99 < m.P50 {
			t.Errorf("req/rep, %d requesters: %d requests, p50 %g, p99 %g", conc, m.Received, m.P50, m.P99)
		}
	}
	m, err = brokerRun(roles[sysGoProxy], 100, 200*time.Millisecond)(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m.Received == 0 {
		t.Error("the Go engine proxy answered no request")
	}
}

// The children inherit this process's environment, and with DIVIDERE_ZMQ
// unset their dividere sockets run on the pure-Go engine: the dividere
// rows are the Go engine's.
func TestChildEngine(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	t.Setenv("DIVIDERE_ZMQ", "")
	p, err := spawn(ctx, "engine")
	if err != nil {
		t.Fatal(err)
	}
	p.kill()
	if len(p.ready) != 1 || p.ready[0] != "go" {
		t.Errorf("with %s unset, a child's engine is %v; want %s", "DIVIDERE_ZMQ", p.ready, "go")
	}
	t.Setenv("DIVIDERE_ZMQ", "go")
	if p, err = spawn(ctx, "engine"); err != nil {
		t.Fatal(err)
	}
	p.kill()
	if len(p.ready) != 1 || p.ready[0] != "go" {
		t.Errorf("with %s=go, a child's engine is %v", "DIVIDERE_ZMQ", p.ready)
	}
}

// The envelope-sized row carries exactly as many bytes as a messaging
// Publisher puts on the wire for the same payload.
func TestEnvelopeSizeIsThePublishers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pub, err := messaging.NewPublisher("@tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	sub, err := connection.NewSubscriber(pub.Endpoint())
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	m := wrapperspb.Bytes(make([]byte, 100))
	if err := pub.WaitSubscribers(ctx, m, 1); err != nil {
		t.Fatal(err)
	}
	if err := pub.Send(ctx, m); err != nil {
		t.Fatal(err)
	}
	got, err := sub.Recv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := envelopeSize(100, 1); len(got.Payload()) != want {
		t.Errorf("the publisher sent %d bytes for sequence 1, envelopeSize says %d", len(got.Payload()), want)
	}
}

// Cores busy is each run's rate times its CPU per message, as median
// [min–max] over the repetitions.
func TestCoresBusy(t *testing.T) {
	w := workload{name: "pub/sub 100 B", systems: []system{{name: sysRaw}}}
	r := &results{Runs: []measurement{
		{Workload: w.name, System: sysRaw, Rep: 0, Rate: 1e6, CPU: 1.5e-6},
		{Workload: w.name, System: sysRaw, Rep: 1, Rate: 2e6, CPU: 0.9e-6},
		{Workload: w.name, System: sysRaw, Rep: 2, Rate: 1.2e6, CPU: 1e-6},
	}}
	md := r.markdown([]workload{w})
	if !strings.Contains(md, "| cores busy |") || !strings.Contains(md, "| 1.50 [1.20–1.80] |") {
		t.Fatalf("no cores busy column, or not 1.50 [1.20–1.80]:\n%s", md)
	}
}

// The I/O threads column is the median share of the CPU spent in
// libzmq's I/O threads, over the repetitions.
func TestIOThreadsColumn(t *testing.T) {
	w := workload{name: "req/rep 100 B, 1 requester", latency: true, systems: []system{{name: sysRaw}, {name: sysNATS}}}
	r := &results{Runs: []measurement{
		{Workload: w.name, System: sysRaw, Rep: 0, P50: 1e-4, CPU: 100e-6, IOCPU: 40e-6},
		{Workload: w.name, System: sysRaw, Rep: 1, P50: 1e-4, CPU: 100e-6, IOCPU: 60e-6},
		{Workload: w.name, System: sysRaw, Rep: 2, P50: 1e-4, CPU: 200e-6, IOCPU: 100e-6},
		{Workload: w.name, System: sysNATS, Rep: 0, P50: 1e-4, CPU: 100e-6},
	}}
	md := r.markdown([]workload{w})
	if !strings.Contains(md, "| I/O threads |") || !strings.Contains(md, "| 50% [40–60] |") || !strings.Contains(md, "| 0% [0–0] |") {
		t.Fatalf("no I/O threads column, or not 50%% [40–60] for raw and 0%% for NATS:\n%s", md)
	}
}

// statCPU finds the fields after a command name that holds spaces and
// parentheses.
func TestStatCPU(t *testing.T) {
	line := "4242 (ZMQbg/IO/0 (x) y) S 1 4242 4242 0 -1 4194560 12 0 0 0 7 5 0 0 20 0 3 0 100 0 0\n"
	comm, cpu, ok := statCPU([]byte(line))
	if !ok || comm != "ZMQbg/IO/0 (x) y" || cpu != 120*time.Millisecond {
		t.Fatalf("statCPU = %q, %v, %v; want \"ZMQbg/IO/0 (x) y\", 120ms, true", comm, cpu, ok)
	}
	if _, _, ok := statCPU([]byte("4242 (broken")); ok {
		t.Fatal("statCPU accepted a line with no closing parenthesis")
	}
}

// ioThreadCPU counts the CPU of a real libzmq I/O thread: this process's
// own, while it carries messages over TCP, and no more than the whole
// process used.
func TestIOThreadCPU(t *testing.T) {
	zctx, err := zmq.NewContext()
	if err != nil {
		t.Fatal(err)
	}
	pull, _ := zctx.NewSocket(zmq.PULL)
	push, _ := zctx.NewSocket(zmq.PUSH)
	defer func() {
		pull.SetLinger(0)
		push.SetLinger(0)
		pull.Close()
		push.Close()
		zctx.Term()
	}()
	if err := pull.Bind("tcp://127.0.0.1:*"); err != nil {
		t.Fatal(err)
	}
	ep, _ := pull.GetLastEndpoint()
	if err := push.Connect(ep); err != nil {
		t.Fatal(err)
	}
	me, err := os.FindProcess(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	self := &proc{cmd: &exec.Cmd{Process: me}}
	before := ioThreadCPU(os.Getpid())
	payload := make([]byte, 1024)
	deadline := time.Now().Add(time.Minute)
	for ioThreadCPU(os.Getpid()) == before {
		if time.Now().After(deadline) {
			t.Fatal("a minute of traffic, and no CPU counted for libzmq's I/O thread")
		}
		for range 1000 {
			if _, err := push.SendBytes(payload, 0); err != nil {
				t.Fatal(err)
			}
			if _, err := pull.RecvBytes(0); err != nil {
				t.Fatal(err)
			}
		}
	}
	total, ok := self.cpu()
	if io := ioThreadCPU(os.Getpid()); !ok || io > total {
		t.Fatalf("I/O threads %v of a process total %v (read: %v)", io, total, ok)
	}
}
