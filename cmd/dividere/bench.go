package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/internal/endpoint"
	"github.com/dividere-go/dividere/messaging"
	"github.com/dividere-go/dividere/msglib"
)

func init() {
	commands["bench"] = command{"measure throughput, latency and loss: bench pub|sub|pubsub|req|rep|reqrep", runBench}
}

// benchModes are bench's modes, each with the flags it takes (the others
// are refused, so that a flag that would change nothing says so).
var benchModes = map[string][]string{
	"pub":    {"endpoint", "pubs", "subs", "size", "count", "duration", "rate", "timeout", "hwm", "json", "curve-server", "curve-allow", "curve-key", "curve-server-key"},
	"sub":    {"endpoint", "pubs", "subs", "timeout", "hwm", "json", "curve-server", "curve-allow", "curve-key", "curve-server-key"},
	"pubsub": {"endpoint", "pubs", "subs", "size", "count", "duration", "rate", "timeout", "hwm", "json"},
	"rep":    {"endpoint", "service", "registry", "json", "curve-server", "curve-allow"},
	"req":    {"endpoint", "service", "registry", "clients", "size", "count", "duration", "rate", "timeout", "json", "type", "body", "curve-key", "curve-server-key"},
	"reqrep": {"endpoint", "clients", "size", "count", "duration", "rate", "timeout", "json"},
}

const benchHelp = `modes:
  pub     publish to -endpoint (it listens there unless given >tcp://HOST:PORT)
  sub     subscribe at -endpoint; ends on the publishers' end markers, after
          -timeout with nothing, or at Ctrl-C, and reports what it got and lost
  rep     answer dividere.Bytes requests at -endpoint, or as the service
          -service NAME registered with the name service, until Ctrl-C
  req     send requests to -endpoint, or to the service -service NAME
          (looked up in the name service), and time the round trips
  pubsub  pub and sub in one process, for a quick look
  reqrep  rep and req in one process, for a quick look

Both sides in one process share its CPUs and its runtime: to measure, run
each side in a process of its own (pub here, sub there; rep here, req there).
The payload is a dividere.Bytes of -size bytes whose first 24 carry the
publisher's id, the sequence number and the send time: latency of pub/sub
compares the two hosts' clocks, so it is exact on one host only; req/rep
latency is a round trip, on one clock.
`

// benchConfig is a bench command line, checked.
type benchConfig struct {
	mode           string
	endpoint       string
	service        string
	pubs, subs     int
	clients        int
	size, count    int
	duration       time.Duration
	rate           float64
	timeout        time.Duration
	hwm            int
	json           bool
	reqType, body  string
	server, client *curveFlags
	f              *flags
}

// benchPayloadMin is the room the payload's header needs: the
// publisher's id, the sequence number and the send time (or, in an end
// marker, the count sent), 8 bytes each.
const benchPayloadMin = 24

func runBench(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "bench", "MODE", "registry")
	c := &benchConfig{f: f}
	f.StringVar(&c.endpoint, "endpoint", "", "where to publish, subscribe, answer or send: tcp://*:PORT listens, tcp://HOST:PORT connects, @ or > before it says which (pubsub and reqrep: default a port of loopback the OS picks)")
	f.StringVar(&c.service, "service", "", "rep: register as this service with the name service; req: look this service up and send to it")
	f.IntVar(&c.pubs, "pubs", 1, "pub, pubsub: how many publishers; sub: how many publishers' end markers to wait for")
	f.IntVar(&c.subs, "subs", 1, "sub, pubsub: how many subscribers; pub: how many subscribers to wait for before publishing (0: none)")
	f.IntVar(&c.clients, "clients", 1, "req, reqrep: how many requesters, each with its own socket, each waiting for its reply before the next request")
	f.IntVar(&c.size, "size", 128, fmt.Sprintf("payload size in bytes (pub/sub: at least %d)", benchPayloadMin))
	f.IntVar(&c.count, "count", 100000, "messages or requests in all, shared among the publishers or requesters")
	f.DurationVar(&c.duration, "duration", 0, "send for this long instead of -count messages")
	f.Float64Var(&c.rate, "rate", 0, "at most this many messages or requests a second per publisher or requester (0: as fast as they go)")
	c.timeout = 10 * time.Second
	f.DurationVar(&c.timeout, "timeout", c.timeout, "how long to wait for subscribers (pub), for more messages once they flow (sub), for a reply (req), or for subscribers to finish")
	f.IntVar(&c.hwm, "hwm", 0, fmt.Sprintf("send and receive high-water mark, messages per peer (0: the default, %d)", 100_000))
	f.BoolVar(&c.json, "json", false, "print the results as one JSON object (docs/operations.md#measuring-a-live-system-dividere-bench describes it)")
	f.StringVar(&c.reqType, "type", "", "req: send this message type (full name) instead of dividere.Bytes, for a service that answers it")
	f.StringVar(&c.body, "body", "{}", "req with -type: the request as JSON")
	c.server, c.client = f.curve(true), f.curve(false)
	f.keys = c.client
	f.timeout = &c.timeout
	f.Usage = func() {
		fmt.Fprintf(e.errOut, "usage: dividere bench MODE [flags]\n\n%s\nflags:\n", benchHelp)
		f.PrintDefaults()
	}
	rest, err := f.parse(args, 1, 1)
	if err != nil {
		return err
	}
	c.mode = rest[0]
	if err := c.check(); err != nil {
		return err
	}
	var r *benchResult
	switch c.mode {
	case "pub":
		r, err = benchPub(ctx, e, c)
	case "sub":
		r, err = benchSub(ctx, e, c)
	case "pubsub":
		r, err = benchPubSub(ctx, e, c)
	case "rep":
		r, err = benchRep(ctx, e, c, nil)
	case "req":
		r, err = benchReq(ctx, e, c)
	case "reqrep":
		r, err = benchReqRep(ctx, e, c)
	}
	if r != nil {
		if c.json {
			enc := json.NewEncoder(e.out)
			if jerr := enc.Encode(r); jerr != nil && err == nil {
				err = jerr
			}
		} else {
			r.text(e.out)
		}
	}
	return err
}

// check refuses what cannot work: an unknown mode, a flag the mode does
// not use, numbers out of range, an endpoint missing.
func (c *benchConfig) check() error {
	allowed, ok := benchModes[c.mode]
	if !ok {
		return usageError{fmt.Sprintf("unknown mode %q%s (pub, sub, pubsub, req, rep or reqrep)", c.mode, suggest(c.mode, slices.Sorted(maps.Keys(benchModes))))}
	}
	var bad []string
	c.f.Visit(func(fl *flag.Flag) {
		if !slices.Contains(allowed, fl.Name) {
			bad = append(bad, "-"+fl.Name)
		}
	})
	if len(bad) > 0 {
		return usageError{fmt.Sprintf("bench %s takes no %s (it takes -%s)", c.mode, strings.Join(bad, ", "), strings.Join(allowed, ", -"))}
	}
	switch {
	case c.pubs < 1:
		return usageError{fmt.Sprintf("-pubs %d: must be 1 or more", c.pubs)}
	case c.subs < 0 || (c.subs == 0 && c.mode != "pub"):
		return usageError{fmt.Sprintf("-subs %d: must be 1 or more (pub: 0 or more)", c.subs)}
	case c.clients < 1:
		return usageError{fmt.Sprintf("-clients %d: must be 1 or more", c.clients)}
	case c.size < 0 || (c.size < benchPayloadMin && strings.HasPrefix(c.mode, "pub")):
		return usageError{fmt.Sprintf("-size %d: must be %d or more for pub/sub (the payload carries the sequence and send time), 0 or more for req/rep", c.size, benchPayloadMin)}
	case c.count < 1 && c.duration == 0:
		return usageError{fmt.Sprintf("-count %d: must be 1 or more", c.count)}
	case c.duration < 0:
		return usageError{fmt.Sprintf("-duration %v: must be more than 0", c.duration)}
	case c.rate < 0:
		return usageError{fmt.Sprintf("-rate %v: must be 0 or more", c.rate)}
	case c.hwm < 0:
		return usageError{fmt.Sprintf("-hwm %d: must be 0 or more", c.hwm)}
	case c.count < c.senders() && c.duration == 0:
		return usageError{fmt.Sprintf("-count %d: fewer than the %d senders", c.count, c.senders())}
	}
	if c.endpoint == "" {
		switch {
		case c.mode == "pubsub" || c.mode == "reqrep":
			c.endpoint = "@tcp://127.0.0.1:0"
		case c.mode == "req" && c.service != "":
		case c.mode == "rep" && c.service != "":
			c.endpoint = "tcp://*:0"
		default:
			return usageError{fmt.Sprintf("bench %s needs -endpoint (tcp://*:PORT listens, tcp://HOST:PORT connects)", c.mode)}
		}
	} else if c.mode == "req" && c.service != "" {
		return usageError{"bench req: -endpoint or -service, not both"}
	}
	if c.service == "" && c.f.isSet("registry") {
		return usageError{"-registry needs -service"}
	}
	if c.reqType == "" && c.f.isSet("body") {
		return usageError{"-body needs -type"}
	}
	return nil
}

// senders is how many goroutines share -count.
func (c *benchConfig) senders() int {
	switch c.mode {
	case "pub", "pubsub":
		return c.pubs
	case "req", "reqrep":
		return c.clients
	}
	return 1
}

// share is sender i's part of -count.
func (c *benchConfig) share(i int) int {
	n := c.count / c.senders()
	if i < c.count%c.senders() {
		n++
	}
	return n
}

// connOptions are the socket options of one side: -hwm, and the CURVE
// keys of a side that listens (server) or connects.
func (c *benchConfig) connOptions(e *env, listens bool) ([]connection.Option, func(), error) {
	var opts []connection.Option
	stop := func() {}
	if c.hwm > 0 {
		opts = append(opts, connection.WithHWM(c.hwm))
	}
	if listens {
		o, s, err := c.server.serverOptions(e)
		if err != nil {
			return nil, stop, err
		}
		return append(opts, o...), s, nil
	}
	o, err := c.client.clientOptions()
	return append(opts, o...), stop, err
}

func (f *flags) isSet(name string) bool {
	set := false
	f.Visit(func(fl *flag.Flag) { set = set || fl.Name == name })
	return set
}

// binds reports whether an endpoint list, for a socket whose kind has
// role def, listens on any of its endpoints.
func binds(list string, def endpoint.Role) (bool, error) {
	eps, err := endpoint.Parse(list, def)
	if err != nil {
		return false, usageError{err.Error()}
	}
	for _, ep := range eps {
		if ep.Role == endpoint.Bind {
			return true, nil
		}
	}
	return false, nil
}

// The payload's header, big-endian: the publisher's id, then the
// sequence number (from 1; 0 in an end marker), then the send time in
// Unix nanoseconds (in an end marker: how many the publisher sent).
func putHeader(b []byte, id, seq, v uint64) {
	binary.BigEndian.PutUint64(b[0:], id)
	binary.BigEndian.PutUint64(b[8:], seq)
	binary.BigEndian.PutUint64(b[16:], v)
}

func readHeader(b []byte) (id, seq, v uint64) {
	return binary.BigEndian.Uint64(b[0:]), binary.BigEndian.Uint64(b[8:]), binary.BigEndian.Uint64(b[16:])
}

// endMarkers is how many end markers a publisher sends: one may be
// dropped at a full queue, as data is.
const endMarkers = 3

var benchTopic = &msglib.Bytes{}

// benchPub publishes: the publishers share one socket when it listens
// (one port can take one listener), and each has its own when they
// connect (to a listening subscriber).
func benchPub(ctx context.Context, e *env, c *benchConfig) (*benchResult, error) {
	shared, err := binds(c.endpoint, endpoint.Bind)
	if err != nil {
		return nil, err
	}
	opts, stop, err := c.connOptions(e, shared)
	if err != nil {
		return nil, err
	}
	defer stop()
	nsock := c.pubs
	if shared {
		nsock = 1
	}
	// Unsent messages wait as long as subscribers may take to finish.
	opts = append(opts, connection.WithLinger(c.timeout))
	var socks []*messaging.Publisher
	defer func() {
		for _, p := range socks {
			p.Close()
		}
	}()
	// A connecting socket keeps its subscribers' subscriptions across
	// reconnections: that its connection is down says the subscriber left.
	down := make([]*atomic.Bool, nsock)
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	for i := range nsock {
		o := opts
		if !shared {
			events := make(chan connection.Event, 64)
			down[i] = new(atomic.Bool)
			go watchDown(wctx, events, down[i])
			o = append(slices.Clip(opts), connection.WithEvents(events))
		}
		p, err := messaging.NewPublisher(c.endpoint, messaging.WithConnectionOptions(o...), messaging.WithLogger(e.log))
		if err != nil {
			return nil, usageError{err.Error()}
		}
		socks = append(socks, p)
	}
	where := socks[0].Conn().Endpoints()
	if len(where) == 0 {
		where = []string{strings.TrimPrefix(c.endpoint, ">")}
	}
	if c.subs > 0 {
		fmt.Fprintf(e.errOut, "bench pub: waiting up to %v for %d subscriber(s) on %s\n", c.timeout, c.subs, strings.Join(where, ","))
		for _, p := range socks {
			wctx, cancel := context.WithTimeout(ctx, c.timeout)
			err := p.WaitSubscribers(wctx, benchTopic, c.subs)
			cancel()
			if err != nil {
				if ctx.Err() != nil {
					return nil, errors.New("interrupted while waiting for subscribers; nothing published")
				}
				return nil, fmt.Errorf("%d subscriber(s) did not come within %v on %s (-subs 0 publishes without waiting)", c.subs, c.timeout, strings.Join(where, ","))
			}
		}
	}
	fmt.Fprintf(e.errOut, "bench pub: publishing %s (%d B each) from %d publisher(s) on %s\n", c.amount(), c.size, c.pubs, strings.Join(where, ","))
	ps := runPublishers(ctx, e, c, socks)
	ps.Endpoint = strings.Join(where, ",")
	left := waitUnsubscribed(ctx, socks, down, c.timeout)
	r := &benchResult{Mode: c.mode, Endpoint: ps.Endpoint, Size: c.size, Pub: ps}
	switch {
	case ctx.Err() != nil:
		r.Interrupted = true
	case left > 0:
		fmt.Fprintf(e.errOut, "bench pub: %d subscriber(s) still there %v after the last message; what was queued for them may be lost\n", left, c.timeout)
	}
	return r, nil
}

// amount says how much is sent: a count or a duration.
func (c *benchConfig) amount() string {
	if c.duration > 0 {
		return "for " + c.duration.String()
	}
	unit := "messages"
	if strings.HasPrefix(c.mode, "req") {
		unit = "requests"
	}
	return fmt.Sprintf("%d %s", c.count, unit)
}

// runPublishers runs -pubs publishers over socks to their end, with a
// progress bar, and returns what they did.
func runPublishers(ctx context.Context, e *env, c *benchConfig, socks []*messaging.Publisher) *pubResult {
	var sent, failed atomic.Uint64
	var firstErr firstError
	var wg sync.WaitGroup
	start := time.Now()
	ends := make([]time.Time, c.pubs)
	bar := c.progress(e, &sent)
	for i := range c.pubs {
		p := socks[i%len(socks)]
		wg.Go(func() {
			id := randomID()
			n := c.share(i)
			m := &msglib.Bytes{Data: make([]byte, c.size)}
			pace := newPacer(c.rate)
			var seq uint64
			for c.more(int(seq), n, start) && ctx.Err() == nil {
				pace.wait(ctx, int(seq))
				seq++
				putHeader(m.Data, id, seq, uint64(time.Now().UnixNano()))
				if err := p.Send(ctx, m); err != nil {
					if ctx.Err() != nil {
						seq--
						break
					}
					firstErr.set(err)
					failed.Add(1)
					continue
				}
				sent.Add(1)
			}
			ends[i] = time.Now()
			// What went out, failures included: the subscriber counts
			// those it missed against it.
			putHeader(m.Data, id, 0, seq)
			for range endMarkers {
				p.Send(context.WithoutCancel(ctx), m)
			}
		})
	}
	wg.Wait()
	bar.stop()
	r := &pubResult{Publishers: c.pubs, Sent: sent.Load(), SendErrors: failed.Load()}
	if err := firstErr.err; err != nil {
		fmt.Fprintf(e.errOut, "bench pub: %d send(s) failed, the first: %s\n", r.SendErrors, once(err))
	}
	r.Seconds = slices.MaxFunc(ends, time.Time.Compare).Sub(start).Seconds()
	r.rates(c.size)
	for _, p := range socks {
		st := p.Stats()
		r.SendWaits += st.SendWaits
		r.SlowSubscribers += st.SlowSubscribers
		es := st.Engine
		r.Dropped += es.DroppedHWM + es.DroppedNoPeer + es.DroppedLost
	}
	return r
}

// more reports whether a sender that has sent done of its n goes on.
func (c *benchConfig) more(done, n int, start time.Time) bool {
	if c.duration > 0 {
		return time.Since(start) < c.duration
	}
	return done < n
}

// waitUnsubscribed waits, up to d, for the subscribers to leave (as
// bench sub does after the end markers), so that this process does not
// end with messages still queued for them; it returns how many stay.
func waitUnsubscribed(ctx context.Context, socks []*messaging.Publisher, down []*atomic.Bool, d time.Duration) int {
	topic := messaging.Topic(benchTopic)
	left := func() int {
		n := 0
		for i, p := range socks {
			if down[i] == nil || !down[i].Load() {
				n += p.Conn().Subscribers(topic)
			}
		}
		return n
	}
	deadline := time.Now().Add(d)
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for left() > 0 && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return left()
		case <-t.C:
		}
	}
	return left()
}

// watchDown keeps down true while a connecting socket's connection is
// down.
func watchDown(ctx context.Context, events <-chan connection.Event, down *atomic.Bool) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-events:
			switch ev.Kind {
			case connection.EventConnected, connection.EventHandshakeSucceeded:
				down.Store(false)
			case connection.EventDisconnected:
				down.Store(true)
			}
		}
	}
}

// firstError keeps the first error it is given, from any goroutine; it
// is read once they are done.
type firstError struct {
	once sync.Once
	err  error
}

func (f *firstError) set(err error) { f.once.Do(func() { f.err = err }) }

func randomID() uint64 {
	var b [8]byte
	rand.Read(b[:])
	return binary.BigEndian.Uint64(b[:])
}

// pacer spaces sends at a rate, against the start so that a late one
// does not slow the rest.
type pacer struct {
	start    time.Time
	interval time.Duration
}

func newPacer(rate float64) *pacer {
	p := &pacer{start: time.Now()}
	if rate > 0 {
		p.interval = time.Duration(float64(time.Second) / rate)
	}
	return p
}

// wait waits for send i's time.
func (p *pacer) wait(ctx context.Context, i int) {
	if p.interval == 0 || i == 0 {
		return
	}
	d := time.Until(p.start.Add(time.Duration(i) * p.interval))
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// benchBar is a progress bar fed from a counter (or the clock, with
// -duration) until stopped.
type benchBar struct {
	stopc chan struct{}
	done  chan struct{}
}

func (c *benchConfig) progress(e *env, n *atomic.Uint64) *benchBar {
	total, what := c.count, "sent"
	if c.duration > 0 {
		total, what = int(c.duration/time.Millisecond), "ms"
	}
	p := newProgress(e, what, total, !c.json)
	b := &benchBar{stopc: make(chan struct{}), done: make(chan struct{})}
	start := time.Now()
	go func() {
		defer close(b.done)
		defer p.done()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		cur := func() int {
			if c.duration > 0 {
				return min(total, int(time.Since(start)/time.Millisecond))
			}
			return min(total, int(n.Load()))
		}
		for {
			select {
			case <-b.stopc:
				if cur() > 0 {
					p.set(cur())
				}
				return
			case <-t.C:
				if cur() > 0 {
					p.set(cur())
				}
			}
		}
	}()
	return b
}

func (b *benchBar) stop() {
	close(b.stopc)
	<-b.done
}

// benchSub subscribes -subs subscribers, each with its own socket, until
// each has the end markers of -pubs publishers, -timeout passes with
// nothing new once messages flowed, or ctx ends.
func benchSub(ctx context.Context, e *env, c *benchConfig) (*benchResult, error) {
	listens, err := binds(c.endpoint, endpoint.Connect)
	if err != nil {
		return nil, err
	}
	if listens && c.subs > 1 {
		return nil, usageError{fmt.Sprintf("-subs %d on %s: one port takes one listener; connect the subscribers to a listening publisher, or run one", c.subs, c.endpoint)}
	}
	opts, stop, err := c.connOptions(e, listens)
	if err != nil {
		return nil, err
	}
	defer stop()
	var subs []*messaging.Subscriber
	defer func() {
		for _, s := range subs {
			s.Close()
		}
	}()
	if !listens { // said, when the publisher is not there
		events := make(chan connection.Event, 64)
		wctx, stopWatch := context.WithCancel(ctx)
		defer stopWatch()
		go warnUnconnected(wctx, e, "bench sub", events, notConnectedAfter)
		opts = append(opts, connection.WithEvents(events))
	}
	for range c.subs {
		s, err := messaging.NewSubscriber(c.endpoint, messaging.WithTypes(benchTopic), messaging.WithConnectionOptions(opts...), messaging.WithLogger(e.log))
		if err != nil {
			return nil, usageError{err.Error()}
		}
		subs = append(subs, s)
	}
	fmt.Fprintf(e.errOut, "bench sub: %d subscriber(s) on %s, waiting for %d publisher(s) (Ctrl-C stops)\n", c.subs, c.endpoint, c.pubs)
	r := &benchResult{Mode: c.mode, Endpoint: c.endpoint, Sub: runSubscribers(ctx, e, c, subs)}
	r.Size = r.Sub.size
	r.Interrupted = ctx.Err() != nil
	return r, nil
}

// runSubscribers receives on every subscriber at once and sums what
// they saw; each subscriber closes as it finishes, which tells its
// publishers it has done.
func runSubscribers(ctx context.Context, e *env, c *benchConfig, subs []*messaging.Subscriber) *subResult {
	counts := make([]*subCount, len(subs))
	var wg sync.WaitGroup
	for i, s := range subs {
		counts[i] = newSubCount(e)
		counts[i].say = i == 0
		wg.Go(func() {
			counts[i].run(ctx, s, c.pubs, c.timeout)
			s.Close()
		})
	}
	wg.Wait()
	return sumSubs(counts)
}

// pubSeen is what a subscriber knows of one publisher.
type pubSeen struct {
	first, last uint64 // sequence numbers
	received    uint64
	gaps        uint64
	total       uint64 // from its end marker
	ended       bool
}

// subCount is one subscriber's account.
type subCount struct {
	e           *env
	pubs        map[uint64]*pubSeen
	order       []uint64 // publisher ids, as first heard
	lat         hist
	malformed   uint64
	lastWarn    time.Time
	size        int
	say         bool // say when a publisher ends (one subscriber says it for all)
	first, last time.Time
	lastNano    atomic.Int64 // the latest arrival, for the idle watch
}

func newSubCount(e *env) *subCount { return &subCount{e: e, pubs: map[uint64]*pubSeen{}} }

// run receives until want publishers have ended, idle passes once
// messages flowed, or ctx ends.
func (s *subCount) run(ctx context.Context, sub *messaging.Subscriber, want int, idle time.Duration) {
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { // the idle watch: one clock for all, not a timer per message
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-rctx.Done():
				return
			case <-t.C:
				if last := s.lastNano.Load(); last > 0 && time.Since(time.Unix(0, last)) > idle {
					cancel()
					return
				}
			}
		}
	}()
	ended := 0
	for ended < want {
		m, err := sub.Recv(rctx)
		if err != nil {
			if rctx.Err() != nil || errors.Is(err, connection.ErrClosed) {
				return
			}
			s.bad(err) // undecodable: counted and said, and the next one taken
			continue
		}
		now := time.Now()
		b, ok := m.(*msglib.Bytes)
		if !ok || len(b.Data) < benchPayloadMin {
			s.bad(fmt.Errorf("not a bench payload: %s of %d bytes", m.ProtoReflect().Descriptor().FullName(), len(b.GetData())))
			continue
		}
		id, seq, v := readHeader(b.Data)
		p := s.pubs[id]
		if p == nil {
			p = &pubSeen{}
			s.pubs[id] = p
			s.order = append(s.order, id)
		}
		if seq == 0 { // an end marker
			if !p.ended {
				p.ended, p.total = true, v
				ended++
				if s.say {
					fmt.Fprintf(s.e.errOut, "bench sub: publisher %d of %d ended: %d received of %d sent\n", ended, want, p.received, v)
				}
			}
			continue
		}
		if p.ended || (p.received > 0 && seq <= p.last) {
			s.bad(fmt.Errorf("publisher %016x: sequence %d after %d", id, seq, p.last))
			continue
		}
		switch {
		case p.received == 0:
			p.first = seq
		case seq > p.last+1:
			p.gaps += seq - p.last - 1
		}
		p.last = seq
		p.received++
		s.lat.add(now.UnixNano() - int64(v))
		if s.first.IsZero() {
			s.first = now
		}
		s.last = now
		s.size = len(b.Data)
		s.lastNano.Store(now.UnixNano())
	}
}

// bad counts a message that is not what bench sends, and says so at most
// once a second.
func (s *subCount) bad(err error) {
	s.malformed++
	if time.Since(s.lastWarn) >= time.Second {
		s.lastWarn = time.Now()
		fmt.Fprintf(s.e.errOut, "bench sub: %s (%d so far, counted as malformed)\n", once(err), s.malformed)
	}
}

// sumSubs adds the subscribers' accounts up.
func sumSubs(counts []*subCount) *subResult {
	r := &subResult{Subscribers: len(counts)}
	seen, ended := map[uint64]bool{}, map[uint64]bool{}
	var first, last time.Time
	var lat hist
	for _, s := range counts {
		for _, id := range s.order {
			p := s.pubs[id]
			seen[id] = true
			if p.ended {
				ended[id] = true
			}
			r.Received += p.received
			r.LostGaps += p.gaps
			if p.received == 0 { // only its end marker came
				r.LostBeforeJoin += p.total
				r.Expected += p.total
				continue
			}
			r.LostBeforeJoin += p.first - 1
			expected := p.last
			if p.ended && p.total > p.last {
				r.LostAtEnd += p.total - p.last
				expected = p.total
			}
			r.Expected += expected
		}
		r.Malformed += s.malformed
		lat.merge(&s.lat)
		if !s.first.IsZero() && (first.IsZero() || s.first.Before(first)) {
			first = s.first
		}
		if s.last.After(last) {
			last = s.last
		}
		r.size = max(r.size, s.size)
	}
	r.Publishers, r.PublishersEnded = len(seen), len(ended)
	r.Lost = r.LostBeforeJoin + r.LostGaps + r.LostAtEnd
	if !first.IsZero() {
		r.Seconds = last.Sub(first).Seconds()
	}
	if r.Seconds > 0 {
		r.MsgsPerSec = float64(r.Received) / r.Seconds
		r.MBPerSec = r.MsgsPerSec * float64(r.size) / 1e6
	}
	r.Latency = lat.summary()
	return r
}

// benchPubSub runs both sides in this process: the publishers listen,
// the subscribers connect.
func benchPubSub(ctx context.Context, e *env, c *benchConfig) (*benchResult, error) {
	if ok, err := binds(c.endpoint, endpoint.Bind); err != nil || !ok {
		if err == nil {
			err = usageError{fmt.Sprintf("bench pubsub: -endpoint %s must listen (the subscribers connect to it)", c.endpoint)}
		}
		return nil, err
	}
	opts, _, _ := c.connOptions(e, false) // -hwm only: no CURVE in one process
	pub, err := messaging.NewPublisher(c.endpoint, messaging.WithConnectionOptions(opts...), messaging.WithLogger(e.log))
	if err != nil {
		return nil, usageError{err.Error()}
	}
	defer pub.Close()
	ep := pub.Conn().Endpoints()[0]
	var subs []*messaging.Subscriber
	defer func() {
		for _, s := range subs {
			s.Close()
		}
	}()
	for range c.subs {
		s, err := messaging.NewSubscriber(">"+ep, messaging.WithTypes(benchTopic), messaging.WithConnectionOptions(opts...), messaging.WithLogger(e.log))
		if err != nil {
			return nil, err
		}
		subs = append(subs, s)
	}
	wctx, cancel := context.WithTimeout(ctx, c.timeout)
	err = pub.WaitSubscribers(wctx, benchTopic, c.subs)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("the %d subscriber(s) did not subscribe within %v", c.subs, c.timeout)
	}
	fmt.Fprintf(e.errOut, "bench pubsub: %s (%d B each), %d publisher(s) to %d subscriber(s) on %s, in one process\n", c.amount(), c.size, c.pubs, c.subs, ep)
	subc := make(chan *subResult, 1)
	go func() { subc <- runSubscribers(ctx, e, c, subs) }()
	ps := runPublishers(ctx, e, c, []*messaging.Publisher{pub})
	r := &benchResult{Mode: c.mode, Endpoint: ep, Size: c.size, Pub: ps, Sub: <-subc}
	r.Interrupted = ctx.Err() != nil
	return r, nil
}
