package main

import (
	"fmt"
	"io"
	"math/bits"
	"time"
)

// benchResult is what bench -json prints: one object, with a part for
// each side this process ran (docs/operations.md#measuring-a-live-system-dividere-bench).
type benchResult struct {
	Mode        string     `json:"mode"`
	Endpoint    string     `json:"endpoint"`
	Size        int        `json:"size"`                  // payload bytes
	Interrupted bool       `json:"interrupted,omitempty"` // Ctrl-C ended it early
	Pub         *pubResult `json:"pub,omitempty"`
	Sub         *subResult `json:"sub,omitempty"`
	Req         *reqResult `json:"req,omitempty"`
	Rep         *repResult `json:"rep,omitempty"`
}

// pubResult is the publishing side's account.
type pubResult struct {
	Endpoint        string  `json:"-"`
	Publishers      int     `json:"publishers"`
	Sent            uint64  `json:"sent"`
	Seconds         float64 `json:"seconds"`
	MsgsPerSec      float64 `json:"msgs_per_sec"`
	MBPerSec        float64 `json:"mb_per_sec"`
	SendErrors      uint64  `json:"send_errors"`      // sends refused (Send failed)
	SendWaits       uint64  `json:"send_waits"`       // sends that waited for a full subscriber queue
	SlowSubscribers uint64  `json:"slow_subscribers"` // times a subscriber stayed full, and was dropped for
	Dropped         uint64  `json:"dropped"`          // messages the engine dropped (the Go engine counts them; libzmq does not)
}

func (r *pubResult) rates(size int) {
	if r.Seconds > 0 {
		r.MsgsPerSec = float64(r.Sent) / r.Seconds
		r.MBPerSec = r.MsgsPerSec * float64(size) / 1e6
	}
}

// subResult is the subscribing side's account, summed over its
// subscribers.
type subResult struct {
	Subscribers     int     `json:"subscribers"`
	Publishers      int     `json:"publishers"`       // distinct publishers heard
	PublishersEnded int     `json:"publishers_ended"` // of which the end marker came
	Received        uint64  `json:"received"`
	Expected        uint64  `json:"expected"` // what the publishers heard sent (their end markers' counts, else their last sequence number)
	Lost            uint64  `json:"lost"`     // expected - received: the three below
	LostBeforeJoin  uint64  `json:"lost_before_join"`
	LostGaps        uint64  `json:"lost_gaps"`
	LostAtEnd       uint64  `json:"lost_at_end"`
	Malformed       uint64  `json:"malformed"` // messages that were not bench's, counted and skipped
	Seconds         float64 `json:"seconds"`   // first message to last
	MsgsPerSec      float64 `json:"msgs_per_sec"`
	MBPerSec        float64 `json:"mb_per_sec"`
	Latency         latency `json:"latency"` // send to receipt, on the two hosts' clocks
	size            int
}

// reqResult is the requesting side's account.
type reqResult struct {
	Clients     int     `json:"clients"`
	Calls       uint64  `json:"calls"`    // the four below
	Answered    uint64  `json:"answered"` // replies
	Refused     uint64  `json:"refused"`  // answered with an error (ack{ok: false})
	Timeouts    uint64  `json:"timeouts"` // no answer within -timeout
	Errors      uint64  `json:"errors"`
	Mismatched  uint64  `json:"mismatched"` // replies that were not the request echoed (dividere.Bytes only)
	Seconds     float64 `json:"seconds"`
	CallsPerSec float64 `json:"calls_per_sec"` // answered and refused a second
	Latency     latency `json:"latency"`       // round trips, answered and refused
}

// repResult is the responder's account.
type repResult struct {
	Answered uint64 `json:"answered"`
	Refused  uint64 `json:"refused"`
}

// latency is a distribution's summary, in nanoseconds.
type latency struct {
	Count uint64 `json:"count"`
	P50   int64  `json:"p50_ns"`
	P90   int64  `json:"p90_ns"`
	P99   int64  `json:"p99_ns"`
	Max   int64  `json:"max_ns"`
}

// text prints the result for a reader: the same figures as -json.
func (r *benchResult) text(w io.Writer) {
	if p := r.Pub; p != nil {
		fmt.Fprintf(w, "pub: %d publisher(s) sent %d in %s: %s msgs/s, %.2f MB/s\n", p.Publishers, p.Sent, secs(p.Seconds), perSec(p.MsgsPerSec), p.MBPerSec)
		fmt.Fprintf(w, "     send errors %d, waits for a full queue %d, slow subscribers %d, dropped %d\n", p.SendErrors, p.SendWaits, p.SlowSubscribers, p.Dropped)
	}
	if s := r.Sub; s != nil {
		fmt.Fprintf(w, "sub: %d subscriber(s) received %d of %d from %d publisher(s) (%d ended) in %s: %s msgs/s, %.2f MB/s\n",
			s.Subscribers, s.Received, s.Expected, s.Publishers, s.PublishersEnded, secs(s.Seconds), perSec(s.MsgsPerSec), s.MBPerSec)
		fmt.Fprintf(w, "     lost %d (%d before joining, %d in gaps, %d at the end), malformed %d\n", s.Lost, s.LostBeforeJoin, s.LostGaps, s.LostAtEnd, s.Malformed)
		fmt.Fprintf(w, "     latency %s\n", s.Latency)
	}
	if q := r.Req; q != nil {
		fmt.Fprintf(w, "req: %d requester(s) made %d calls in %s: %s calls/s\n", q.Clients, q.Calls, secs(q.Seconds), perSec(q.CallsPerSec))
		fmt.Fprintf(w, "     answered %d, refused %d, timeouts %d, errors %d, mismatched %d\n", q.Answered, q.Refused, q.Timeouts, q.Errors, q.Mismatched)
		fmt.Fprintf(w, "     latency %s\n", q.Latency)
	}
	if p := r.Rep; p != nil {
		fmt.Fprintf(w, "rep: answered %d, refused %d\n", p.Answered, p.Refused)
	}
	if r.Interrupted {
		fmt.Fprintln(w, "(interrupted)")
	}
}

func (l latency) String() string {
	if l.Count == 0 {
		return "-"
	}
	d := func(ns int64) string { return round3(time.Duration(ns)).String() }
	return fmt.Sprintf("p50 %s, p90 %s, p99 %s, max %s (%d samples)", d(l.P50), d(l.P90), d(l.P99), d(l.Max), l.Count)
}

func secs(s float64) string {
	return time.Duration(s * float64(time.Second)).Round(time.Millisecond).String()
}

func perSec(f float64) string { return fmt.Sprintf("%.0f", f) }

// round3 rounds d to three significant digits: 97.5ms, 42.5µs.
func round3(d time.Duration) time.Duration {
	unit := time.Duration(1)
	for v := d; v >= 1000; v /= 10 {
		unit *= 10
	}
	return d.Round(unit)
}

// hist is a latency histogram in log-linear buckets: exact below 128 ns,
// then 64 buckets per power of two (within 1.6%), in fixed memory
// whatever the count; the maximum is kept exactly.
type hist struct {
	counts [histBuckets]uint64
	n      uint64
	max    int64
}

const histBuckets = 128 + 57*64

func histBucket(v uint64) int {
	if v < 128 {
		return int(v)
	}
	shift := bits.Len64(v) - 7 // v>>shift is in [64, 127]
	return 128 + (shift-1)*64 + int(v>>shift) - 64
}

// histHigh is the largest value bucket i holds.
func histHigh(i int) int64 {
	if i < 128 {
		return int64(i)
	}
	shift := (i-128)/64 + 1
	m := int64((i-128)%64 + 64)
	return (m+1)<<shift - 1
}

func (h *hist) add(ns int64) {
	ns = max(ns, 0) // clocks of two hosts may disagree
	h.counts[min(histBucket(uint64(ns)), histBuckets-1)]++
	h.n++
	h.max = max(h.max, ns)
}

func (h *hist) merge(o *hist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// quantile is the value q of the samples are at or below (the top of its
// bucket, never above the maximum).
func (h *hist) quantile(q float64) int64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.999999)
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		if seen += c; seen >= rank {
			return min(histHigh(i), h.max)
		}
	}
	return h.max
}

func (h *hist) summary() latency {
	return latency{Count: h.n, P50: h.quantile(0.50), P90: h.quantile(0.90), P99: h.quantile(0.99), Max: h.max}
}
