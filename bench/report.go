package main

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// results is one whole run.
type results struct {
	Started     string        `json:"started"`
	Host        string        `json:"host"`
	Engine      string        `json:"dividere_engine,omitempty"` // the engine the dividere rows ran on (connection.Engine)
	Calibration []float64     `json:"calibration_ms"`            // the CPU loop, per repetition
	Runs        []measurement `json:"runs"`
}

// headline is the figure a row is judged by: p50 for latency workloads,
// the rate otherwise.
func (w workload) headline(m measurement) float64 {
	if w.latency {
		return m.P50
	}
	return m.Rate
}

func (r *results) of(workload, system string) []measurement {
	var out []measurement
	for _, m := range r.Runs {
		if m.Workload == workload && m.System == system {
			out = append(out, m)
		}
	}
	return out
}

// ratios are system / ref per repetition, for the repetitions where both
// ran.
func (r *results) ratios(w workload, system, ref string) []float64 {
	refs := map[int]float64{}
	for _, m := range r.of(w.name, ref) {
		if m.Err == "" {
			refs[m.Rep] = w.headline(m)
		}
	}
	var out []float64
	for _, m := range r.of(w.name, system) {
		if v, ok := refs[m.Rep]; ok && m.Err == "" && v > 0 {
			out = append(out, w.headline(m)/v)
		}
	}
	return out
}

func spread(v []float64) (med, lo, hi float64) {
	if len(v) == 0 {
		return math.NaN(), math.NaN(), math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	med = s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return med, s[0], s[n-1]
}

func (w workload) format(v float64) string {
	if math.IsNaN(v) {
		return "—"
	}
	if w.latency {
		return fmt.Sprintf("%.1f µs", v*1e6)
	}
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

func ratioText(v []float64) string {
	if len(v) == 0 {
		return ""
	}
	med, lo, hi := spread(v)
	return fmt.Sprintf("%.2f× [%.2f–%.2f]", med, lo, hi)
}

func (r *results) markdown(work []workload) string {
	var b strings.Builder
	reps := 0
	for _, m := range r.Runs {
		reps = max(reps, m.Rep+1)
	}
	fmt.Fprintf(&b, "# dividere against raw libzmq, NATS, gRPC and Python\n\n")
	fmt.Fprintf(&b, "%s; %s. Every side in its own process, nats-server in its own; %d repetitions, interleaved; ", r.Started, r.Host, reps)
	fmt.Fprintf(&b, "figures are median [min–max] over the repetitions, ratios are taken per repetition. ")
	fmt.Fprintf(&b, "CPU calibration loop per repetition (drift check): %s ms. ", joinFloats(r.Calibration))
	fmt.Fprintf(&b, "Cores busy is the rate times the CPU per message or request: how many cores the processes on the way kept busy. ")
	fmt.Fprintf(&b, "Where it nears the machine's cores, the row is bound by CPU, and its rate is about the cores divided by its CPU per message. ")
	fmt.Fprintf(&b, "I/O threads is the share of that CPU spent in libzmq's I/O threads (ZMQbg/IO/n, one per process on each side): the raw libzmq, libzmq zmq_proxy, raw libzmq broker and Python rows have them; systems that read and write from goroutines (NATS, gRPC, dividere's pure-Go engine) do not. ")
	engine := "the pure-Go engine"
	if r.Engine == "libzmq" {
		engine = "libzmq (DIVIDERE_ZMQ=libzmq, a -tags libzmq build)"
	}
	fmt.Fprintf(&b, "Peak RSS is each child process's VmHWM (/proc/<pid>/status) at the end of its run, the median over the repetitions; nats-server's shows as shared, as it serves every NATS row of the run. ")
	fmt.Fprintf(&b, "The dividere rows ran on %s; the raw Go engine rows use that engine's sockets directly, the raw libzmq rows pebbe/zmq4.\n\n", engine)
	for _, w := range work {
		unit := "msgs/s"
		if w.latency {
			unit = "p50 (p99)"
		} else if w.requests() {
			unit = "req/s (p50)"
		}
		throughput := !w.latency && !w.requests()
		per, split, rssSplit := "req", "requester + responder (+ server)", "requester + responder"
		switch {
		case throughput:
			per, split, rssSplit = "msg", "publisher + subscriber (+ server)", "publisher + subscriber"
		case strings.HasPrefix(w.name, "load"):
			split, rssSplit = "clients + broker or server + workers", "clients + broker or server + workers"
		case strings.HasPrefix(w.name, "name service"):
			split, rssSplit = "clients + name service", "clients + name service"
		}
		fmt.Fprintf(&b, "## %s\n\n| system | %s | ratio | lost | CPU µs/%s: median, and the median run's %s | cores busy | I/O threads | thread switches/%s | peak RSS MiB: %s |\n|---|---|---|---|---|---|---|---|---|\n",
			w.name, unit, per, split, per, rssSplit)
		for _, s := range w.systems {
			runs := r.of(w.name, s.name)
			var vals, p99s, p50s, cpus, busy, ios, sws []float64
			var by, swBy, rss [][]float64 // per run, per process
			lost, errs := 0, []string{}
			for _, m := range runs {
				if m.Err != "" {
					errs = append(errs, m.Err)
					continue
				}
				vals = append(vals, w.headline(m))
				p99s = append(p99s, m.P99)
				p50s = append(p50s, m.P50)
				if m.CPU > 0 {
					cpus = append(cpus, m.CPU*1e6)
					busy = append(busy, m.CPU*m.Rate)
					ios = append(ios, 100*m.IOCPU/m.CPU)
					by = append(by, m.CPUBy)
					sws = append(sws, m.Switches)
					swBy = append(swBy, m.SwitchesBy)
				}
				if len(m.RSSBy) > 0 {
					rss = append(rss, m.RSSBy)
				}
				lost = max(lost, m.Lost)
			}
			med, lo, hi := spread(vals)
			cell := fmt.Sprintf("%s [%s–%s]", w.format(med), w.format(lo), w.format(hi))
			if w.latency {
				p, _, _ := spread(p99s)
				cell += fmt.Sprintf(" (%s)", w.format(p))
			} else if strings.Contains(unit, "p50") {
				p, _, _ := spread(p50s)
				cell += fmt.Sprintf(" (%.0f µs)", p*1e6)
			}
			ratio := ""
			if ref := w.refs[s.name]; ref != "" {
				if v := r.ratios(w, s.name, ref); len(v) > 0 {
					ratio = ratioText(v) + " vs " + ref
				}
			}
			for _, other := range alsoVs[s.name] {
				if v := r.ratios(w, s.name, other); len(v) > 0 {
					if ratio != "" {
						ratio += "; "
					}
					ratio += ratioText(v) + " vs " + other
				}
			}
			if w.base != "" {
				if v := r.crossRatios(w, s.name); len(v) > 0 {
					if ratio != "" {
						ratio += "; "
					}
					ratio += ratioText(v) + " vs itself with " + w.baseWhat()
				}
			}
			lostCell := ""
			if throughput {
				lostCell = fmt.Sprint(lost)
				if lost > 0 {
					lostCell += " (worst run)"
				}
			}
			if len(errs) > 0 {
				lostCell += " errors: " + strings.Join(errs, "; ")
			}
			c, cores, io, sw := "", "", "", ""
			if len(cpus) > 0 {
				bm, blo, bhi := spread(busy)
				cores = fmt.Sprintf("%.2f [%.2f–%.2f]", bm, blo, bhi)
				im, ilo, ihi := spread(ios)
				io = fmt.Sprintf("%.0f%% [%.0f–%.0f]", im, ilo, ihi)
				med, lo, hi := spread(cpus)
				c = fmt.Sprintf("%.1f [%.1f–%.1f]", med, lo, hi)
				c += medianSplit(cpus, med, by, func(v float64) string { return fmt.Sprintf("%.1f", v*1e6) })
				m, _, _ := spread(sws)
				sw = switchText(m) + medianSplit(sws, m, swBy, switchText)
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", s.name, cell, ratio, lostCell, c, cores, io, sw, rssText(rss))
		}
		b.WriteString("\n")
	}
	b.WriteString(r.shapeTable(work))
	b.WriteString("Regenerate with `make benchsuite` (or `cd bench && go run . -out .`).\n")
	return b.String()
}

// rssText is the median over the runs of each process's peak RSS, as
// "a + b + …" in MiB ("—" for nats-server, shared by the run's rows).
func rssText(rss [][]float64) string {
	if len(rss) == 0 {
		return ""
	}
	var parts []string
	for i := range rss[0] {
		var v []float64
		for _, run := range rss {
			if i < len(run) {
				v = append(v, run[i])
			}
		}
		med, _, _ := spread(v)
		if med == 0 {
			parts = append(parts, "shared")
			continue
		}
		parts = append(parts, fmt.Sprintf("%.0f", med))
	}
	return strings.Join(parts, " + ")
}

// baseWhat says what the base workload of a varied one has: its name
// after the part both share ("req/rep 64 B, ").
func (w workload) baseWhat() string {
	if i := strings.Index(w.base, ", "); i >= 0 {
		return w.base[i+2:]
	}
	return w.base
}

// crossRatios are a system's headline on w over its headline on w's base
// workload, per repetition: what w's variation costs that system.
func (r *results) crossRatios(w workload, system string) []float64 {
	base := map[int]float64{}
	for _, m := range r.of(w.base, system) {
		if m.Err == "" {
			base[m.Rep] = w.headline(m)
		}
	}
	var out []float64
	for _, m := range r.of(w.name, system) {
		if v, ok := base[m.Rep]; ok && m.Err == "" && v > 0 {
			out = append(out, w.headline(m)/v)
		}
	}
	return out
}

// shapeTable sums up the varied workloads: per system, each variation's
// p50 over the same system's on the base workload (median [min–max] of
// the per-repetition ratios), so that a column says what that part costs
// each system, and the rows show whom it costs more.
func (r *results) shapeTable(work []workload) string {
	var varied []workload
	for _, w := range work {
		if w.base != "" {
			varied = append(varied, w)
		}
	}
	if len(varied) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "## What each part of the shape costs\n\nEach cell: a system's headline (p50) with that part over its own with %s, per repetition.\n\n| system |", varied[0].baseWhat())
	for _, w := range varied {
		fmt.Fprintf(&b, " %s |", w.part)
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(varied)) + "\n")
	var names []string
	for _, w := range varied {
		for _, s := range w.systems {
			if !slices.Contains(names, s.name) {
				names = append(names, s.name)
			}
		}
	}
	for _, n := range names {
		fmt.Fprintf(&b, "| %s |", n)
		for _, w := range varied {
			fmt.Fprintf(&b, " %s |", ratioText(r.crossRatios(w, n)))
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
	return b.String()
}

// medianSplit returns " = a + b + …": by process, the figures of the
// run whose total is the median med (none when no run's is, as with an
// even number of runs, or with one process).
func medianSplit(totals []float64, med float64, by [][]float64, format func(float64) string) string {
	for i, v := range totals {
		if v == med && len(by[i]) > 1 {
			parts := make([]string, len(by[i]))
			for j, p := range by[i] {
				parts[j] = format(p)
			}
			return " = " + strings.Join(parts, " + ")
		}
	}
	return ""
}

// switchText shows a count of thread switches per message: pub/sub
// makes a few per thousand messages, request/reply several per request.
func switchText(v float64) string {
	if v < 1 {
		return fmt.Sprintf("%.3f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

func joinFloats(v []float64) string {
	var s []string
	for _, f := range v {
		s = append(s, fmt.Sprintf("%.0f", f))
	}
	return strings.Join(s, ", ")
}

// svg draws, per workload, each system's median headline relative to the
// workload's reference (raw libzmq, or NATS where raw is absent), as bars.
func (r *results) svg(work []workload) string {
	const rowH, barMax, left = 18, 360, 230
	var rows []string
	y := 30
	colors := map[string]string{sysRaw: "#888", sysConn: "#2a7", sysMsg: "#184", sysMsgV1: "#4a6", sysNATS: "#27c", sysGRPC: "#c72", sysPython: "#a5c", sysBroker: "#184", sysQueue: "#27c", sysRawLB: "#888", sysProxy: "#bbb", sysReact: "#184", sysReactM: "#5b5", sysConnE: "#7c9", sysConnPB: "#9c7",
		sysGo: "#d94", sysGoProxy: "#ea6", sysReactT: "#7b5", sysMsgV2: "#4a6", sysBrokerM: "#5b5", sysBrokerT: "#7b5", sysBrokerPaced: "#184",
		sysConnCtx: "#9b9", sysMsgCtx: "#9b9", sysRegPaced: "#184", sysRegFull: "#184"}
	for _, w := range work {
		if w.paced {
			continue // one rate for every system: nothing to draw
		}
		ref := sysNATS
		if len(r.of(w.name, sysNATS)) == 0 {
			ref = sysQueue
		}
		if len(r.of(w.name, ref)) == 0 {
			continue // no NATS row to draw against (the name service)
		}
		rows = append(rows, fmt.Sprintf(`<text x="4" y="%d" font-weight="bold">%s (relative to %s%s)</text>`, y, w.name, ref, map[bool]string{true: "; shorter is faster", false: "; longer is faster"}[w.latency]))
		y += rowH
		for _, s := range w.systems {
			ratios := r.ratios(w, s.name, ref)
			med, _, _ := spread(ratios)
			if math.IsNaN(med) {
				continue
			}
			width := int(math.Min(med/2.5, 1) * barMax)
			rows = append(rows, fmt.Sprintf(`<text x="4" y="%d">%s</text><rect x="%d" y="%d" width="%d" height="12" fill="%s"/><text x="%d" y="%d">%.2f×</text>`,
				y, s.name, left, y-10, width, colors[s.name], left+width+4, y, med))
			y += rowH
		}
		y += 8
	}
	h := y + 10
	return fmt.Sprintf(`<svg xmlns="http://www.w3.org/2000/svg" width="680" height="%d" font-family="sans-serif" font-size="12">`+
		`<rect width="100%%" height="100%%" fill="white"/>`+
		`<line x1="%d" y1="20" x2="%d" y2="%d" stroke="#ccc"/>%s</svg>`+"\n", h, left+barMax*4/10, left+barMax*4/10, h-10, strings.Join(rows, ""))
}
