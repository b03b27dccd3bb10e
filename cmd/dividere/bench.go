package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	zmq "github.com/pebbe/zmq4"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/internal/rawzmq"
	"github.com/dividere-go/dividere/internal/testpb"
	"github.com/dividere-go/dividere/messaging"
	"github.com/dividere-go/dividere/patterns"
	"github.com/dividere-go/dividere/registry"
)

func init() {
	commands["bench"] = command{"measure dividere against raw libzmq, NATS and Python, side by side", runBench}
}

// benchResult is one measurement.
type benchResult struct {
	Workload string  `json:"workload"`
	System   string  `json:"system"`
	Value    float64 `json:"value"` // msgs/s, or p50 seconds for latency
	P99      float64 `json:"p99,omitempty"`
	Lost     int     `json:"lost,omitempty"`
	Latency  bool    `json:"latency,omitempty"`
	Err      string  `json:"error,omitempty"`
}

type benchCase struct {
	workload, system string
	run              func(ctx context.Context) (benchResult, error)
}

func runBench(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "bench", "")
	n := f.Int("n", 100_000, "messages per throughput measurement")
	rounds := f.Int("rounds", 2000, "round trips per latency measurement")
	out := f.String("out", "", "directory for results.md, results.json and results.svg (default: print only)")
	only := f.String("only", "", "run only the workloads whose name contains this")
	noPython := f.Bool("no-python", false, "skip the Python peer")
	if _, err := f.parse(args, 0, 0); err != nil {
		return err
	}
	cases := benchCases(*n, *rounds, !*noPython)
	if *only != "" {
		cases = slices.DeleteFunc(cases, func(c benchCase) bool { return !strings.Contains(c.workload, *only) })
	}
	var results []benchResult
	for i, c := range cases {
		fmt.Fprintf(e.errOut, "\r\033[K[%d/%d] %s: %s", i+1, len(cases), c.workload, c.system)
		cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		r, err := c.run(cctx)
		cancel()
		r.Workload, r.System = c.workload, c.system
		if err != nil {
			r.Err = err.Error()
		}
		results = append(results, r)
		if ctx.Err() != nil {
			break
		}
	}
	fmt.Fprintf(e.errOut, "\r\033[K")
	table := benchTable(results)
	fmt.Fprint(e.out, table)
	if *out == "" {
		return nil
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	js, _ := json.MarshalIndent(results, "", "  ")
	if err := os.WriteFile(filepath.Join(*out, "results.json"), js, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*out, "results.md"), []byte(table), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(*out, "results.svg"), []byte(benchSVG(results)), 0o644)
}

func benchCases(n, rounds int, python bool) []benchCase {
	var cs []benchCase
	for _, size := range []int{100, 1024} {
		w := fmt.Sprintf("pub/sub %s", sizeName(size))
		cnt := n
		if size > 100 {
			cnt = n / 2
		}
		cs = append(cs,
			benchCase{w, "raw libzmq", func(ctx context.Context) (benchResult, error) { return rawPubSub(ctx, size, cnt) }},
			benchCase{w, "dividere connection", func(ctx context.Context) (benchResult, error) { return connPubSub(ctx, size, cnt) }},
			benchCase{w, "dividere messaging", func(ctx context.Context) (benchResult, error) { return msgPubSub(ctx, size, cnt) }},
			benchCase{w, "NATS", func(ctx context.Context) (benchResult, error) { return natsPubSub(ctx, size, cnt) }},
		)
		if python {
			cs = append(cs, benchCase{w, "Python (pyzmq)", func(ctx context.Context) (benchResult, error) {
				return pythonBench(ctx, "pubsub", fmt.Sprint(size), fmt.Sprint(cnt/4))
			}})
		}
	}
	w := "req/rep latency 100 B"
	cs = append(cs,
		benchCase{w, "raw libzmq", func(ctx context.Context) (benchResult, error) { return rawReqRep(ctx, rounds) }},
		benchCase{w, "dividere connection", func(ctx context.Context) (benchResult, error) { return connReqRep(ctx, rounds) }},
		benchCase{w, "dividere messaging", func(ctx context.Context) (benchResult, error) { return msgReqRep(ctx, rounds) }},
		benchCase{w, "NATS", func(ctx context.Context) (benchResult, error) { return natsReqRep(ctx, rounds) }},
	)
	if python {
		cs = append(cs, benchCase{w, "Python (pyzmq)", func(ctx context.Context) (benchResult, error) {
			return pythonBench(ctx, "reqrep", fmt.Sprint(rounds))
		}})
	}
	cs = append(cs,
		benchCase{"broker, 2 workers, 64 in flight", "dividere patterns", func(ctx context.Context) (benchResult, error) { return brokerBench(ctx, n/2) }},
		benchCase{"reactor echo, 64 in flight", "dividere messaging", func(ctx context.Context) (benchResult, error) { return reactorBench(ctx, n/2) }},
		benchCase{"registry lookups, 8 clients", "dividere registry", func(ctx context.Context) (benchResult, error) { return lookupBench(ctx, n/5) }},
	)
	return cs
}

func sizeName(size int) string {
	if size >= 1024 {
		return fmt.Sprintf("%d KiB", size/1024)
	}
	return fmt.Sprintf("%d B", size)
}

// echoOfSize is an Echo whose envelope is size bytes (or just over).
func echoOfSize(size int) *testpb.Echo {
	m := &testpb.Echo{Seq: 1}
	for {
		b, _ := messaging.Encode(m)
		if len(b) >= size {
			return m
		}
		m.Data = append(m.Data, 'x')
	}
}

// stream sends n messages as fast as send allows while recv counts them on
// another goroutine; it ends when all arrived or none came for 500 ms, and
// reports the rate and how many were lost.
func stream(ctx context.Context, n int, send func() error, recv func(context.Context) error) (benchResult, error) {
	var got atomic.Int64
	var last atomic.Int64
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		for got.Load() < int64(n) {
			rctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			err := recv(rctx)
			cancel()
			if err != nil {
				return
			}
			got.Add(1)
			last.Store(time.Since(start).Nanoseconds())
		}
	}()
	for range n {
		if err := send(); err != nil {
			return benchResult{}, err
		}
	}
	<-done
	took := time.Duration(last.Load())
	if took <= 0 {
		return benchResult{Lost: n}, errors.New("nothing received")
	}
	return benchResult{Value: float64(got.Load()) / took.Seconds(), Lost: n - int(got.Load())}, nil
}

func rawPubSub(ctx context.Context, size, n int) (benchResult, error) {
	pub, sub, err := rawzmq.PubSub(ctx)
	if err != nil {
		return benchResult{}, err
	}
	defer pub.Close()
	defer sub.Close()
	msg := make([]byte, size)
	sub.SetRcvtimeo(500 * time.Millisecond)
	return stream(ctx, n,
		func() error { _, err := pub.SendBytes(msg, 0); return err },
		func(context.Context) error { _, err := sub.RecvBytes(0); return err })
}

func connPubSub(ctx context.Context, size, n int) (benchResult, error) {
	pub, err := connection.NewPublisher("@tcp://127.0.0.1:0", connection.WithLinger(0))
	if err != nil {
		return benchResult{}, err
	}
	defer pub.Close()
	sub, err := connection.NewSubscriber(pub.Endpoint(), connection.WithLinger(0))
	if err != nil {
		return benchResult{}, err
	}
	defer sub.Close()
	if err := pub.WaitSubscribers(ctx, "", 1); err != nil {
		return benchResult{}, err
	}
	msg := make([]byte, size)
	return stream(ctx, n,
		func() error { return pub.Send(ctx, msg) },
		func(c context.Context) error { _, err := sub.Recv(c); return err })
}

func msgPubSub(ctx context.Context, size, n int) (benchResult, error) {
	pub, err := messaging.NewPublisher("@tcp://127.0.0.1:0", messaging.WithConnectionOptions(connection.WithLinger(0)))
	if err != nil {
		return benchResult{}, err
	}
	defer pub.Close()
	m := echoOfSize(size)
	sub, err := messaging.NewSubscriber(pub.Endpoint(), messaging.WithTypes(m))
	if err != nil {
		return benchResult{}, err
	}
	defer sub.Close()
	if err := pub.WaitSubscribers(ctx, m, 1); err != nil {
		return benchResult{}, err
	}
	return stream(ctx, n,
		func() error { return pub.Send(ctx, m) },
		func(c context.Context) error { _, err := sub.Recv(c); return err })
}

// natsServer starts an embedded NATS server on a free loopback port.
func natsServer() (*server.Server, error) {
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoLog: true, NoSigs: true})
	if err != nil {
		return nil, err
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, errors.New("NATS server did not start")
	}
	return s, nil
}

func natsPubSub(ctx context.Context, size, n int) (benchResult, error) {
	s, err := natsServer()
	if err != nil {
		return benchResult{}, err
	}
	defer s.Shutdown()
	pc, err := nats.Connect(s.ClientURL())
	if err != nil {
		return benchResult{}, err
	}
	defer pc.Close()
	sc, err := nats.Connect(s.ClientURL())
	if err != nil {
		return benchResult{}, err
	}
	defer sc.Close()
	msgs := make(chan struct{}, 1024)
	sub, err := sc.Subscribe("bench", func(*nats.Msg) { msgs <- struct{}{} })
	if err != nil {
		return benchResult{}, err
	}
	sub.SetPendingLimits(-1, -1)
	sc.Flush()
	msg := make([]byte, size)
	return stream(ctx, n,
		func() error { return pc.Publish("bench", msg) },
		func(c context.Context) error {
			select {
			case <-msgs:
				return nil
			case <-c.Done():
				return c.Err()
			}
		})
}

// latencies runs rounds round trips of call and reports p50 and p99.
func latencies(rounds int, call func() error) (benchResult, error) {
	lat := make([]time.Duration, 0, rounds)
	for range rounds {
		start := time.Now()
		if err := call(); err != nil {
			return benchResult{}, err
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	return benchResult{Latency: true, Value: lat[len(lat)/2].Seconds(), P99: lat[len(lat)*99/100].Seconds()}, nil
}

func rawReqRep(ctx context.Context, rounds int) (benchResult, error) {
	e, err := rawzmq.ReqRep()
	if err != nil {
		return benchResult{}, err
	}
	defer e.Close()
	req := e.Req
	msg := make([]byte, 100)
	return latencies(rounds, func() error {
		if _, err := req.SendBytes(msg, 0); err != nil {
			return err
		}
		_, err := req.RecvBytes(0)
		return err
	})
}

func connReqRep(ctx context.Context, rounds int) (benchResult, error) {
	rep, err := connection.NewResponse("@tcp://127.0.0.1:0")
	if err != nil {
		return benchResult{}, err
	}
	defer rep.Close()
	req, err := connection.NewRequest(rep.Endpoint())
	if err != nil {
		return benchResult{}, err
	}
	defer req.Close()
	go echo(ctx, rep.Recv, func(ctx context.Context, m connection.Message) error { return rep.Send(ctx, m...) })
	msg := make([]byte, 100)
	return latencies(rounds, func() error { _, err := req.Call(ctx, msg); return err })
}

func msgReqRep(ctx context.Context, rounds int) (benchResult, error) {
	rep, err := messaging.NewResponse("@tcp://127.0.0.1:0")
	if err != nil {
		return benchResult{}, err
	}
	defer rep.Close()
	req, err := messaging.NewRequest(rep.Endpoint())
	if err != nil {
		return benchResult{}, err
	}
	defer req.Close()
	go echo(ctx, rep.Recv, rep.Send)
	m := echoOfSize(100)
	return latencies(rounds, func() error { _, err := req.Call(ctx, m); return err })
}

// echo answers every request with itself until recv fails (the
// responder is closed).
func echo[M any](ctx context.Context, recv func(context.Context) (M, error), send func(context.Context, M) error) {
	for {
		m, err := recv(ctx)
		if err != nil {
			return
		}
		send(ctx, m)
	}
}

func natsReqRep(ctx context.Context, rounds int) (benchResult, error) {
	s, err := natsServer()
	if err != nil {
		return benchResult{}, err
	}
	defer s.Shutdown()
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		return benchResult{}, err
	}
	defer nc.Close()
	rc, err := nats.Connect(s.ClientURL())
	if err != nil {
		return benchResult{}, err
	}
	defer rc.Close()
	rc.Subscribe("echo", func(m *nats.Msg) { m.Respond(m.Data) })
	rc.Flush()
	msg := make([]byte, 100)
	return latencies(rounds, func() error { _, err := nc.Request("echo", msg, 5*time.Second); return err })
}

func pythonBench(ctx context.Context, args ...string) (benchResult, error) {
	script, err := peerScript("bench_peer.py")
	if err != nil {
		return benchResult{}, err
	}
	out, err := exec.CommandContext(ctx, "/usr/bin/python3", append([]string{script}, args...)...).Output()
	if err != nil {
		return benchResult{}, fmt.Errorf("python peer: %v", err)
	}
	var r struct {
		Rate, P50, P99 float64
		Lost           int
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return benchResult{}, fmt.Errorf("python peer said %q", out)
	}
	if args[0] == "reqrep" {
		return benchResult{Latency: true, Value: r.P50, P99: r.P99}, nil
	}
	return benchResult{Value: r.Rate, Lost: r.Lost}, nil
}

// peerScript finds interop/python/<name> from the working directory up.
func peerScript(name string) (string, error) {
	dir, _ := os.Getwd()
	for {
		p := filepath.Join(dir, "interop", "python", name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("interop/python/%s not found (run from the repository)", name)
		}
		dir = parent
	}
}

func brokerBench(ctx context.Context, n int) (benchResult, error) {
	b, err := patterns.NewBroker("@tcp://127.0.0.1:0", "@tcp://127.0.0.1:0")
	if err != nil {
		return benchResult{}, err
	}
	defer b.Close()
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	for range 2 {
		w := patterns.NewWorker(b.Backend(), func(_ context.Context, req []byte) ([]byte, error) { return req, nil }, patterns.WithCapacity(64))
		wg.Add(1)
		go func() { defer wg.Done(); w.Run(wctx) }()
	}
	if err := b.WaitWorkers(ctx, 2); err != nil {
		return benchResult{}, err
	}
	c, err := patterns.NewClient(b.Frontend())
	if err != nil {
		return benchResult{}, err
	}
	defer c.Close()
	return parallel(ctx, n, 64, func() error { _, err := c.Request(ctx, []byte("0123456789abcdef")); return err })
}

// parallel makes n calls from g goroutines and reports calls/s.
func parallel(ctx context.Context, n, g int, call func() error) (benchResult, error) {
	var wg sync.WaitGroup
	var next atomic.Int64
	var first error
	var mu sync.Mutex
	start := time.Now()
	for range g {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if err := call(); err != nil {
					mu.Lock()
					first = cmpErr(first, err)
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return benchResult{}, first
	}
	return benchResult{Value: float64(n) / time.Since(start).Seconds()}, nil
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func reactorBench(ctx context.Context, n int) (benchResult, error) {
	router, err := messaging.NewRouter("@tcp://127.0.0.1:0")
	if err != nil {
		return benchResult{}, err
	}
	defer router.Close()
	r := messaging.NewReactor([]messaging.Endpoint{router})
	messaging.Handle(r, func(ctx context.Context, m *testpb.Echo, from messaging.Source) error { return from.Reply(ctx, m) })
	go r.Run(ctx)
	defer r.Shutdown(context.Background())
	d, err := messaging.NewDealer(router.Endpoint())
	if err != nil {
		return benchResult{}, err
	}
	defer d.Close()
	m := echoOfSize(100)
	start := time.Now()
	sent, got := 0, 0
	for got < n {
		for sent < n && sent-got < 64 {
			if err := d.Send(ctx, m); err != nil {
				return benchResult{}, err
			}
			sent++
		}
		if _, _, err := d.Recv(ctx); err != nil {
			return benchResult{}, err
		}
		got++
	}
	return benchResult{Value: float64(n) / time.Since(start).Seconds()}, nil
}

func lookupBench(ctx context.Context, n int) (benchResult, error) {
	s, err := registry.NewServer(registry.WithEndpoints("@tcp://127.0.0.1:0", "@tcp://127.0.0.1:0"))
	if err != nil {
		return benchResult{}, err
	}
	defer s.Close()
	var clients []*registry.Client
	for range 8 {
		c, err := registry.NewClient(registry.WithAddress(s.RequestEndpoint()))
		if err != nil {
			return benchResult{}, err
		}
		defer c.Close()
		clients = append(clients, c)
	}
	clients[0].Register(ctx, registry.Registration{Instance: registry.Instance{Service: "bench", Server: "127.0.0.1", Port: 1}})
	pool := make(chan *registry.Client, len(clients))
	for _, c := range clients {
		pool <- c
	}
	return parallel(ctx, n, len(clients), func() error {
		c := <-pool
		defer func() { pool <- c }()
		_, err := c.Lookup(ctx, "bench")
		return err
	})
}

// benchTable renders the results as a Markdown table with the machine's
// details and each result against raw libzmq.
func benchTable(rs []benchResult) string {
	var b strings.Builder
	maj, min, pat := zmq.Version()
	fmt.Fprintf(&b, "Machine: %s, %d cores, %s/%s, %s, libzmq %d.%d.%d; %s\n\n",
		cpuModel(), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version(), maj, min, pat, time.Now().UTC().Format("2006-01-02"))
	fmt.Fprintln(&b, "| workload | system | result | lost / p99 | vs raw libzmq |")
	fmt.Fprintln(&b, "|---|---|---|---|---|")
	raw := map[string]benchResult{}
	for _, r := range rs {
		if r.System == "raw libzmq" {
			raw[r.Workload] = r
		}
	}
	for _, r := range rs {
		if r.Err != "" {
			fmt.Fprintf(&b, "| %s | %s | error: %s | | |\n", r.Workload, r.System, r.Err)
			continue
		}
		res, extra, ratio := "", "", "—"
		base, ok := raw[r.Workload]
		if r.Latency {
			res = fmt.Sprintf("p50 %.0f µs", r.Value*1e6)
			extra = fmt.Sprintf("p99 %.0f µs", r.P99*1e6)
			if ok && base.Value > 0 {
				ratio = fmt.Sprintf("%.2f× the latency", r.Value/base.Value)
			}
		} else {
			res = fmt.Sprintf("%s msgs/s", human(r.Value))
			extra = fmt.Sprintf("%d lost", r.Lost)
			if ok && base.Value > 0 {
				ratio = fmt.Sprintf("%.0f%% of raw", 100*r.Value/base.Value)
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", r.Workload, r.System, res, extra, ratio)
	}
	return b.String()
}

func human(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2f M", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1f k", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

// benchSVG draws the throughput results as bars, one group per workload,
// each bar relative to the group's fastest.
func benchSVG(rs []benchResult) string {
	var groups []string
	byGroup := map[string][]benchResult{}
	for _, r := range rs {
		if r.Latency || r.Err != "" {
			continue
		}
		if _, ok := byGroup[r.Workload]; !ok {
			groups = append(groups, r.Workload)
		}
		byGroup[r.Workload] = append(byGroup[r.Workload], r)
	}
	// Latency as its own group, drawn as "round trips per second at p50".
	lat := []benchResult{}
	for _, r := range rs {
		if r.Latency && r.Err == "" && r.Value > 0 {
			lat = append(lat, benchResult{Workload: "req/rep round trips/s (1 / p50)", System: r.System, Value: 1 / r.Value})
		}
	}
	if len(lat) > 0 {
		groups = append(groups, lat[0].Workload)
		byGroup[lat[0].Workload] = lat
	}
	const width, barH, left = 760, 18, 190
	var b strings.Builder
	y := 30
	var body strings.Builder
	for _, g := range groups {
		fmt.Fprintf(&body, `<text x="10" y="%d" font-weight="bold">%s</text>`+"\n", y, g)
		y += 8
		bars := byGroup[g]
		maxV := 0.0
		for _, r := range bars {
			maxV = max(maxV, r.Value)
		}
		for _, r := range bars {
			w := int(float64(width-left-120) * r.Value / maxV)
			color := "#8a8a8a"
			if strings.HasPrefix(r.System, "dividere") {
				color = "#2b7bb9"
			}
			fmt.Fprintf(&body, `<text x="10" y="%d">%s</text><rect x="%d" y="%d" width="%d" height="%d" fill="%s"/><text x="%d" y="%d">%s/s</text>`+"\n",
				y+barH-4, r.System, left, y, w, barH-4, color, left+w+6, y+barH-4, human(r.Value))
			y += barH
		}
		y += 22
	}
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", width, y)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/><text x="10" y="16" font-size="14">dividere benchmark (higher is better; blue: dividere)</text>`+"\n")
	b.WriteString(body.String())
	b.WriteString("</svg>\n")
	return b.String()
}
