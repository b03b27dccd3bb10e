package registry

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/internal/regbridge"
	"github.com/dividere-go/dividere/internal/retry"
	"github.com/dividere-go/dividere/messaging"
	"github.com/dividere-go/dividere/msglib"
)

// envRegistry names the environment variable that tells clients where the
// name service is (WithAddress).
const envRegistry = "DIVIDERE_REGISTRY"

// Errors of the registry client.
var (
	// ErrOriginalNameService: the name service speaks only the original
	// protocol (register, unregister, lookup) and cannot answer this
	// request; it was not sent, as it would stop that name service.
	ErrOriginalNameService = errors.New("the name service is the original's (it answers only register, unregister and lookup)")
	// ErrNotFound: no live instance of the service is registered.
	ErrNotFound = errors.New("dividere: service not found")
	// ErrRefused: the name service answered ack{ok: false}. The error
	// that wraps it also holds the name service's *messaging.Error, with
	// its code and reason.
	ErrRefused = errors.New("dividere: refused by the name service")
)

// Instance is one registered instance of a service.
type Instance struct {
	Service  string
	Server   string
	Port     int
	ID       string // default "server:port"
	Version  string
	Metadata map[string]string
	Stats    *msglib.InstanceStats // as last reported by the instance
	// TTL is how long a registration lives unless renewed (0: forever);
	// Register sends it, and a lookup reports what the instance registered with.
	TTL     time.Duration
	Expires time.Time // zero: never
	Renewed time.Time // its last registration, as the name service saw it (zero: unknown)
}

// Endpoint is where to connect to the instance.
func (i Instance) Endpoint() string {
	return "tcp://" + net.JoinHostPort(i.Server, strconv.Itoa(i.Port))
}

func fromProto(p *msglib.ServiceInstance) Instance {
	in := Instance{Service: p.ServiceName, Server: p.Server, Port: int(p.Port), ID: p.InstanceId,
		Version: p.Version, Metadata: p.Metadata, Stats: p.Stats}
	if p.RenewedUnixMs != 0 {
		in.Renewed = time.UnixMilli(p.RenewedUnixMs)
	}
	if p.ExpiresUnixMs != 0 {
		in.Expires = time.UnixMilli(p.ExpiresUnixMs)
		// A renewal moves the expiry on from the last registration; a name
		// service from before the field knows only the first.
		from := p.RenewedUnixMs
		if from == 0 {
			from = p.RegisteredUnixMs
		}
		if from != 0 {
			in.TTL = time.Duration(p.ExpiresUnixMs-from) * time.Millisecond
		}
	}
	return in
}

type clientConfig struct {
	requests, notices, watch string
	retry                    retry.Policy
	logger                   *slog.Logger
	conn                     []connection.Option
	calls                    []messaging.RequestOption // for Call's requests
	store                    Store                     // direct: no name-service process
	failover                 time.Duration             // WithFailoverTimeout
}

// defaultFailoverTimeout is WithFailoverTimeout's default.
const defaultFailoverTimeout = 250 * time.Millisecond

// Client talks to the name service, or with WithStore to the store
// itself. It is safe for concurrent use (calls take turns on one REQ
// socket). A call that times out leaves the client usable.
type Client struct {
	cfg  clientConfig
	kind atomic.Int32 // what the name service is, once probed: kindUnknown, kindGo, kindOriginal
	// patience is the stretched timeout of calls (ns) after one timed
	// out; 0: the configured one.
	patience atomic.Int64
	mu       sync.Mutex
	req      *messaging.Request // nil when direct
	dir      *directory         // non-nil when direct
	owned    bool               // the client opened dir's store from its address: Close closes it
	calls    callPool           // connections to service instances, for Call
}

// NewClient makes a client; it connects lazily, so the name service need
// not be up yet.
func NewClient(opts ...ClientOption) (*Client, error) {
	cfg := clientConfig{retry: retry.Policy{Timeout: time.Second, Retries: 1}, failover: defaultFailoverTimeout}
	for _, o := range opts {
		if o != nil {
			o.applyClient(&cfg)
		}
	}
	if cfg.requests == "" {
		cfg.requests = os.Getenv(envRegistry)
	}
	if cfg.logger == nil {
		cfg.logger = slog.Default()
	}
	if cfg.store != nil {
		return &Client{cfg: cfg, dir: &directory{store: cfg.store}}, nil
	}
	if scheme, _, ok := strings.Cut(cfg.requests, "://"); ok && !zmqTransports[scheme] {
		st, err := openStore(cfg.requests)
		if err != nil {
			return nil, err
		}
		return &Client{cfg: cfg, dir: &directory{store: st}, owned: true}, nil
	}
	if cfg.requests == "" {
		cfg.requests = fmt.Sprintf("localhost:%d", defaultRequestPort)
	}
	req, err := endpoints(cfg.requests)
	if err != nil {
		return nil, err
	}
	if cfg.notices == "" {
		cfg.notices = nextPorts(req)
	}
	if cfg.notices, err = endpoints(cfg.notices); err != nil {
		return nil, err
	}
	if cfg.watch == "" {
		cfg.watch = nextPorts(cfg.notices)
	}
	if cfg.watch, err = endpoints(cfg.watch); err != nil {
		return nil, err
	}
	cfg.requests = req
	r, err := messaging.NewRequest(connectAll(req), messaging.WithLogger(cfg.logger),
		messaging.WithConnectionOptions(append(append(controlPlane(), connection.WithName("registry-client")), cfg.conn...)...))
	if err != nil {
		return nil, err
	}
	return &Client{cfg: cfg, req: r}, nil
}

const (
	kindUnknown = iota
	kindGo
	kindOriginal
)

// original reports whether the name service speaks only the original
// protocol, asking it (a lookup of probeName, which every name service
// answers safely) the first time. It is false with WithStore.
func (c *Client) original(ctx context.Context) (bool, error) {
	if c.dir != nil {
		return false, nil
	}
	switch c.kind.Load() {
	case kindGo:
		return false, nil
	case kindOriginal:
		return true, nil
	}
	rep, err := c.call(ctx, &msglib.ServiceLookupReq{ServiceName: probeName})
	if err != nil {
		return false, err
	}
	r, ok := rep.(*msglib.ServiceLookupRep)
	if !ok {
		return false, fmt.Errorf("probe of the name service: %w: %T", messaging.ErrWrongType, rep)
	}
	kind := int32(kindOriginal)
	if r.Server == probeServer {
		kind = kindGo
	}
	c.kind.Store(kind)
	return kind == kindOriginal, nil
}

// needGo fails with ErrOriginalNameService when the name service is the
// original's.
func (c *Client) needGo(ctx context.Context) error {
	orig, err := c.original(ctx)
	if err != nil {
		return err
	}
	if orig {
		return fmt.Errorf("%s: %w", c.cfg.requests, ErrOriginalNameService)
	}
	return nil
}

// nextPorts turns "tcp://host:port,..." into "host:port+1,...": where the
// name service's next endpoint is by default.
func nextPorts(list string) string {
	var derived []string
	for _, ep := range strings.Split(list, ",") {
		host, port, _ := net.SplitHostPort(strings.TrimPrefix(ep, "tcp://"))
		p, _ := strconv.Atoi(port)
		derived = append(derived, net.JoinHostPort(host, strconv.Itoa(p+1)))
	}
	return strings.Join(derived, ",")
}

// zmqTransports are the schemes of ZeroMQ endpoints: any other scheme in a
// registry address names a store.
var zmqTransports = map[string]bool{"tcp": true, "ipc": true, "inproc": true, "pgm": true, "epgm": true,
	"ws": true, "wss": true, "udp": true, "vmci": true}

// controlPlane returns the connection options of sockets that talk to the
// name service: no linger (a registration that could not be sent is
// stale anyway), reconnects every 50 ms backing off only to 250 ms, so
// that a restarted name service is found again well within a second (a
// connect attempt to a dead port costs next to nothing), and requests only
// to instances that are up (WithImmediate), for failover.
func controlPlane() []connection.Option {
	return []connection.Option{connection.WithLinger(0), connection.WithReconnectInterval(50*time.Millisecond, 250*time.Millisecond),
		connection.WithImmediate()}
}

// endpoints turns "host:port[,host:port...]" into tcp:// endpoints.
func endpoints(list string) (string, error) {
	var out []string
	for _, addr := range strings.Split(list, ",") {
		a := strings.TrimPrefix(strings.TrimSpace(addr), "tcp://")
		if _, _, err := net.SplitHostPort(a); err != nil {
			return "", fmt.Errorf("registry address %q: %w: %v", addr, connection.ErrEndpoint, err)
		}
		out = append(out, "tcp://"+a)
	}
	return strings.Join(out, ","), nil
}

// connectAll marks every endpoint of a comma-separated list as one to
// connect to.
func connectAll(list string) string {
	return ">" + strings.ReplaceAll(list, ",", ",>")
}

// Notices subscribes to the name service's notices: the RediscoverReq a
// name service publishes when it starts and to every subscriber that
// joins, so that the instances of a restarted name service register
// again (what a service.Service does on each). The subscriber connects
// the way the client's own sockets do (with its connection options, such
// as CURVE) and logs to the client's logger; opts come after those. It is
// nil, nil for a client on a store (WithStore), which has no name service
// to hear. The caller closes it.
func (c *Client) Notices(opts ...messaging.SubscriberOption) (*messaging.Subscriber, error) {
	if c.dir != nil {
		return nil, nil
	}
	return messaging.NewSubscriber(connectAll(c.cfg.notices), append([]messaging.SubscriberOption{messaging.WithTypes(&msglib.RediscoverReq{}),
		messaging.WithLogger(c.cfg.logger), messaging.WithConnectionOptions(append(controlPlane(), c.cfg.conn...)...)}, opts...)...)
}

// several reports whether the client lists more than one name-service
// instance.
func (c *Client) several() bool { return strings.Contains(c.cfg.requests, ",") }

// failoverPolicy is the retry policy of a client that lists several
// name-service instances: attempts of at most the failover timeout, as
// many as the budget holds, so that a request lost with a dead instance
// is sent again to one that is up within that timeout.
func (c *Client) failoverPolicy() retry.Policy {
	p := c.policy()
	budget := p.Budget()
	if f := c.cfg.failover; f > 0 && f < p.Timeout {
		p.Timeout, p.Backoff = f, 0
		p.Retries = max(int(budget/f)-1, p.Retries)
	}
	return p
}

func (c *Client) call(ctx context.Context, m proto.Message) (proto.Message, error) {
	budget := c.policy().Budget()
	if d := regbridge.Patience(ctx); d > budget && c.kind.Load() != kindGo && !c.several() {
		budget = d // the caller waits its turn at what may be the original's name service
	}
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	var rep proto.Message
	var err error
	// Retries on a fresh socket (connection.Request.Call resets itself
	// when its context ends), but not to a name service that may be the
	// original's (see WithRetry), unless the connection the request went
	// on closed: then no answer can come.
	if c.kind.Load() != kindGo && !c.several() {
		for {
			rep, err = c.attempt(ctx, m)
			if !errors.Is(err, errPeerLost) || ctx.Err() != nil {
				break
			}
		}
	} else {
		p := c.policy()
		if c.several() {
			p = c.failoverPolicy()
		}
		err = p.Do(ctx, func(actx context.Context) (err error) {
			rep, err = c.attempt(actx, m)
			return err
		}, func(err error) bool {
			c.cfg.logger.Debug("name service did not answer; asking again", "err", err)
			return errors.Is(err, connection.ErrTimeout) || errors.Is(err, errPeerLost)
		})
	}
	if err != nil {
		if errors.Is(err, connection.ErrTimeout) {
			c.tookTooLong()
		}
		return nil, fmt.Errorf("name service at %s: %w", c.cfg.requests, err)
	}
	if c.kind.Load() != kindOriginal {
		c.patience.Store(0) // a dividere name service answers at once again
	}
	return rep, nil
}

// errPeerLost: a connection to a name-service instance closed while a
// request waited for its answer, which may have gone on it.
var errPeerLost = errors.New("a name-service connection closed while the request waited")

// peerPoll is how often an attempt checks that its connections still
// stand.
const peerPoll = 20 * time.Millisecond

// attempt sends m and waits for the answer, giving up with errPeerLost
// as soon as the socket has fewer connected name-service instances than
// it had since the request was sent: the request may have gone on the
// connection that closed (an instance SIGKILLed), and a REQ socket never
// sends it again, so waiting for its timeout would only delay the
// failover. With several instances it may have gone to another one that
// is still up; sending it again is harmless, as the requests are
// idempotent.
func (c *Client) attempt(ctx context.Context, m proto.Message) (proto.Message, error) {
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		peers := c.req.Stats().Peers
		t := time.NewTicker(peerPoll)
		defer t.Stop()
		for {
			select {
			case <-actx.Done():
				return
			case <-t.C:
			}
			n := c.req.Stats().Peers
			if n < peers {
				cancel(errPeerLost)
				return
			}
			peers = n
		}
	}()
	rep, err := messaging.Call[proto.Message](actx, c.req, m)
	if err != nil && ctx.Err() == nil && errors.Is(context.Cause(actx), errPeerLost) {
		return nil, fmt.Errorf("%w: %w", errPeerLost, err)
	}
	return rep, err
}

// Register registers (or renews) an instance, for its TTL.
func (c *Client) Register(ctx context.Context, r Instance) error {
	m := &msglib.RegisterService{ServiceName: r.Service, Server: r.Server, Port: uint32(r.Port),
		InstanceId: r.ID, TtlMs: uint32(r.TTL / time.Millisecond), Version: r.Version,
		Metadata: r.Metadata, Stats: r.Stats}
	if c.dir != nil {
		ctx, cancel := c.bound(ctx)
		defer cancel()
		ok, err := c.dir.register(ctx, m, "")
		if set := regbridge.Prober(ctx); set != nil && ok {
			set(c.original)
		}
		return c.directErr(ok, err)
	}
	if err := c.ack(ctx, m); err != nil {
		return err
	}
	if set := regbridge.Prober(ctx); set != nil {
		set(c.original)
	}
	return nil
}

// Unregister removes an instance (id "" means "server:port"); it is
// ErrRefused when the name service did not know it.
func (c *Client) Unregister(ctx context.Context, service, server string, port int, id string) error {
	m := &msglib.UnregisterService{ServiceName: service, Server: server, Port: uint32(port), InstanceId: id}
	if c.dir != nil {
		ctx, cancel := c.bound(ctx)
		defer cancel()
		gone, err := c.dir.unregister(ctx, m)
		return c.directErr(gone != nil, err)
	}
	return c.ack(ctx, m)
}

// bound applies the client's retry budget (an earlier deadline of ctx
// wins).
func (c *Client) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.policy().Budget())
}

// policy is the client's retry policy, its per-attempt timeout stretched
// after a call timed out (see WithRetry).
func (c *Client) policy() retry.Policy {
	p := c.cfg.retry
	if t := time.Duration(c.patience.Load()); t > p.Timeout {
		p.Timeout = t
	}
	return p
}

// maxPatience bounds how far a slow name service stretches the timeout.
const maxPatience = 8

// tookTooLong doubles the next calls' timeout, up to maxPatience times
// the configured one: a request abandoned to a slow name service, and
// sent again, goes to the back of its queue, so giving up sooner only
// starves the caller.
func (c *Client) tookTooLong() {
	c.patience.Store(int64(min(2*c.policy().Timeout, maxPatience*c.cfg.retry.Timeout)))
}

// directErr is what a direct store call returns: the store's error, said
// where, or ErrRefused when the store did not do it, as a name service's
// ack{ok: false} would say.
func (c *Client) directErr(ok bool, err error) error {
	switch {
	case err != nil:
		if name, ok := c.dir.store.(fmt.Stringer); ok { // a store of one's own may say what it is
			return fmt.Errorf("registry store %s: %w", name, err)
		}
		return fmt.Errorf("registry store: %w", err)
	case !ok:
		return ErrRefused
	}
	return nil
}

func (c *Client) ack(ctx context.Context, m proto.Message) error {
	rep, err := c.call(ctx, m)
	var refusal *messaging.Error
	if errors.As(err, &refusal) {
		return fmt.Errorf("%w: %w", ErrRefused, err)
	}
	if err != nil {
		return err
	}
	_, err = messaging.As[*msglib.Ack](rep)
	return err
}

// Lookup returns one live instance of service; successive lookups spread
// over the instances. It is ErrNotFound when there is none.
func (c *Client) Lookup(ctx context.Context, service string) (Instance, error) {
	if c.dir != nil {
		ctx, cancel := c.bound(ctx)
		defer cancel()
		inst, err := c.dir.lookup(ctx, service)
		if err != nil {
			return Instance{}, c.directErr(false, err)
		}
		if inst == nil {
			return Instance{}, fmt.Errorf("%w: %q", ErrNotFound, service)
		}
		return fromProto(inst), nil
	}
	rep, err := c.call(ctx, &msglib.ServiceLookupReq{ServiceName: service})
	if err != nil {
		return Instance{}, err
	}
	r, err := messaging.As[*msglib.ServiceLookupRep](rep)
	if err != nil {
		return Instance{}, err
	}
	if r.Server == unavailable || r.Port == 0 {
		return Instance{}, fmt.Errorf("%w: %q", ErrNotFound, service)
	}
	return Instance{Service: r.ServiceName, Server: r.Server, Port: int(r.Port), ID: r.InstanceId, Version: r.Version}, nil
}

// List returns every live instance of service, or of every service when
// it is "".
func (c *Client) List(ctx context.Context, service string) ([]Instance, error) {
	var insts []*msglib.ServiceInstance
	if c.dir == nil {
		if err := c.needGo(ctx); err != nil {
			return nil, err
		}
	}
	if c.dir != nil {
		ctx, cancel := c.bound(ctx)
		defer cancel()
		var err error
		if insts, err = c.dir.list(ctx, service); err != nil {
			return nil, c.directErr(false, err)
		}
	} else {
		rep, err := c.call(ctx, &msglib.ServiceListReq{ServiceName: service})
		if err != nil {
			return nil, err
		}
		r, err := messaging.As[*msglib.ServiceListRep](rep)
		if err != nil {
			return nil, err
		}
		insts = r.Instances
	}
	out := make([]Instance, len(insts))
	for i, p := range insts {
		out[i] = fromProto(p)
	}
	return out, nil
}

// Close closes the client, and the store it opened from an address (not
// one given with WithStore).
func (c *Client) Close() error {
	c.calls.close()
	if c.owned {
		if cl, ok := c.dir.store.(io.Closer); ok {
			return cl.Close()
		}
	}
	if c.req == nil {
		return nil
	}
	return c.req.Close()
}

// Event is a change notice from the name service.
type Event struct {
	Kind     msglib.ServiceEvent_Kind // REGISTERED, UNREGISTERED or EXPIRED
	Instance Instance
	Revision uint64 // the change's place in the store's history; 0 from a name service that does not say
}

// Watcher delivers the name service's change notices.
type Watcher struct {
	sub     *messaging.Subscriber // nil when direct
	repeats atomic.Uint64
	resumes atomic.Uint64 // catch-ups done
	gaps    atomic.Uint64 // catch-ups no instance could complete
	events  chan Event
	cancel  context.CancelFunc
	done    chan struct{}

	mu      sync.Mutex // guards what follows: the order of delivery
	seen    *recent
	last    uint64  // the highest revision delivered
	base    uint64  // the name service's revision as the watch began, while nothing was delivered
	holding bool    // catching up: live notices wait in held
	held    []Event // live notices heard while catching up
}

// Watch subscribes to change notices: of every name-service instance the
// client lists (a change heard from several instances that share a store
// is delivered once), or with WithStore of the store itself. Events
// are delivered on the returned Watcher's channel until Close (or ctx
// ends); a watcher that falls behind by 1024 events loses the oldest.
//
// A watcher of name-service instances resumes where it was when one of its
// connections closes (an instance died) or a notice was lost on the way:
// it asks an instance for the changes published after the last revision
// it delivered (ServiceChangesReq), holding the notices it hears
// meanwhile, and delivers what it missed and then those, in revision
// order, each once. An instance keeps its last 4096 changes for this; a
// catch-up that no instance can complete (all of them restarted since, or
// the name service predates it) is counted in Gaps and logged: list again.
func (c *Client) Watch(ctx context.Context) (*Watcher, error) {
	ctx, cancel := context.WithCancel(ctx)
	w := &Watcher{events: make(chan Event, 1024), cancel: cancel, done: make(chan struct{}), seen: newRecent(1024)}
	if c.dir != nil {
		ch, err := c.dir.store.Watch(ctx)
		if err != nil {
			cancel()
			return nil, c.directErr(false, err)
		}
		go func() {
			defer close(w.done)
			defer close(w.events)
			for ch := range ch {
				w.push(Event{Kind: ch.Kind, Instance: fromProto(ch.Instance), Revision: ch.Revision})
			}
		}()
		return w, nil
	}
	links := make(chan connection.Event, 64) // a full channel drops events: a disconnection is also seen as fewer peers
	sub, err := messaging.NewSubscriber(connectAll(c.cfg.watch), messaging.WithTypes(&msglib.ServiceEvent{}),
		messaging.WithLogger(c.cfg.logger),
		messaging.WithConnectionOptions(append(append(controlPlane(), c.cfg.conn...), connection.WithEvents(links))...))
	if err != nil {
		cancel()
		return nil, err
	}
	w.sub = sub
	resume := make(chan struct{}, 1)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); w.watchLinks(ctx, links, resume) }()
	go func() { defer wg.Done(); w.catchUps(ctx, c, resume) }()
	go func() {
		defer close(w.done)
		defer close(w.events)
		defer wg.Wait()
		defer cancel()
		for {
			m, err := messaging.RecvAs[*msglib.ServiceEvent](ctx, sub)
			if err != nil {
				if ctx.Err() != nil || errors.Is(err, connection.ErrClosed) {
					return
				}
				continue
			}
			w.live(Event{Kind: m.Kind, Instance: fromProto(m.Instance), Revision: m.Revision})
		}
	}()
	return w, nil
}

// resumeSettle is how long a watcher that lost a connection waits, once
// it is connected to an instance again, before it catches up: its
// subscription must reach that instance first, or a change published in
// between would be in neither the catch-up nor the notices.
const resumeSettle = 100 * time.Millisecond

// watchLinks asks for a catch-up (on resume) when one of the watcher's
// connections to the name-service instances closed (events, its socket's
// monitor events), or a publisher says notices were lost on the way: from
// then on live notices are held, and the catch-up runs once the watcher
// is connected to an instance again.
func (w *Watcher) watchLinks(ctx context.Context, events <-chan connection.Event, resume chan<- struct{}) {
	t := time.NewTicker(peerPoll)
	defer t.Stop()
	lost, peers := uint64(0), 0
	pending := false
	var ready time.Time // when the pending catch-up may run
	drop := func() {
		w.mu.Lock()
		w.holding = true
		w.mu.Unlock()
		pending, ready = true, time.Time{}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-events:
			if ev.Kind == connection.EventDisconnected {
				drop()
			}
			continue
		case <-t.C:
		}
		if l := w.sub.MessageStats().Lost; l > lost {
			lost = l
			drop()
		}
		n := w.sub.Stats().Peers
		if n < peers {
			drop()
		}
		peers = n
		switch {
		case !pending:
		case n == 0:
			ready = time.Time{}
		case ready.IsZero():
			ready = time.Now().Add(resumeSettle)
		case time.Now().After(ready):
			pending = false
			select {
			case resume <- struct{}{}:
			default:
			}
		}
	}
}

// catchUps learns the name service's revision as the watch begins, then
// runs a catch-up each time watchLinks asks for one.
func (w *Watcher) catchUps(ctx context.Context, c *Client, resume <-chan struct{}) {
	if orig, err := c.original(ctx); err != nil || orig {
		if err == nil {
			return // the original's name service publishes no changes
		}
	} else if rep, err := c.changesAfter(ctx, math.MaxUint64); err == nil {
		w.mu.Lock()
		if w.last == 0 {
			w.base = rep.Revision
		}
		w.mu.Unlock()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-resume:
		}
		w.catchUp(ctx, c)
	}
}

// catchUp asks for the changes after the last revision delivered, of each
// instance in turn until one knows them all, and delivers them with the
// notices held meanwhile.
func (w *Watcher) catchUp(ctx context.Context, c *Client) {
	w.mu.Lock()
	after := max(w.last, w.base)
	w.mu.Unlock()
	var missed []*msglib.ServiceEvent
	complete := false
	orig, err := c.original(ctx) // never ask the original's: the request would stop it
	if after != 0 && err == nil && !orig {
		for range strings.Count(c.cfg.requests, ",") + 1 {
			var rep *msglib.ServiceChangesRep
			if rep, err = c.changesAfter(ctx, after); err != nil {
				continue
			}
			missed = append(missed, rep.Events...)
			if rep.Complete {
				complete = true
				break
			}
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	evs := w.held
	for _, m := range missed {
		evs = append(evs, Event{Kind: m.Kind, Instance: fromProto(m.Instance), Revision: m.Revision})
	}
	slices.SortStableFunc(evs, func(a, b Event) int { return cmp.Compare(a.Revision, b.Revision) })
	for _, ev := range evs {
		w.deliverLocked(ev)
	}
	w.held, w.holding = nil, false
	w.resumes.Add(1)
	if !complete && ctx.Err() == nil {
		w.gaps.Add(1)
		c.cfg.logger.Warn("watcher could not catch up: changes may have been missed; list again",
			"after", after, "err", err)
	}
}

// changesAfter asks a name-service instance for the changes after rev.
func (c *Client) changesAfter(ctx context.Context, rev uint64) (*msglib.ServiceChangesRep, error) {
	rep, err := c.call(ctx, &msglib.ServiceChangesReq{AfterRevision: rev})
	if err != nil {
		return nil, err
	}
	return messaging.As[*msglib.ServiceChangesRep](rep)
}

// live takes a notice heard from an instance: delivered, or held while
// the watcher catches up.
func (w *Watcher) live(ev Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.holding {
		w.held = append(w.held, ev)
		return
	}
	w.deliverLocked(ev)
}

// push delivers a change of a direct store.
func (w *Watcher) push(ev Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.deliverLocked(ev)
}

// deliverLocked delivers ev unless it was delivered already; w.mu is held.
func (w *Watcher) deliverLocked(ev Event) {
	if ev.Revision != 0 {
		if !w.seen.add(ev) {
			w.repeats.Add(1) // heard from another instance already
			return
		}
		w.last = max(w.last, ev.Revision)
	}
	select {
	case w.events <- ev:
	default: // full: drop the oldest (unless the reader just took it)
		select {
		case <-w.events:
		default:
		}
		w.events <- ev // only this goroutine sends (under w.mu): there is room now
	}
}

// recent remembers the last n events seen, to drop repeats.
type recent struct {
	set  map[recentKey]struct{}
	ring []recentKey
	next int
}

type recentKey struct {
	revision          uint64
	kind              msglib.ServiceEvent_Kind
	service, instance string
}

func newRecent(n int) *recent {
	return &recent{set: make(map[recentKey]struct{}, n), ring: make([]recentKey, 0, n)}
}

// add reports whether ev is new, remembering it.
func (r *recent) add(ev Event) bool {
	k := recentKey{ev.Revision, ev.Kind, ev.Instance.Service, ev.Instance.ID}
	if _, dup := r.set[k]; dup {
		return false
	}
	if len(r.ring) < cap(r.ring) {
		r.ring = append(r.ring, k)
	} else {
		delete(r.set, r.ring[r.next])
		r.ring[r.next] = k
		r.next = (r.next + 1) % len(r.ring)
	}
	r.set[k] = struct{}{}
	return true
}

// Repeats counts the notices dropped because another name-service
// instance had already delivered the same change.
func (w *Watcher) Repeats() uint64 { return w.repeats.Load() }

// Resumes counts the catch-ups the watcher ran: after one of its
// connections to the name-service instances closed, or a notice was lost
// on the way.
func (w *Watcher) Resumes() uint64 { return w.resumes.Load() }

// Gaps counts the catch-ups that no name-service instance could complete:
// changes may have been missed, and a List tells what is there now.
func (w *Watcher) Gaps() uint64 { return w.gaps.Load() }

// revision returns the highest revision the watcher delivered (0: none).
func (w *Watcher) revision() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last
}

// Events returns the channel of notices; it is closed by Close, and when
// a direct store stops watching (etcd compacted changes it had not
// delivered: list again and watch anew).
func (w *Watcher) Events() <-chan Event { return w.events }

// Close stops the watcher.
func (w *Watcher) Close() error {
	w.cancel()
	var err error
	if w.sub != nil {
		err = w.sub.Close()
	}
	<-w.done
	return err
}
