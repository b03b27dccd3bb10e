package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/dividere-go/dividere/messaging"
)

// measurement is one run of one system on one workload.
type measurement struct {
	Workload string  `json:"workload"`
	System   string  `json:"system"`
	Rep      int     `json:"rep"`
	Rate     float64 `json:"rate,omitempty"` // messages or requests a second
	P50      float64 `json:"p50,omitempty"`  // seconds
	P99      float64 `json:"p99,omitempty"`
	Sent     int     `json:"sent,omitempty"`
	Received int     `json:"received,omitempty"`
	Lost     int     `json:"lost,omitempty"`
	// CPU is the CPU time every process on the way used per message
	// (publisher, subscriber and nats-server; all their threads), in
	// seconds: on 2 cores it, more than anything, bounds throughput.
	CPU float64 `json:"cpu_per_msg,omitempty"`
	// CPUBy is CPU split by process: publisher, subscriber, nats-server;
	// requester, responder (or broker and workers), nats-server.
	CPUBy []float64 `json:"cpu_per_msg_by_process,omitempty"`
	// Switches is how often the threads of those processes were switched
	// off a CPU, per message or request.
	Switches   float64   `json:"switches_per_msg,omitempty"`
	SwitchesBy []float64 `json:"switches_per_msg_by_process,omitempty"`
	// IOCPU is the part of CPU spent in libzmq's I/O threads, summed
	// over those processes (0 for systems without libzmq).
	IOCPU float64 `json:"io_thread_cpu_per_msg,omitempty"`
	// RSSBy is each of those processes' peak resident memory (VmHWM),
	// in MiB, read at the end of the run; 0 for nats-server, whose peak
	// is the whole run's.
	RSSBy []float64 `json:"peak_rss_mib_by_process,omitempty"`
	Err   string    `json:"error,omitempty"`
}

// workload is one thing measured, on several systems.
type workload struct {
	name    string
	latency bool // the headline figure is p50, lower is better
	// ref names the system each row's ratios are taken against, per
	// layer: raw libzmq for dividere's connection layer, NATS for the
	// rest.
	refs    map[string]string
	systems []system
	// base names the workload this one varies, and part how: each row's
	// headline is then also taken against the same system's on base, per
	// repetition, to say what the variation costs each system.
	base, part string
	// paced: every system is held to the same rate, so the rate is no
	// figure to compare (CPU and memory are), and there are no ratios.
	paced bool
}

// requests reports whether the workload's headline is a request rate
// (with its p50) rather than a message rate or a latency.
func (w workload) requests() bool {
	return !w.latency && !strings.HasPrefix(w.name, "pub/sub")
}

type system struct {
	name string
	run  func(ctx context.Context) (measurement, error)
}

// The systems, by the names the children know them by.
const (
	sysRaw    = "raw libzmq"
	sysConn   = "dividere connection"
	sysMsg    = "dividere messaging"
	sysMsgV1  = "dividere messaging, no header"       // WithoutSequence: what stamping sequences costs
	sysConnE  = "dividere connection, envelope-sized" // bytes only, as many as the messaging layer's envelope
	sysConnPB = "dividere connection + Protobuf"      // protobuf-go Marshal and Unmarshal of the payload, no envelope
	// The subscriber makes a deadline context for every receive.
	sysConnCtx = "dividere connection, a context per Recv"
	sysMsgCtx  = "dividere messaging, a context per Recv"
	sysNATS    = "NATS"
	sysGRPC    = "gRPC"
	sysPython  = "Python (pyzmq)"
	sysBroker  = "dividere broker"
	sysRawLB   = "raw libzmq broker" // the ZeroMQ guide's load-balancing broker, on pebbe
	sysProxy   = "libzmq zmq_proxy"  // libzmq's own forwarding loop in C: the cheapest hop over libzmq
	sysReact   = "dividere Reactor"
	sysReactM  = "dividere Reactor, metrics on"  // every metric of metrics/, scraped once a second
	sysReactT  = "dividere Reactor, tracing on"  // tracing/ with OpenTelemetry: every span sampled, batched, then dropped
	sysMsgV2   = "dividere messaging, v2 header" // req/rep: every request carries the header's timeout_us
	sysQueue   = "NATS queue group"
	sysBrokerM = "dividere broker, metrics on"
	sysBrokerT = "dividere broker, tracing on"
	// The broker with its 8 clients paced at 10k requests a second in
	// all: its memory when it keeps up.
	sysBrokerPaced = "dividere broker, 10k req/s"
	// dividere's name service (registry.Server) answering lookups, at a
	// paced rate and as fast as its clients go.
	sysRegPaced = "dividere registry, 10k lookups/s"
	sysRegFull  = "dividere registry, full speed"
	// dividere's own ZeroMQ engine in pure Go (internal/zmtp), used
	// directly in the raw libzmq rows' shapes.
	sysGo      = "raw Go engine"
	sysGoProxy = "Go engine proxy" // its counterpart of zmq_proxy: ROUTER to DEALER, a goroutine each way
)

// roles maps a system's display name to its name on a child's command line.
var roles = map[string]string{
	sysRaw: "raw", sysConn: "conn", sysMsg: "msg", sysMsgV1: "msgv1", sysConnPB: "pb", sysNATS: "nats", sysGRPC: "grpc",
	sysBroker: "broker", sysQueue: "natsqg", sysRawLB: "rawbroker", sysProxy: "zmqproxy", sysReact: "reactor", sysReactM: "reactorm",
	sysGo: "zmtp", sysGoProxy: "zmtpproxy", sysReactT: "reactort", sysMsgV2: "msgv2", sysBrokerM: "brokerm", sysBrokerT: "brokert",
	sysRegPaced: "registry", sysRegFull: "registry", sysConnCtx: "connctx", sysMsgCtx: "msgctx",
}

func refsFor(names ...string) map[string]string {
	m := map[string]string{}
	for _, n := range names {
		switch n {
		case sysConn, sysPython, sysGo:
			m[n] = sysRaw
		case sysGoProxy:
			m[n] = sysProxy
		case sysMsg, sysGRPC, sysBroker, sysRawLB, sysProxy, sysConnE, sysConnPB:
			m[n] = sysNATS
		case sysMsgV1, sysMsgV2, sysReact, sysMsgCtx:
			m[n] = sysMsg
		case sysConnCtx:
			m[n] = sysConn
		case sysReactM, sysReactT:
			m[n] = sysReact
		case sysBrokerM, sysBrokerT:
			m[n] = sysBroker
		}
		if n == sysBroker || n == sysRawLB || n == sysProxy {
			m[n] = sysQueue
		}
	}
	return m
}

// alsoVs names, per system, the systems its ratio is also shown
// against, after its reference.
var alsoVs = map[string][]string{
	sysMsg: {sysRaw}, sysGRPC: {sysRaw}, sysBroker: {sysRawLB},
}

func workloads(o options, natsURL string) []workload {
	var ws []workload
	py, pyErr := pythonPeer()
	if o.python && pyErr != nil {
		fmt.Fprintf(os.Stderr, "bench: no Python rows: %v (-python=false leaves them out)\n", pyErr)
	}
	for _, size := range []int{100, 1024} {
		n := o.n
		if size > 100 {
			n = o.n1k
		}
		name := fmt.Sprintf("pub/sub %s, %dk msgs", sizeName(size), n/1000)
		w := workload{name: name}
		// sysConnPB: the connection layer carrying the payload as a bare
		// BytesValue, marshalled and unmarshalled with protobuf-go and
		// no envelope: the least any Protobuf framework over ZeroMQ does.
		ps := func(s string) system { return system{name: s, run: pubsubRun(roles[s], size, n, natsURL)} }
		w.systems = []system{ps(sysRaw), ps(sysGo), ps(sysConn), ps(sysMsg), ps(sysMsgV1), ps(sysNATS), ps(sysConnPB), ps(sysReact), ps(sysReactM), ps(sysReactT), ps(sysConnCtx), ps(sysMsgCtx)}
		// The connection layer carrying as many bytes as the messaging
		// layer puts on the wire for this payload: what the messaging
		// layer could reach if its Protobuf work cost nothing.
		w.systems = append(w.systems, system{name: sysConnE, run: pubsubRun(roles[sysConn], envelopeSize(size, n), n, natsURL)})
		if o.python && pyErr == nil {
			w.systems = append(w.systems, system{name: sysPython, run: pythonPubSub(py, size, n/5)})
		}
		ws = append(ws, w)
	}
	// At a steady 10k msgs/s, well within every system's reach: what a
	// publisher and a subscriber hold in memory (peak RSS) when they keep
	// up, against the full-speed rows above.
	paced := workload{name: fmt.Sprintf("pub/sub 100 B at 10k msgs/s, %dk msgs", pacedN(o)/1000), paced: true}
	for _, s := range []string{sysRaw, sysConn, sysMsg, sysNATS} {
		paced.systems = append(paced.systems, system{name: s, run: pacedPubsubRun(roles[s], 100, pacedN(o), 10_000, natsURL)})
	}
	ws = append(ws, paced)
	one := workload{name: "req/rep 100 B, 1 requester", latency: true}
	rr1 := func(s string) system {
		return system{name: s, run: reqRepRun(roles[s], natsURL, 100, o.rounds, 1, o.duration, reqShape{})}
	}
	one.systems = []system{rr1(sysRaw), rr1(sysGo), rr1(sysConn), rr1(sysMsg), rr1(sysMsgV2), rr1(sysNATS), rr1(sysGRPC), rr1(sysReact), rr1(sysReactM), rr1(sysReactT)}
	if o.python && pyErr == nil {
		one.systems = append(one.systems, system{name: sysPython, run: pythonReqRep(py, o.rounds)})
	}
	ws = append(ws, one)
	eight := workload{name: "req/rep 100 B, 8 requesters"}
	rr8 := func(s string) system {
		return system{name: s, run: reqRepRun(roles[s], natsURL, 100, 0, 8, o.duration, reqShape{})}
	}
	eight.systems = []system{rr8(sysRaw), rr8(sysGo), rr8(sysConn), rr8(sysMsg), rr8(sysMsgV2), rr8(sysReact), rr8(sysReactM), rr8(sysReactT), rr8(sysNATS), rr8(sysGRPC)}
	ws = append(ws, eight)
	ws = append(ws, userShape(o, natsURL)...)
	lb := workload{name: "load-balanced 100 B, 8 clients × 8 workers"}
	lb.systems = []system{
		{name: sysProxy, run: brokerRun("zmqproxy", 100, o.duration)},
		{name: sysGoProxy, run: brokerRun("zmtpproxy", 100, o.duration)},
		{name: sysRawLB, run: brokerRun("rawbroker", 100, o.duration)},
		{name: sysBroker, run: brokerRun("broker", 100, o.duration)},
		{name: sysBrokerM, run: brokerRun("brokerm", 100, o.duration)},
		{name: sysBrokerT, run: brokerRun("brokert", 100, o.duration)},
		{name: sysBrokerPaced, run: pacedBrokerRun("broker", 100, o.duration, 10_000)},
		{name: sysQueue, run: queueGroupRun(natsURL, 100, o.duration)},
	}
	ws = append(ws, lb)
	ws = append(ws, workload{name: "name service lookups, 8 clients", systems: []system{
		{name: sysRegPaced, run: nameServiceRun(10_000, o.duration)},
		{name: sysRegFull, run: nameServiceRun(0, o.duration)},
	}})
	for i := range ws {
		if ws[i].paced {
			continue
		}
		var names []string
		for _, s := range ws[i].systems {
			names = append(names, s.name)
		}
		ws[i].refs = refsFor(names...)
	}
	return ws
}

// userShape is request/reply as a separate harness measured it, where
// dividere's ratios to raw libzmq and NATS were worse than this suite's:
// nine responders share one process and only one is busy, and each call
// has a deadline context of its own (context.WithTimeout per call). A
// workload with neither, one for each alone and one with both tell which
// of the two costs dividere more than raw libzmq: every row of the last
// three is also taken against the same system's on the first.
func userShape(o options, natsURL string) []workload {
	const base = "req/rep 64 B, 1 responder, no deadline"
	shapes := []struct {
		name, part string
		shape      reqShape
	}{
		{base, "", reqShape{responders: 1}},
		{"req/rep 64 B, 9 responders in one process (1 busy)", "9 responders", reqShape{responders: 9}},
		{"req/rep 64 B, a deadline context per call", "deadline per call", reqShape{responders: 1, deadline: true}},
		{"req/rep 64 B, 9 responders (1 busy) and a deadline per call: the user's shape", "both", reqShape{responders: 9, deadline: true}},
	}
	var ws []workload
	for _, sh := range shapes {
		w := workload{name: sh.name, latency: true, part: sh.part}
		if sh.part != "" {
			w.base = base
		}
		for _, s := range []string{sysRaw, sysGo, sysConn, sysMsg, sysNATS} {
			w.systems = append(w.systems, system{name: s, run: reqRepRun(roles[s], natsURL, 64, o.rounds, 1, o.duration, sh.shape)})
		}
		ws = append(ws, w)
	}
	return ws
}

// pacedN is how many messages the paced pub/sub workload sends: as many
// as -duration takes at 10k a second, and at least 1000.
func pacedN(o options) int { return max(int(o.duration.Seconds()*10_000), 1000) }

func sizeName(size int) string {
	if size >= 1024 {
		return fmt.Sprintf("%d KiB", size/1024)
	}
	return fmt.Sprintf("%d B", size)
}

func itoa(n int) string { return strconv.Itoa(n) }

// childResult is what the children report.
type childResult struct {
	Sent     int     `json:"sent"`
	Received int     `json:"received"`
	Seconds  float64 `json:"seconds"`
	Rate     float64 `json:"rate"`
	P50      float64 `json:"p50"`
	P99      float64 `json:"p99"`
}

// pubsubRun: a publisher process sends n messages of size as fast as it
// can; a subscriber process counts them, timing the first to the last.
// What did not arrive is counted lost.
func pubsubRun(role string, size, n int, natsURL string) func(context.Context) (measurement, error) {
	return pacedPubsubRun(role, size, n, 0, natsURL)
}

// pacedPubsubRun is pubsubRun with the publisher sending rate messages
// a second (0: as fast as it can).
func pacedPubsubRun(role string, size, n, rate int, natsURL string) func(context.Context) (measurement, error) {
	return func(ctx context.Context) (measurement, error) {
		return pubsub(ctx, []string{"pub", role, itoa(size), itoa(n), natsURL, itoa(rate)}, func(ep string) []string {
			return []string{"sub", role, itoa(size), itoa(n), ep}
		}, n, role == "nats")
	}
}

func pythonPubSub(script string, size, n int) func(context.Context) (measurement, error) {
	return func(ctx context.Context) (measurement, error) {
		return pubsub(ctx, []string{script, "pub", itoa(size), itoa(n)}, func(ep string) []string {
			return []string{script, "sub", itoa(size), itoa(n), ep}
		}, n, false)
	}
}

func pubsub(ctx context.Context, pubArgs []string, subArgs func(string) []string, n int, viaNATS bool) (measurement, error) {
	pub, err := spawn(ctx, pubArgs...)
	if err != nil {
		return measurement{}, err
	}
	defer pub.kill()
	sub, err := spawn(ctx, subArgs(pub.ready[0])...)
	if err != nil {
		return measurement{}, err
	}
	defer sub.kill()
	procs := []*proc{pub, sub}
	if viaNATS {
		procs = append(procs, natsServer)
	}
	use := startUsage(procs...)
	pub.say("GO")
	var s, p childResult
	if err := sub.result(ctx, &s); err != nil {
		return measurement{}, fmt.Errorf("subscriber: %w", err)
	}
	if err := pub.result(ctx, &p); err != nil {
		return measurement{}, fmt.Errorf("publisher: %w", err)
	}
	m := measurement{Sent: p.Sent, Received: s.Received, Lost: n - s.Received}
	use.per(&m, s.Received)
	if s.Seconds > 0 {
		m.Rate = float64(s.Received) / s.Seconds
	}
	return m, nil
}

// reqShape is how a request/reply workload is laid out beyond its
// sizes: how many responders its responder process runs (only the first
// is asked), whether each call has a deadline context of its own, and
// at how many calls a second the requesters are paced (0: as fast as
// they go).
type reqShape struct {
	responders int
	deadline   bool
	rate       int
}

// reqArgs are the arguments of a requester child after its endpoint.
func reqArgs(size, rounds, conc int, d interface{ String() string }, sh reqShape) []string {
	dl := "nodeadline"
	if sh.deadline {
		dl = "deadline"
	}
	return []string{itoa(size), itoa(rounds), itoa(conc), d.String(), dl, itoa(sh.rate)}
}

// reqRepRun: a responder process echoes; a requester process makes
// rounds round trips one at a time (conc 1), or runs conc requesters on
// conc connections for d.
func reqRepRun(role, natsURL string, size, rounds, conc int, d interface{ String() string }, sh reqShape) func(context.Context) (measurement, error) {
	return func(ctx context.Context) (measurement, error) {
		// The last argument, the requester's deadline mode, only names the
		// responder's CPU profile (BENCH_PROFILE) apart from the other
		// shapes'.
		args := reqArgs(size, rounds, conc, d, sh)
		rep, err := spawn(ctx, "rep", role, natsURL, itoa(max(sh.responders, 1)), args[4])
		if err != nil {
			return measurement{}, err
		}
		defer rep.kill()
		return requester(ctx, append([]string{"req", role, rep.ready[0]}, args...), rep, natsFor(role))
	}
}

// nameServiceRun: a name service process, and a process of 8 clients
// looking one service up, paced at rate lookups a second in all (0: as
// fast as they go), for d.
func nameServiceRun(rate int, d interface{ String() string }) func(context.Context) (measurement, error) {
	return func(ctx context.Context) (measurement, error) {
		s, err := spawn(ctx, "registry")
		if err != nil {
			return measurement{}, err
		}
		defer s.kill()
		return requester(ctx, append([]string{"req", "registry", s.ready[0]}, reqArgs(0, 0, 8, d, reqShape{rate: rate})...), s)
	}
}

func pythonReqRep(script string, rounds int) func(context.Context) (measurement, error) {
	return func(ctx context.Context) (measurement, error) {
		rep, err := spawn(ctx, script, "rep")
		if err != nil {
			return measurement{}, err
		}
		defer rep.kill()
		return requester(ctx, []string{script, "req", rep.ready[0], itoa(rounds)}, rep)
	}
}

// requester runs the requesting process and measures it; others are
// the rest of the processes the requests cross, whose CPU counts too.
func requester(ctx context.Context, args []string, others ...*proc) (measurement, error) {
	req, err := spawn(ctx, args...)
	if err != nil {
		return measurement{}, err
	}
	defer req.kill()
	procs := []*proc{req}
	for _, p := range others {
		if p != nil {
			procs = append(procs, p)
		}
	}
	use := startUsage(procs...)
	req.say("GO")
	var r childResult
	if err := req.result(ctx, &r); err != nil {
		return measurement{}, fmt.Errorf("requester: %w", err)
	}
	m := measurement{Rate: r.Rate, P50: r.P50, P99: r.P99, Received: r.Received}
	use.per(&m, r.Received)
	return m, nil
}

// natsFor returns the nats-server process for NATS's roles (nil for the
// others).
func natsFor(role string) *proc {
	if role == "nats" || role == "natsqg" {
		return natsServer
	}
	return nil
}

// brokerRun: a broker process (role broker: dividere's; rawbroker: the
// guide's on raw pebbe, the reference for what libzmq itself costs;
// zmqproxy: libzmq's zmq_proxy, the least a hop over libzmq costs), a
// process of 8 workers and a process of 8 clients, each making one
// request at a time.
func brokerRun(role string, size int, d interface{ String() string }) func(context.Context) (measurement, error) {
	return pacedBrokerRun(role, size, d, 0)
}

// pacedBrokerRun is brokerRun with the clients making rate requests a
// second in all (0: as fast as they go).
func pacedBrokerRun(role string, size int, d interface{ String() string }, rate int) func(context.Context) (measurement, error) {
	return func(ctx context.Context) (measurement, error) {
		b, err := spawn(ctx, role, "8")
		if err != nil {
			return measurement{}, err
		}
		defer b.kill()
		w, err := spawn(ctx, "workers", role, b.ready[1], "8")
		if err != nil {
			return measurement{}, err
		}
		defer w.kill()
		if _, err := b.expect(ctx, "WORKERS"); err != nil {
			return measurement{}, err
		}
		client := role
		switch role {
		case "rawbroker", "zmqproxy":
			client = "raw" // a REQ socket, as the guide's clients
		case "zmtpproxy":
			client = "zmtp" // a Go engine REQ socket
		}
		return requester(ctx, append([]string{"req", client, b.ready[0]}, reqArgs(size, 0, 8, d, reqShape{rate: rate})...), b, w)
	}
}

// queueGroupRun: the same with NATS: 8 queue-group subscribers in one
// process, 8 clients on 8 connections in another, nats-server in a third.
func queueGroupRun(natsURL string, size int, d interface{ String() string }) func(context.Context) (measurement, error) {
	return func(ctx context.Context) (measurement, error) {
		w, err := spawn(ctx, "workers", "natsqg", natsURL, "8")
		if err != nil {
			return measurement{}, err
		}
		defer w.kill()
		return requester(ctx, append([]string{"req", "natsqg", natsURL}, reqArgs(size, 0, 8, d, reqShape{})...), natsServer, w)
	}
}

// envelopeSize is the size of the envelope a messaging Publisher sends
// for a payload of size bytes (a BytesValue, with the header's publisher
// id and a sequence number as large as the run's last).
func envelopeSize(size, n int) int {
	h := &messaging.Header{Publisher: strings.Repeat("x", 12), Sequence: uint64(n)}
	b, err := messaging.Encode(wrapperspb.Bytes(make([]byte, size)), h)
	if err != nil {
		panic(err)
	}
	return len(b)
}
