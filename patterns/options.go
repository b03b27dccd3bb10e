package patterns

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/internal/retry"
	"github.com/dividere-go/dividere/messaging"
)

// Defaults of the load-balancing pattern (docs/protocol.md).
const (
	// DefaultHeartbeatInterval is how often a worker heartbeats; the
	// broker answers each heartbeat in kind.
	DefaultHeartbeatInterval = 3 * time.Second
	// DefaultLiveness is how many intervals of silence make a peer dead:
	// the broker stops giving a silent worker requests, and a worker that
	// hears nothing from its broker reconnects.
	DefaultLiveness = 2
	// DefaultQueueLimit is how many requests the broker holds while no
	// worker is free; past it, new requests are dropped (and counted).
	DefaultQueueLimit = 10_000
	// DefaultQueueBytes bounds the same queue in bytes, so that clients
	// sending large requests while no worker is free cannot make the
	// broker hold more than this.
	DefaultQueueBytes = 64 << 20
	// DefaultQueueTimeout is how long a request may wait for a worker
	// before the broker drops it (and counts it); the client's retry
	// decides what happens next.
	DefaultQueueTimeout = 30 * time.Second
	// DefaultRequestTimeout is how long a Client waits for a reply before
	// sending the request again.
	DefaultRequestTimeout = 2500 * time.Millisecond
	// DefaultRetries is how many times a Client sends a request again
	// before giving up with ErrRetriesExhausted.
	DefaultRetries = 3
	// DefaultDedupLimit is how many replies a Worker keeps to answer a
	// resent request without running its handler again (WithDedup).
	DefaultDedupLimit = 10_000
	// DefaultDedupWindow is how long a Worker keeps a reply: longer than
	// a Client's whole retry budget with the defaults (4 attempts of
	// DefaultRequestTimeout), so that every resend of a request finds it.
	DefaultDedupWindow = 30 * time.Second
	// DefaultDedupBytes bounds the kept replies in bytes, so that large
	// replies cannot make a worker hold more than this.
	DefaultDedupBytes = 16 << 20
)

// Option configures a Broker, Worker, Client, MsgWorker or MsgClient.
// WithLogger and WithConnectionOptions concern every kind; each other
// option's doc says which kinds it is for, and a constructor given an
// option that is not for its kind fails with connection.ErrOption, naming
// the option, so that a setting is never silently ignored.
type Option func(*config)

type config struct {
	interval     time.Duration
	dead         time.Duration // silence that makes a peer dead; 0: DefaultLiveness intervals
	queueLimit   int
	queueTimeout time.Duration
	queueBytes   int64
	capacity     int
	timeout      time.Duration
	retries      int
	backoff      time.Duration
	identity     string
	logger       *slog.Logger
	conn         []connection.Option
	reconnectMax time.Duration
	reactor      []messaging.Option
	forward      func(ctx context.Context, h *messaging.Header)
	dedupLimit   int // kept replies at most; 0: none kept
	dedupWindow  time.Duration
	dedupBytes   int64
	marked       []string // the options that apply to some kinds only
}

// appliesTo names the kinds each kind-specific option is for. WithRetry
// is the broker's too: it gives the clients' timeout, past which a worker
// that answered nothing counts as stalled.
var appliesTo = map[string][]string{
	"WithHeartbeat":           {"Broker", "Worker", "MsgWorker"},
	"WithQueue":               {"Broker"},
	"WithQueueBytes":          {"Broker"},
	"WithCapacity":            {"Worker", "MsgWorker"},
	"WithRetry":               {"Client", "MsgClient", "Broker"},
	"WithReactorOptions":      {"MsgWorker", "MsgClient"},
	"WithForwardHook":         {"Broker"},
	"WithIdentity":            {"Worker", "MsgWorker", "Client", "MsgClient"},
	"WithReconnectBackoffMax": {"Worker", "MsgWorker"},
	"WithDedup":               {"Worker", "MsgWorker"},
	"WithDedupBytes":          {"Worker", "MsgWorker"},
}

func (c *config) mark(option string) { c.marked = append(c.marked, option) }

// check fails with connection.ErrOption when an option is not for kind.
func (c config) check(kind string) error {
	for _, o := range c.marked {
		if !slices.Contains(appliesTo[o], kind) {
			return fmt.Errorf("%w: patterns.%s to a %s", connection.ErrOption, o, kind)
		}
	}
	return nil
}

func newConfig(opts []Option) config {
	c := config{
		interval:     DefaultHeartbeatInterval,
		queueLimit:   DefaultQueueLimit,
		queueTimeout: DefaultQueueTimeout,
		queueBytes:   DefaultQueueBytes,
		capacity:     1,
		timeout:      DefaultRequestTimeout,
		retries:      DefaultRetries,
		reconnectMax: 32 * time.Second,
		dedupLimit:   DefaultDedupLimit,
		dedupWindow:  DefaultDedupWindow,
		dedupBytes:   DefaultDedupBytes,
	}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	c.conn = append([]connection.Option{connection.WithLogger(c.logger)}, c.conn...)
	return c
}

func (c *config) deadAfter() time.Duration {
	if c.dead > 0 {
		return c.dead
	}
	return DefaultLiveness * c.interval
}

// WithHeartbeat sets the heartbeat interval, and the timeout: how long a
// silent peer is given before it counts as dead (0: DefaultLiveness
// intervals). The Broker and its Workers should agree. The parameters
// are connection.WithHeartbeat's: the same thing, one level up.
func WithHeartbeat(interval, timeout time.Duration) Option {
	return func(c *config) {
		c.mark("WithHeartbeat")
		if interval > 0 {
			c.interval = interval
		}
		if timeout > 0 {
			c.dead = timeout
		}
	}
}

// WithQueue bounds the broker's queue of requests waiting for a worker:
// at most limit requests, each for at most timeout.
func WithQueue(limit int, timeout time.Duration) Option {
	return func(c *config) { c.queueLimit, c.queueTimeout = limit, timeout; c.mark("WithQueue") }
}

// WithQueueBytes bounds the broker's queue in bytes as well (default
// DefaultQueueBytes); a request that would take it past n is dropped and
// counted.
func WithQueueBytes(n int64) Option {
	return func(c *config) { c.queueBytes = n; c.mark("WithQueueBytes") }
}

// WithCapacity lets a Worker take n requests at once, handled on n
// goroutines (default 1). The broker learns it from the worker's ready
// and heartbeat messages. A worker of several brokers announces n to
// each and runs at most n handlers in all: a request from one waits
// while the others' fill the worker.
func WithCapacity(n int) Option {
	return func(c *config) {
		c.mark("WithCapacity")
		if n > 0 {
			c.capacity = n
		}
	}
}

// policy is the retry scheme WithRetry sets (internal/retry, which the
// name-service client retries by too).
func (c config) policy() retry.Policy {
	return retry.Policy{Timeout: c.timeout, Retries: c.retries, Backoff: c.backoff}
}

// WithRetry sets a Client's per-attempt timeout, how many times it sends
// a request again, and the wait before each resend (doubling each time;
// 0 resends at once). A Broker takes the timeout as its clients': a
// worker that has answered none of the requests it holds for that long
// gets no more until it answers (default DefaultRequestTimeout).
func WithRetry(timeout time.Duration, retries int, backoff time.Duration) Option {
	return func(c *config) { c.timeout, c.retries, c.backoff = timeout, retries, backoff; c.mark("WithRetry") }
}

// WithReactorOptions passes messaging options on: to the Reactor rules a
// MsgWorker answers requests by (messaging.WithHandlerTimeout,
// WithHiddenErrors, WithMiddleware, WithObserver), and to a MsgClient,
// whose requests go through their messaging.WithOutgoing hooks (where a
// tracer sets the trace context). A Broker, Worker or Client refuses it
// (connection.ErrOption): it has no Reactor.
func WithReactorOptions(opts ...messaging.Option) Option {
	return func(c *config) { c.reactor = append(c.reactor, opts...); c.mark("WithReactorOptions") }
}

// WithForwardHook makes a Broker call f with the header of every request
// it hands a worker, and send the request on with the header as f leaves
// it: where a tracer puts the broker's hop in the request's trace. The
// broker decodes headers only with a hook.
func WithForwardHook(f func(ctx context.Context, h *messaging.Header)) Option {
	return func(c *config) { c.forward = f; c.mark("WithForwardHook") }
}

// WithIdentity sets a Worker's or Client's routing identity (unique by
// default). A worker keeps it across reconnects, so the broker knows it
// again.
func WithIdentity(id string) Option {
	return func(c *config) { c.identity = id; c.mark("WithIdentity") }
}

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithConnectionOptions passes options to the sockets underneath.
func WithConnectionOptions(opts ...connection.Option) Option {
	return func(c *config) { c.conn = append(c.conn, opts...) }
}

// WithReconnectBackoffMax caps a worker's wait between attempts to reach
// a broker it lost (default 32 s; the first wait is one heartbeat
// interval, doubling).
func WithReconnectBackoffMax(d time.Duration) Option {
	return func(c *config) { c.reconnectMax = d; c.mark("WithReconnectBackoffMax") }
}

// WithDedup sets how many replies a Worker keeps, and for how long, so
// that a request a Client sends again (it keeps its request id across
// attempts, whichever broker carries them) is answered with the reply
// the worker kept rather than by running the handler again (default
// DefaultDedupLimit replies for DefaultDedupWindow). A limit of 0 keeps
// none: every attempt runs the handler. The oldest kept replies make
// room for new ones past the limit, and are counted
// (WorkerStats.Evicted): keep the limit above the replies a worker makes
// in one window.
func WithDedup(limit int, window time.Duration) Option {
	return func(c *config) {
		c.mark("WithDedup")
		c.dedupLimit = max(limit, 0)
		if window > 0 {
			c.dedupWindow = window
		}
	}
}

// WithDedupBytes bounds the replies a Worker keeps in bytes as well
// (default DefaultDedupBytes; each kept reply counts its size, its
// request id and its bookkeeping).
func WithDedupBytes(n int64) Option {
	return func(c *config) { c.dedupBytes = n; c.mark("WithDedupBytes") }
}

// explicit writes ep back as an endpoint list of one, with its role
// marked, so that a socket of another kind attaches it the same way.
func explicit(ep connection.Endpoint) string {
	if ep.Role == connection.Bind {
		return "@" + ep.Addr
	}
	return ">" + ep.Addr
}
