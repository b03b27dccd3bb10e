package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/internal/endpoint"
	"github.com/dividere-go/dividere/patterns"
)

// The failover scenario (`dividere demo failover`): two brokers, workers
// serving both, clients spreading requests over both; one broker is
// SIGKILLed under load and started again on the same endpoints. Every
// part is a process of its own: the brokers are `dividere broker`, the
// workers and clients this binary again, with -role.

// failoverConfig is one run of the scenario.
type failoverConfig struct {
	bin              string        // the dividere binary the processes run
	workers, clients int           // processes of each
	rate             int           // requests a second from each client
	timeout          time.Duration // a client's attempt timeout
	before, down     time.Duration // load before the kill; time the broker stays dead
	after            time.Duration // load once the restarted broker has its workers back
	say              func(format string, a ...any)
}

// Heartbeats of the scenario: a silent worker or broker is given up
// after a second, and sockets reconnect within half a second.
const (
	failoverBeat      = 200 * time.Millisecond
	failoverLiveness  = time.Second
	failoverReconnect = 500 * time.Millisecond
	// failoverWork is what a request costs its handler, so that a broker
	// killed under load leaves requests in the middle of being handled,
	// their replies on the way back through it.
	failoverWork = 2 * time.Millisecond
)

// failoverResult is what the scenario saw.
type failoverResult struct {
	Requests   int           // requests the clients made
	Answered   int           // answered with their own reply
	Duplicates int           // answers delivered to a caller a second time
	Wrong      int           // replies that were another request's
	Failed     int           // requests that ended in an error
	LongestGap time.Duration // the longest wait between two answers at one client
	Runs       int           // handler runs, in all
	// TwiceOnOneWorker counts requests one worker ran more than once;
	// OnTwoWorkers those that ran on more than one worker (a request its
	// client sent again after losing the broker that held it).
	TwiceOnOneWorker, OnTwoWorkers int
	Resent, Failovers              int // client attempts sent again; of them, those sent at once because their broker's connection broke
	Replayed                       int // resent requests a worker answered with the reply it kept
	// RestartedRequests counts the requests the restarted broker took
	// (its process counts from its start).
	RestartedRequests int
	Killed            string // the killed broker's front end
}

// line is the scenario's last line.
func (r failoverResult) line() string {
	return fmt.Sprintf("failover: answered %d/%d, duplicates %d, longest gap %d ms", r.Answered, r.Requests, r.Duplicates, r.LongestGap.Milliseconds())
}

// check returns what the run got wrong, against the guarantee
// (patterns' package doc): every request answered once, with its own
// reply; no worker ran a request twice; a request ran on two workers only
// if its client sent it again; answers kept coming within a second; the
// restarted broker took requests again.
func (r failoverResult) check() error {
	var errs []error
	if r.Requests == 0 || r.Answered != r.Requests || r.Failed > 0 {
		errs = append(errs, fmt.Errorf("answered %d of %d requests (%d failed)", r.Answered, r.Requests, r.Failed))
	}
	if r.Duplicates > 0 || r.Wrong > 0 {
		errs = append(errs, fmt.Errorf("%d answers delivered twice, %d replies to another request", r.Duplicates, r.Wrong))
	}
	if r.TwiceOnOneWorker > 0 {
		errs = append(errs, fmt.Errorf("%d requests ran twice on one worker", r.TwiceOnOneWorker))
	}
	if r.OnTwoWorkers > r.Resent {
		errs = append(errs, fmt.Errorf("%d requests ran on two workers, but only %d were sent again", r.OnTwoWorkers, r.Resent))
	}
	if r.LongestGap > time.Second {
		errs = append(errs, fmt.Errorf("a client waited %v between two answers", r.LongestGap.Round(time.Millisecond)))
	}
	if r.RestartedRequests == 0 {
		errs = append(errs, errors.New("the restarted broker took no request"))
	}
	return errors.Join(errs...)
}

// child is one process of the scenario; each line it prints goes to
// onLine, as it comes.
type child struct {
	name   string
	cmd    *exec.Cmd
	done   chan struct{}
	ready  chan string // the first line that starts with its ready prefix
	mu     sync.Mutex
	last   string // its last line
	stderr tail
}

// tail keeps the end of what a process wrote, for the error that says
// why it failed.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2048 {
		t.buf = t.buf[len(t.buf)-2048:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.buf))
}

// spawn starts bin with args as child name.
func spawn(name, bin, readyPrefix string, onLine func(string), args ...string) (*child, error) {
	c := &child{name: name, cmd: exec.Command(bin, args...), done: make(chan struct{}), ready: make(chan string, 1)}
	c.cmd.Env = append(os.Environ(), "DIVIDERE_ZMQ"+"="+connection.Engine())
	c.cmd.Stderr = &c.stderr
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	go func() {
		defer close(c.done)
		sc := bufio.NewScanner(out)
		readied := false
		for sc.Scan() {
			l := sc.Text()
			c.mu.Lock()
			c.last = l
			c.mu.Unlock()
			if !readied && strings.HasPrefix(l, readyPrefix) {
				readied = true
				c.ready <- l
			}
			if onLine != nil {
				onLine(l)
			}
		}
		io.Copy(io.Discard, out)
		c.cmd.Wait()
	}()
	return c, nil
}

// waitReady waits for the child's ready line.
func (c *child) waitReady(ctx context.Context) error {
	select {
	case <-c.ready:
		return nil
	case <-c.done:
		return fmt.Errorf("%s exited before it was ready: %s", c.name, c.stderr.String())
	case <-ctx.Done():
		return fmt.Errorf("%s not ready: %w", c.name, ctx.Err())
	}
}

// stop sends sig and waits for the process to end (killing it when it
// takes longer than d).
func (c *child) stop(sig syscall.Signal, d time.Duration) {
	c.cmd.Process.Signal(sig)
	select {
	case <-c.done:
	case <-time.After(d):
		c.cmd.Process.Kill()
		<-c.done
	}
}

// brokerProc is one broker of the scenario, on fixed ports, so that it
// can be started again where it was.
type brokerProc struct {
	name                  string
	front, back, httpAddr string
	proc                  *child
	requests, replies     int // from its "stopped:" line
	mu                    sync.Mutex
}

// scrapeClient keeps no connection open: a broker is read twice a second
// at most, and may be killed between two reads.
var scrapeClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

var stoppedLine = regexp.MustCompile(`Requests:(\d+) Replies:(\d+)`)

func (b *brokerProc) start(ctx context.Context, cfg failoverConfig) error {
	p, err := spawn("broker "+b.name, cfg.bin, "broker: clients on", func(l string) {
		if m := stoppedLine.FindStringSubmatch(l); m != nil {
			b.mu.Lock()
			b.requests, _ = strconv.Atoi(m[1])
			b.replies, _ = strconv.Atoi(m[2])
			b.mu.Unlock()
		}
	}, "broker", "-name", b.name, "-heartbeat", failoverBeat.String(), "-liveness", failoverLiveness.String(),
		"-client-timeout", cfg.timeout.String(), "-http", b.httpAddr, b.front, b.back)
	if err != nil {
		return err
	}
	b.proc = p
	return p.waitReady(ctx)
}

// scrape reads the broker's live workers and requests from its metrics.
func (b *brokerProc) scrape(ctx context.Context) (workers, requests int, err error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+b.httpAddr+"/metrics", nil)
	resp, err := scrapeClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		v, _ := strconv.ParseFloat(f[1], 64)
		switch {
		case strings.HasPrefix(f[0], "dividere_broker_workers{"):
			workers = int(v)
		case strings.HasPrefix(f[0], "dividere_broker_requests_total{"):
			requests = int(v)
		}
	}
	return workers, requests, sc.Err()
}

// waitWorkers waits until the broker knows n workers.
func (b *brokerProc) waitWorkers(ctx context.Context, n int) error {
	for {
		if w, _, err := b.scrape(ctx); err == nil && w >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("broker %s: waiting for %d workers: %w", b.name, n, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// tally gathers what the workers and clients print.
type tally struct {
	mu       sync.Mutex
	ran      map[string]map[string]int // request → worker → runs
	answers  map[string]int            // request → answers delivered
	answered int
	res      failoverResult
	done     int // clients that printed DONE
}

func (t *tally) workerLine(worker, l string) {
	key, ok := strings.CutPrefix(l, "RAN ")
	t.mu.Lock()
	defer t.mu.Unlock()
	if ok {
		if t.ran[key] == nil {
			t.ran[key] = map[string]int{}
		}
		t.ran[key][worker]++
		t.res.Runs++
		return
	}
	if rest, ok := strings.CutPrefix(l, "STATS "); ok {
		t.res.Replayed += field(rest, "replayed")
	}
}

func (t *tally) clientLine(l string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch verb, rest, _ := strings.Cut(l, " "); verb {
	case "ANS":
		t.answers[rest]++
		if t.answers[rest] > 1 {
			t.res.Duplicates++
		} else {
			t.answered++
		}
	case "WRONG":
		t.res.Wrong++
	case "FAIL":
		t.res.Failed++
	case "DONE":
		t.done++
		t.res.Requests += field(rest, "requests")
		t.res.Resent += field(rest, "resent")
		t.res.Failovers += field(rest, "failovers")
		t.res.LongestGap = max(t.res.LongestGap, time.Duration(field(rest, "gap_us"))*time.Microsecond)
	}
}

// field is the value of name=N among the words of s.
func field(s, name string) int {
	for _, w := range strings.Fields(s) {
		if v, ok := strings.CutPrefix(w, name+"="); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

// runFailover runs the scenario and returns what it saw; the error is
// for a scenario that could not run (a process that would not start),
// not for a guarantee broken (see failoverResult.check).
func runFailover(ctx context.Context, cfg failoverConfig) (failoverResult, error) {
	say := cfg.say
	var children []*child
	defer func() { // whatever happened, no process outlives the scenario
		for _, c := range children {
			c.cmd.Process.Kill()
			<-c.done
		}
	}()
	var brokers [2]*brokerProc
	for i, name := range []string{"a", "b"} {
		var ports [3]int
		for j := range ports {
			p, err := endpoint.FreePort("127.0.0.1")
			if err != nil {
				return failoverResult{}, err
			}
			ports[j] = p
		}
		brokers[i] = &brokerProc{name: name, front: fmt.Sprintf("tcp://127.0.0.1:%d", ports[0]),
			back: fmt.Sprintf("tcp://127.0.0.1:%d", ports[1]), httpAddr: fmt.Sprintf("127.0.0.1:%d", ports[2])}
		if err := brokers[i].start(ctx, cfg); err != nil {
			return failoverResult{}, err
		}
		children = append(children, brokers[i].proc)
		say("broker %s: clients on %s, workers on %s (pid %d)", name, brokers[i].front, brokers[i].back, brokers[i].proc.cmd.Process.Pid)
	}
	backs := brokers[0].back + "," + brokers[1].back
	fronts := brokers[0].front + "," + brokers[1].front
	t := &tally{ran: map[string]map[string]int{}, answers: map[string]int{}}

	var workers []*child
	for i := range cfg.workers {
		id := fmt.Sprintf("w%d", i)
		w, err := spawn("worker "+id, cfg.bin, "READY", func(l string) { t.workerLine(id, l) },
			"demo", "failover", "-role", "worker", "-brokers", backs, "-id", id)
		if err != nil {
			return failoverResult{}, err
		}
		children = append(children, w)
		workers = append(workers, w)
	}
	for _, w := range workers {
		if err := w.waitReady(ctx); err != nil {
			return failoverResult{}, err
		}
	}
	for _, b := range brokers {
		if err := b.waitWorkers(ctx, cfg.workers); err != nil {
			return failoverResult{}, err
		}
	}
	say("%d workers, each serving both brokers", cfg.workers)

	var clients []*child
	for i := range cfg.clients {
		id := fmt.Sprintf("c%d", i)
		c, err := spawn("client "+id, cfg.bin, "READY", t.clientLine,
			"demo", "failover", "-role", "client", "-brokers", fronts, "-id", id,
			"-rate", strconv.Itoa(cfg.rate), "-timeout", cfg.timeout.String())
		if err != nil {
			return failoverResult{}, err
		}
		children = append(children, c)
		clients = append(clients, c)
	}
	for _, c := range clients {
		if err := c.waitReady(ctx); err != nil {
			return failoverResult{}, err
		}
	}
	say("%d clients, each sending %d requests a second, spread over both brokers", cfg.clients, cfg.rate)

	start := time.Now()
	answered := func() int {
		t.mu.Lock()
		defer t.mu.Unlock()
		return t.answered
	}
	// load runs for d, saying how it goes every half second.
	load := func(d time.Duration) error {
		end := time.Now().Add(d)
		for {
			left := time.Until(end)
			if left <= 0 {
				return nil
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(min(left, 500*time.Millisecond)):
			}
			var through []string
			for _, b := range brokers {
				if _, n, err := b.scrape(ctx); err == nil {
					through = append(through, fmt.Sprintf("%s %d", b.name, n))
				} else {
					through = append(through, b.name+" down")
				}
			}
			say("  %5.1fs  answered %6d   requests through broker %s", time.Since(start).Seconds(), answered(), strings.Join(through, ", "))
		}
	}
	if err := load(cfg.before); err != nil {
		return failoverResult{}, err
	}
	victim := brokers[0]
	victim.proc.cmd.Process.Signal(syscall.SIGKILL)
	<-victim.proc.done
	say("SIGKILL broker %s (pid %d), with %d answered so far", victim.name, victim.proc.cmd.Process.Pid, answered())
	if err := load(cfg.down); err != nil {
		return failoverResult{}, err
	}
	if err := victim.start(ctx, cfg); err != nil {
		return failoverResult{}, err
	}
	children = append(children, victim.proc)
	say("broker %s started again on %s, %s (pid %d)", victim.name, victim.front, victim.back, victim.proc.cmd.Process.Pid)
	if err := victim.waitWorkers(ctx, cfg.workers); err != nil {
		return failoverResult{}, err
	}
	say("broker %s has its %d workers back", victim.name, cfg.workers)
	if err := load(cfg.after); err != nil {
		return failoverResult{}, err
	}

	say("stopping the clients (each finishes the request in hand)")
	for _, c := range clients {
		c.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, c := range clients {
		select {
		case <-c.done:
		case <-ctx.Done():
			return failoverResult{}, fmt.Errorf("%s did not stop: %w", c.name, ctx.Err())
		}
	}
	for _, w := range workers {
		w.stop(syscall.SIGTERM, 10*time.Second)
	}
	for _, b := range brokers {
		b.proc.stop(syscall.SIGTERM, 10*time.Second)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	res := t.res
	res.Answered = t.answered
	res.Killed = victim.front
	if t.done != len(clients) {
		return res, fmt.Errorf("%d of %d clients said how they did", t.done, len(clients))
	}
	for _, by := range t.ran {
		if len(by) > 1 {
			res.OnTwoWorkers++
		}
		for _, n := range by {
			if n > 1 {
				res.TwiceOnOneWorker++
			}
		}
	}
	victim.mu.Lock()
	res.RestartedRequests = victim.requests
	victim.mu.Unlock()
	say("handler runs %d; twice on one worker %d; on two workers %d (requests sent again %d, %d of them at once when their broker's connection broke; %d answered with a kept reply)",
		res.Runs, res.TwiceOnOneWorker, res.OnTwoWorkers, res.Resent, res.Failovers, res.Replayed)
	say("the restarted broker %s took %d requests", victim.name, res.RestartedRequests)
	return res, nil
}

// failoverWorker is one worker process of the scenario: it serves every
// broker it is given and says RAN for every request its handler runs.
func failoverWorker(ctx context.Context, e *env, brokers, id string) error {
	var mu sync.Mutex
	w, err := patterns.NewWorker(brokers, func(ctx context.Context, req []byte) ([]byte, error) {
		mu.Lock()
		fmt.Fprintf(e.out, "RAN %s\n", req)
		mu.Unlock()
		work := time.NewTimer(failoverWork)
		defer work.Stop()
		select {
		case <-work.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return fmt.Appendf(nil, "%s %s", req, id), nil
	}, patterns.WithIdentity(id), patterns.WithHeartbeat(failoverBeat, failoverLiveness),
		patterns.WithReconnectBackoffMax(failoverReconnect), patterns.WithLogger(e.log),
		patterns.WithConnectionOptions(connection.WithReconnectInterval(100*time.Millisecond, failoverReconnect)))
	if err != nil {
		return usageError{err.Error()}
	}
	fmt.Fprintln(e.out, "READY", id)
	err = w.Serve(ctx)
	st := w.Stats()
	mu.Lock()
	fmt.Fprintf(e.out, "STATS handled=%d replayed=%d evicted=%d reconnects=%d\n", st.Handled, st.Replayed, st.Evicted, st.Reconnects)
	mu.Unlock()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// failoverClient is one client process of the scenario: rate requests a
// second, one at a time, each "<id>-<n>", until ctx ends; it finishes the
// request in hand, then says how it did.
func failoverClient(ctx context.Context, e *env, brokers, id string, rate int, timeout time.Duration) error {
	const retries = 100 // a request is never given up while a broker is down
	c, err := patterns.NewClient(brokers, patterns.WithRetry(timeout, retries, 0), patterns.WithLogger(e.log),
		patterns.WithConnectionOptions(connection.WithReconnectInterval(100*time.Millisecond, failoverReconnect)))
	if err != nil {
		return usageError{err.Error()}
	}
	defer c.Close()
	fmt.Fprintln(e.out, "READY", id)
	tick := time.NewTicker(time.Second / time.Duration(max(rate, 1)))
	defer tick.Stop()
	var requests int
	var gap time.Duration
	var last time.Time
	for ctx.Err() == nil {
		key := fmt.Sprintf("%s-%d", id, requests)
		requests++
		// Not ctx: a request begun is finished, whatever stops the client.
		rctx, cancel := context.WithTimeout(context.Background(), time.Duration(retries+1)*timeout)
		rep, err := c.Request(rctx, []byte(key))
		cancel()
		now := time.Now()
		switch {
		case err != nil:
			fmt.Fprintf(e.out, "FAIL %s %v\n", key, err)
		case !strings.HasPrefix(string(rep), key+" "):
			fmt.Fprintf(e.out, "WRONG %s %q\n", key, rep)
		default:
			fmt.Fprintf(e.out, "ANS %s\n", key)
			if !last.IsZero() {
				gap = max(gap, now.Sub(last))
			}
			last = now
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
	st := c.Stats()
	fmt.Fprintf(e.out, "DONE requests=%d resent=%d failovers=%d late=%d gap_us=%d\n", requests, st.Resent, st.Failovers, st.Late, gap.Microseconds())
	return nil
}
