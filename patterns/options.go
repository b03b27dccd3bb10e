package patterns

import (
	"context"
	"log/slog"
	"time"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/internal/endpoint"
	"github.com/dividere-go/dividere/internal/retry"
	"github.com/dividere-go/dividere/messaging"
)

// Defaults of the load-balancing pattern (docs/protocol.md); each
// option's doc says the default it overrides.
const (
	defaultHeartbeatInterval = 3 * time.Second
	// defaultLiveness is how many intervals of silence make a peer dead.
	defaultLiveness       = 2
	defaultQueueLimit     = 10_000
	defaultQueueBytes     = 64 << 20
	defaultQueueTimeout   = 30 * time.Second
	defaultRequestTimeout = 2500 * time.Millisecond
	defaultRetries        = 3
	defaultDedupLimit     = 10_000
	// defaultDedupWindow is longer than a Client's whole retry budget
	// with the defaults (4 attempts of defaultRequestTimeout), so that
	// every resend of a request finds the reply kept.
	defaultDedupWindow = 30 * time.Second
	defaultDedupBytes  = 16 << 20
)

// Option configures every kind: a Broker, a Worker, a MsgWorker and a
// Client (WithLogger, WithConnectionOptions). The options that concern
// some kinds only return a narrower interface, accepted by those kinds'
// constructors alone, so that an option given to a kind it does not
// apply to is a compile error rather than a setting silently ignored.
type Option interface {
	BrokerOption
	WorkerOption
	ClientOption
}

// BrokerOption configures a Broker: any Option, HeartbeatOption or
// RetryOption, and WithQueue and WithForwardHook.
type BrokerOption interface{ applyBroker(*config) }

// MsgWorkerOption configures a MsgWorker: any WorkerOption, and
// WithReactorOptions.
type MsgWorkerOption interface{ applyMsgWorker(*config) }

// WorkerOption configures a Worker and a MsgWorker: any Option,
// HeartbeatOption or IdentityOption, and WithCapacity, WithDedup and
// WithReconnectBackoffMax.
type WorkerOption interface {
	MsgWorkerOption
	applyWorker(*config)
}

// ClientOption configures a Client: any Option, RetryOption or
// IdentityOption, and WithMessagingOptions.
type ClientOption interface{ applyClient(*config) }

// HeartbeatOption configures both ends of the heartbeats, a Broker and
// its Workers (WithHeartbeat).
type HeartbeatOption interface {
	BrokerOption
	WorkerOption
}

// RetryOption configures a Client's attempts, and tells a Broker its
// clients' attempt timeout (WithRetry).
type RetryOption interface {
	BrokerOption
	ClientOption
}

// IdentityOption configures what a broker knows by a routing identity:
// a Worker, a MsgWorker and a Client (WithIdentity).
type IdentityOption interface {
	WorkerOption
	ClientOption
}

// option is every kind's option; each With… function returns it as the
// interface of the kinds it is for.
type option func(*config)

func (o option) applyBroker(c *config)    { o(c) }
func (o option) applyWorker(c *config)    { o(c) }
func (o option) applyMsgWorker(c *config) { o(c) }
func (o option) applyClient(c *config)    { o(c) }

type config struct {
	interval     time.Duration
	dead         time.Duration // silence that makes a peer dead; 0: defaultLiveness intervals
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
	reactor      []messaging.ReactorOption // a MsgWorker's Reactor's
	messaging    []messaging.RequestOption // a Client's
	forward      func(ctx context.Context, h *messaging.Header)
	dedupLimit   int // kept replies at most; 0: none kept
	dedupWindow  time.Duration
	dedupBytes   int64
}

// newConfig applies opts with apply, the method of the constructor's
// kind.
func newConfig[O any](opts []O, apply func(O, *config)) config {
	c := config{
		interval:     defaultHeartbeatInterval,
		queueLimit:   defaultQueueLimit,
		queueTimeout: defaultQueueTimeout,
		queueBytes:   defaultQueueBytes,
		capacity:     1,
		timeout:      defaultRequestTimeout,
		retries:      defaultRetries,
		reconnectMax: 32 * time.Second,
		dedupLimit:   defaultDedupLimit,
		dedupWindow:  defaultDedupWindow,
		dedupBytes:   defaultDedupBytes,
	}
	for _, o := range opts {
		if any(o) != nil {
			apply(o, &c)
		}
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	c.conn = append([]connection.Option{connection.WithLogger(c.logger)}, c.conn...)
	return c
}

// dealerOptions are the socket options of a worker's or client's
// DEALER: WithConnectionOptions', then extra.
func (c *config) dealerOptions(extra ...connection.DealerOption) []connection.DealerOption {
	out := make([]connection.DealerOption, 0, len(c.conn)+len(extra))
	for _, o := range c.conn {
		out = append(out, o)
	}
	return append(out, extra...)
}

// routerOptions are the socket options of a broker's ROUTERs.
func (c *config) routerOptions(extra ...connection.RouterOption) []connection.RouterOption {
	out := make([]connection.RouterOption, 0, len(c.conn)+len(extra))
	for _, o := range c.conn {
		out = append(out, o)
	}
	return append(out, extra...)
}

func (c *config) deadAfter() time.Duration {
	if c.dead > 0 {
		return c.dead
	}
	return defaultLiveness * c.interval
}

// WithHeartbeat sets the heartbeat interval (default 3 s), and the
// timeout: how long a silent peer is given before it counts as dead
// (default 2 intervals). Zero keeps a default. The Broker and its
// Workers should agree. The parameters are connection.WithHeartbeat's:
// the same thing, one level up.
func WithHeartbeat(interval, timeout time.Duration) HeartbeatOption {
	return option(func(c *config) {
		if interval > 0 {
			c.interval = interval
		}
		if timeout > 0 {
			c.dead = timeout
		}
	})
}

// WithQueue bounds the broker's queue of requests waiting for a worker:
// at most limit requests (default 10,000), each for at most timeout
// (default 30 s), and at most bytes in all (default 64 MiB), so that
// clients sending large requests while no worker is free cannot make
// the broker hold more. A request past a bound is dropped and counted
// (BrokerStats.Dropped, Expired). Zero keeps a bound's default.
func WithQueue(limit int, timeout time.Duration, bytes int64) BrokerOption {
	return option(func(c *config) {
		if limit > 0 {
			c.queueLimit = limit
		}
		if timeout > 0 {
			c.queueTimeout = timeout
		}
		if bytes > 0 {
			c.queueBytes = bytes
		}
	})
}

// WithCapacity lets a Worker take n requests at once, handled on n
// goroutines (default 1), capped at 1024 by the broker. The broker
// learns it from the worker's ready and heartbeat messages. A worker of
// several brokers announces n to each and runs at most n handlers in
// all: a request from one waits while the others' fill the worker.
func WithCapacity(n int) WorkerOption {
	return option(func(c *config) {
		if n > 0 {
			c.capacity = n
		}
	})
}

// policy is the retry scheme WithRetry sets (internal/retry, which the
// name-service client retries by too).
func (c config) policy() retry.Policy {
	return retry.Policy{Timeout: c.timeout, Retries: c.retries, Backoff: c.backoff}
}

// WithRetry sets a Client's per-attempt timeout (default 2.5 s; zero
// keeps it), how many times it sends a request again (default 3), and
// the wait before each resend (doubling each time; 0 resends at once).
// A Broker takes the timeout as its clients' (and ignores the rest): a
// worker that has answered none of the requests it holds for that long
// gets no more until it answers.
func WithRetry(timeout time.Duration, retries int, backoff time.Duration) RetryOption {
	return option(func(c *config) {
		if timeout > 0 {
			c.timeout = timeout
		}
		c.retries, c.backoff = max(retries, 0), backoff
	})
}

// WithReactorOptions passes options to the Reactor whose rules a
// MsgWorker answers requests by (messaging.WithHandlerTimeout,
// WithHiddenErrors, WithMiddleware, WithObserver). The worker's
// WithLogger is its Reactor's logger too.
func WithReactorOptions(opts ...messaging.ReactorOption) MsgWorkerOption {
	return option(func(c *config) { c.reactor = append(c.reactor, opts...) })
}

// WithMessagingOptions passes messaging options to a Client's requests:
// the messaging.WithOutgoing hooks (where a tracer sets the trace
// context) see each request that Call sends.
func WithMessagingOptions(opts ...messaging.RequestOption) ClientOption {
	return option(func(c *config) { c.messaging = append(c.messaging, opts...) })
}

// WithForwardHook makes a Broker call f with the header of every request
// it hands a worker, and send the request on with the header as f leaves
// it: where a tracer puts the broker's hop in the request's trace. The
// broker decodes headers only with a hook.
func WithForwardHook(f func(ctx context.Context, h *messaging.Header)) BrokerOption {
	return option(func(c *config) { c.forward = f })
}

// WithIdentity sets a Worker's or Client's routing identity (unique by
// default). A worker keeps it across reconnects, so the broker knows it
// again.
func WithIdentity(id string) IdentityOption {
	return option(func(c *config) { c.identity = id })
}

// WithLogger sets the logger (default slog.Default()), which is also the
// default logger of the sockets (and a MsgWorker's Reactor) underneath.
func WithLogger(l *slog.Logger) Option { return option(func(c *config) { c.logger = l }) }

// WithConnectionOptions passes options to the sockets underneath: a
// Broker's two ROUTERs, a Worker's or Client's DEALERs. The routing
// identity is WithIdentity's.
func WithConnectionOptions(opts ...connection.Option) Option {
	return option(func(c *config) { c.conn = append(c.conn, opts...) })
}

// WithReconnectBackoffMax caps a worker's wait between attempts to reach
// a broker it lost (default 32 s; the first wait is one heartbeat
// interval, doubling).
func WithReconnectBackoffMax(d time.Duration) WorkerOption {
	return option(func(c *config) { c.reconnectMax = d })
}

// WithDedup sets how many replies a Worker keeps, for how long, and how
// many bytes they may take in all, so that a request a Client sends
// again (it keeps its request id across attempts, whichever broker
// carries them) is answered with the reply the worker kept rather than
// by running the handler again (default 10,000 replies for 30 s, 16 MiB;
// each kept reply counts its size, its request id and its bookkeeping).
// A limit of 0 keeps none: every attempt runs the handler; a window or
// bytes of 0 keeps its default. The oldest kept replies make room for
// new ones past a bound, and are counted (WorkerStats.Evicted): keep the
// bounds above what a worker replies in one window.
func WithDedup(limit int, window time.Duration, bytes int64) WorkerOption {
	return option(func(c *config) {
		c.dedupLimit = max(limit, 0)
		if window > 0 {
			c.dedupWindow = window
		}
		if bytes > 0 {
			c.dedupBytes = bytes
		}
	})
}

// explicit writes ep back as an endpoint list of one, with its role
// marked, so that a socket of another kind attaches it the same way.
func explicit(ep endpoint.Endpoint) string {
	if ep.Role == endpoint.Bind {
		return "@" + ep.Addr
	}
	return ">" + ep.Addr
}
