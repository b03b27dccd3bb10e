// Command bench compares dividere with what people use today, measured
// the way they deploy: each side of every workload runs in a process of
// its own (children of this one), NATS runs its server in a process of
// its own, and every system is measured in the same run, the repetitions
// interleaved, so that ratios are taken per repetition on the same
// machine state.
//
//	go run . -out .          # from bench/: writes results.md, results.json, results.svg
//	go run . -only pub/sub   # some workloads only
//	go run . -only "8 requesters" -systems Reactor -reps 15   # an A/B of two systems
//	BENCH_PROFILE=/tmp/p go run . -only "pub/sub 100" -systems "messaging,NATS"   # CPU profiles of the children
//	go run . -systems "raw libzmq,raw Go engine,zmq_proxy,Go engine proxy"   # libzmq against the pure-Go engine
//	go run . -only "64 B" -reps 9   # request/reply in a user's shape (9 responders, a deadline per call), and each part alone
//
// The dividere rows run on the engine of this process's environment,
// which its children inherit: the pure-Go engine (internal/zmtp) unless
// DIVIDERE_ZMQ says otherwise. The raw libzmq rows are libzmq (pebbe/zmq4)
// whatever DIVIDERE_ZMQ says; DIVIDERE_ZMQ=libzmq is for a build with
// -tags libzmq, and in any other the run refuses to start.
//
// Besides each system's rate or latency, every row says what a message or
// request cost in CPU time (all processes it crossed, every thread, from
// /proc), how much of that libzmq's I/O threads spent, and how many thread
// switches it took: what bounds throughput on few cores, and what a
// thread-per-hop transport pays for on a virtual machine; and each child
// process's peak resident memory.
//
// It is its own module, so that nats-server and gRPC never enter the
// graph of a program that uses dividere.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/dividere-go/dividere/connection"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "child" {
		os.Exit(child(os.Args[2:]))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	o, err := parseFlags()
	if err == nil {
		err = run(ctx, o, os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// options of one run.
type options struct {
	reps     int
	n, n1k   int
	rounds   int
	duration time.Duration
	only     string
	systems  string
	python   bool
	out      string
}

func parseFlags() (options, error) {
	var o options
	flag.IntVar(&o.reps, "reps", 3, "repetitions of every measurement, interleaved")
	flag.IntVar(&o.n, "n", 500_000, "messages per pub/sub run at 100 B")
	flag.IntVar(&o.n1k, "n1k", 200_000, "messages per pub/sub run at 1 KiB")
	flag.IntVar(&o.rounds, "rounds", 5000, "round trips per latency run")
	flag.DurationVar(&o.duration, "duration", 2*time.Second, "length of each concurrent request/reply run")
	flag.StringVar(&o.only, "only", "", "run only the workloads whose name contains this")
	flag.StringVar(&o.systems, "systems", "", "run only the systems whose name contains this, or one of these comma-separated parts (for a dedicated A/B run; a ratio needs its reference among them)")
	flag.BoolVar(&o.python, "python", true, "include the Python (pyzmq) peer")
	flag.StringVar(&o.out, "out", "", "directory for results.md, results.json and results.svg (default: print only)")
	flag.Parse()
	if o.reps < 1 || o.n < 1 || o.n1k < 1 || o.rounds < 10 || o.duration <= 0 {
		return o, errors.New("-reps, -n, -n1k, -rounds and -duration must be positive (-rounds at least 10)")
	}
	return o, nil
}

func run(ctx context.Context, o options, stdout io.Writer) error {
	if connection.Engine() == "" {
		// Every dividere row would fail with connection.ErrEngine.
		return fmt.Errorf("%s=%q names no engine this build has (the libzmq engine needs -tags libzmq)", "DIVIDERE_ZMQ", os.Getenv("DIVIDERE_ZMQ"))
	}
	natsURL, stopNATS, err := startNATS(ctx)
	if err != nil {
		return fmt.Errorf("nats-server: %w", err)
	}
	defer stopNATS()
	work := workloads(o, natsURL)
	if o.only != "" {
		work = slices.DeleteFunc(work, func(w workload) bool { return !strings.Contains(w.name, o.only) })
	}
	if o.systems != "" {
		for i := range work {
			work[i].systems = slices.DeleteFunc(work[i].systems, func(s system) bool {
				return !slices.ContainsFunc(strings.Split(o.systems, ","), func(part string) bool { return strings.Contains(s.name, part) })
			})
		}
		work = slices.DeleteFunc(work, func(w workload) bool { return len(w.systems) == 0 })
	}
	if len(work) == 0 {
		return errors.New("no workload matches -only and -systems")
	}
	total := 0
	for _, w := range work {
		total += len(w.systems) * o.reps
	}
	res := &results{Started: time.Now().UTC().Format(time.RFC3339), Host: hostInfo(), Engine: connection.Engine()}
	done := 0
	for rep := range o.reps {
		cal := calibrate()
		res.Calibration = append(res.Calibration, cal.Seconds()*1000)
		for _, w := range work {
			for _, sys := range w.systems {
				done++
				progress(done, total, fmt.Sprintf("rep %d/%d: %s, %s", rep+1, o.reps, w.name, sys.name))
				cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
				m, err := sys.run(cctx)
				cancel()
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if err != nil {
					m.Err = err.Error()
				}
				m.Workload, m.System, m.Rep = w.name, sys.name, rep
				res.Runs = append(res.Runs, m)
			}
		}
	}
	progress(total, total, "done")
	fmt.Fprintln(os.Stderr)
	table := res.markdown(work)
	fmt.Fprint(stdout, table)
	if o.out == "" {
		return nil
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	js, _ := json.MarshalIndent(res, "", "  ")
	for name, body := range map[string][]byte{"results.json": js, "results.md": []byte(table), "results.svg": []byte(res.svg(work))} {
		if err := os.WriteFile(filepath.Join(o.out, name), body, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// progress draws a one-line progress bar on standard error.
func progress(done, total int, what string) {
	const width = 30
	filled := width * done / max(total, 1)
	fmt.Fprintf(os.Stderr, "\r\033[K[%s%s] %3d%% %s", strings.Repeat("#", filled), strings.Repeat(".", width-filled), 100*done/max(total, 1), what)
}

// calibrate times a fixed CPU-bound loop: printed per repetition, it
// shows whether the machine was as fast in every one.
func calibrate() time.Duration {
	buf := make([]byte, 1024)
	start := time.Now()
	for i := range 50_000 {
		buf[0] = byte(i)
		s := sha256.Sum256(buf)
		buf[1] = s[0]
	}
	return time.Since(start)
}

func hostInfo() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	model := ""
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "model name") {
			model = strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
			break
		}
	}
	n := 0
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "processor") {
			n++
		}
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	major, minor, patch := zmq.Version()
	return fmt.Sprintf("%d cores, %s; Linux %s; %s; libzmq %d.%d.%d (raw libzmq rows)", n, model, strings.TrimSpace(string(kernel)), runtime.Version(), major, minor, patch)
}

// proc is a child process of this binary, speaking the line protocol:
// it prints "READY [words]" once set up, may wait for "GO" on its
// standard input, and prints "RESULT {json}" at the end.
type proc struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	lines  chan string
	ready  []string
	done   chan struct{}
	stderr *tailBuffer
}

// tailBuffer keeps the end of what a child wrote to standard error, to
// say why it failed.
type tailBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > 4096 {
		t.b = t.b[len(t.b)-4096:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.b))
}

// spawn starts a child with args (or, with a script path first, a
// Python child) and waits for its READY line.
func spawn(ctx context.Context, args ...string) (*proc, error) {
	var cmd *exec.Cmd
	if strings.HasSuffix(args[0], ".py") {
		cmd = exec.CommandContext(ctx, "/usr/bin/python3", args...)
	} else {
		cmd = exec.CommandContext(ctx, os.Args[0], append([]string{"child"}, args...)...)
	}
	tail := &tailBuffer{}
	cmd.Stderr = tail
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, in: in, lines: make(chan string, 16), done: make(chan struct{}), stderr: tail}
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
	}()
	go func() { cmd.Wait(); close(p.done) }()
	l, err := p.expect(ctx, "READY")
	if err != nil {
		p.kill()
		return nil, fmt.Errorf("%v: %w", args, err)
	}
	p.ready = strings.Fields(l)[1:]
	return p, nil
}

// expect waits for a line starting with prefix.
func (p *proc) expect(ctx context.Context, prefix string) (string, error) {
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				<-p.done
				return "", fmt.Errorf("exited (%v) before %s: %s", p.cmd.ProcessState, prefix, lastLine(p.stderr.String()))
			}
			if strings.HasPrefix(l, prefix) {
				return l, nil
			}
			if strings.HasPrefix(l, "ERR") {
				return "", errors.New(l)
			}
		case <-ctx.Done():
			return "", fmt.Errorf("no %s: %w", prefix, ctx.Err())
		}
	}
}

func lastLine(s string) string {
	lines := strings.Split(s, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], "panic") || strings.Contains(lines[i], "fatal") || strings.Contains(lines[i], "SIG") {
			return strings.Join(lines[i:min(i+3, len(lines))], " | ")
		}
	}
	return lines[len(lines)-1]
}

// result waits for the child's RESULT line and decodes it.
func (p *proc) result(ctx context.Context, v any) error {
	l, err := p.expect(ctx, "RESULT")
	if err != nil {
		return err
	}
	return json.Unmarshal([]byte(strings.TrimPrefix(l, "RESULT ")), v)
}

func (p *proc) say(line string) { io.WriteString(p.in, line+"\n") }

// kill ends the child and waits for it: closing its standard input
// ends it, and what has not ended a second later is killed.
func (p *proc) kill() {
	p.in.Close()
	select {
	case <-p.done:
	case <-time.After(time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// startNATS runs nats-server in a child process of its own.
func startNATS(ctx context.Context) (string, func(), error) {
	p, err := spawn(ctx, "nats-server")
	if err != nil {
		return "", nil, err
	}
	natsServer = p
	return p.ready[0], p.kill, nil
}

// natsServer is the nats-server child, whose CPU time counts in NATS's
// rows: it is one of the processes a message crosses.
var natsServer *proc

// cpu returns the CPU time (user and system, every thread: libzmq's I/O
// threads too) the process has used so far, from /proc, in clock ticks
// of 10 ms (Linux's USER_HZ); false when it cannot be read (the process
// is gone).
func (p *proc) cpu() (time.Duration, bool) {
	if p == nil || p.cmd.Process == nil {
		return 0, false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0, false
	}
	_, c, ok := statCPU(b)
	return c, ok
}

// statCPU reads a /proc stat line (of a process or of one of its
// threads): its command name and its CPU time, user and system, in
// clock ticks of 10 ms (Linux's USER_HZ).
func statCPU(b []byte) (comm string, cpu time.Duration, ok bool) {
	// The command name (field 2) may hold spaces and parentheses; the
	// fields after it start at its last closing parenthesis: utime and
	// stime are 14 and 15.
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return "", 0, false
	}
	f := strings.Fields(string(b[end+1:]))
	if len(f) < 13 {
		return "", 0, false
	}
	ut, _ := strconv.Atoi(f[11])
	st, _ := strconv.Atoi(f[12])
	return string(b[open+1 : end]), time.Duration(ut+st) * 10 * time.Millisecond, true
}

// ioThreadCPU returns the CPU time that process pid's libzmq I/O threads
// (which libzmq names ZMQbg/IO/0, 1, …) have used so far. Each message
// crosses one on each side: it is the part of a ZeroMQ row's CPU that a
// design without I/O threads (nats.go, gRPC-Go, which read and write
// from goroutines) does not spend.
func ioThreadCPU(pid int) time.Duration {
	var d time.Duration
	eachThread(pid, "stat", func(b []byte) {
		if comm, c, ok := statCPU(b); ok && strings.HasPrefix(comm, "ZMQbg/IO/") {
			d += c
		}
	})
	return d
}

// eachThread calls f with the /proc file name of every live thread of
// process pid; a thread that ends meanwhile is skipped.
func eachThread(pid int, name string, f func(b []byte)) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, _ := os.ReadDir(dir)
	for _, t := range tasks {
		if b, err := os.ReadFile(filepath.Join(dir, t.Name(), name)); err == nil {
			f(b)
		}
	}
}

func (p *proc) ioCPU() time.Duration {
	if p == nil || p.cmd.Process == nil {
		return 0
	}
	return ioThreadCPU(p.cmd.Process.Pid)
}

// switches returns how many times the process's threads have been
// switched off a CPU so far (voluntarily, to wait, or not), from /proc:
// on a virtual machine each costs microseconds of CPU and of latency,
// and they are what most separates a thread-per-hop design (libzmq's
// I/O threads) from goroutines. Threads that have ended are not counted.
func (p *proc) switches() int {
	if p == nil || p.cmd.Process == nil {
		return 0
	}
	n := 0
	eachThread(p.cmd.Process.Pid, "status", func(b []byte) {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasSuffix(strings.Fields(l + " x")[0], "ctxt_switches:") {
				v, _ := strconv.Atoi(strings.TrimSpace(l[strings.IndexByte(l, ':')+1:]))
				n += v
			}
		}
	})
	return n
}

// peakRSS returns the most memory the process has held resident so far
// (VmHWM in /proc/<pid>/status), in MiB; 0 when it cannot be read.
func (p *proc) peakRSS() float64 {
	if p == nil || p.cmd.Process == nil {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	return vmHWM(b)
}

// vmHWM reads the VmHWM line of a /proc status file, in MiB.
func vmHWM(status []byte) float64 {
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return float64(kb) / 1024
		}
	}
	return 0
}

// usage is what a set of processes used between two points.
type usage struct {
	procs []*proc
	cpu0  []time.Duration
	sw0   []int
	io0   []time.Duration
	ok    bool
}

func startUsage(procs ...*proc) *usage {
	u := &usage{procs: procs, ok: true}
	for _, p := range procs {
		c, ok := p.cpu()
		u.cpu0 = append(u.cpu0, c)
		u.ok = u.ok && ok
		u.sw0 = append(u.sw0, p.switches())
		u.io0 = append(u.io0, p.ioCPU())
	}
	return u
}

// per sets m's CPU, IOCPU and Switches, in all and by process, for n messages
// or requests, or nothing when one of the processes could not be read.
func (u *usage) per(m *measurement, n int) {
	if n <= 0 || !u.ok {
		return
	}
	var by, swBy []float64
	var io time.Duration
	for i, p := range u.procs {
		c, ok := p.cpu()
		if !ok {
			return
		}
		by = append(by, (c-u.cpu0[i]).Seconds()/float64(n))
		swBy = append(swBy, float64(p.switches()-u.sw0[i])/float64(n))
		io += p.ioCPU() - u.io0[i]
	}
	m.CPUBy, m.SwitchesBy = by, swBy
	for _, p := range u.procs {
		// nats-server serves every NATS row of the run: its peak is the
		// run's, not this row's.
		rss := 0.0
		if p != natsServer {
			rss = p.peakRSS()
		}
		m.RSSBy = append(m.RSSBy, rss)
	}
	m.IOCPU = io.Seconds() / float64(n)
	for i := range by {
		m.CPU += by[i]
		m.Switches += swBy[i]
	}
}

// pythonPeer is the Python side's script.
func pythonPeer() (string, error) {
	dir, _ := os.Getwd()
	for {
		p := filepath.Join(dir, "interop", "python", "bench_peer.py")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("interop/python/bench_peer.py not found (run from the repository)")
		}
		dir = parent
	}
}
