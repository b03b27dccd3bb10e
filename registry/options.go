package registry

import (
	"log/slog"
	"time"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/internal/retry"
	"github.com/dividere-go/dividere/messaging"
)

// Options are scoped at compile time: NewClient takes ClientOptions and
// NewServer ServerOptions, so that a server's option given to a client
// (WithRegistrars to NewClient) is a type error. An Option applies to both.

// Option configures a Server and a Client alike: WithLogger,
// WithConnectionOptions, WithEndpoints and WithStore.
type Option interface {
	ClientOption
	ServerOption
}

// ClientOption configures a Client: any Option, WithAddress, WithRetry,
// WithFailoverTimeout or WithMessagingOptions.
type ClientOption interface{ applyClient(*clientConfig) }

// ServerOption configures a Server: any Option, WithDefaultTTL,
// WithSweepInterval, WithWorkers, WithRegistrars or WithLookupKeys.
type ServerOption interface{ applyServer(*serverConfig) }

type clientOption func(*clientConfig)

func (o clientOption) applyClient(c *clientConfig) { o(c) }

type serverOption func(*serverConfig)

func (o serverOption) applyServer(c *serverConfig) { o(c) }

// bothOption is an Option: what it sets, for a client and for a server.
type bothOption struct {
	client func(*clientConfig)
	server func(*serverConfig)
}

func (o bothOption) applyClient(c *clientConfig) { o.client(c) }
func (o bothOption) applyServer(c *serverConfig) { o.server(c) }

// WithLogger sets the logger of a Server or a Client, and of the sockets
// they make (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return bothOption{func(c *clientConfig) { c.logger = l }, func(c *serverConfig) { c.logger = l }}
}

// WithConnectionOptions passes options to the sockets of a Server (such
// as connection.WithCurveServer) or a Client (connection.WithCurveClient
// for a name service that requires CURVE; they also go to the sockets Call
// opens to service instances). A server's request socket accepts frames
// of up to 64 KiB by default (connection.WithMaxMessageSize changes it): a
// registration with its metadata is a few hundred bytes, and a peer
// sending more is disconnected before the frame is allocated.
func WithConnectionOptions(opts ...connection.Option) Option {
	return bothOption{
		func(c *clientConfig) { c.conn = append(c.conn, opts...) },
		func(c *serverConfig) { c.conn = append(c.conn, opts...) },
	}
}

// WithEndpoints sets the name service's three endpoints: where it answers
// requests, where it publishes notices (RediscoverReq) and where it
// publishes change notices (ServiceEvent, which Client.Watch hears). A
// Server binds them, a Client connects to them; WithEndpoints(s.Endpoints())
// points a client at server s. An empty notices or watch endpoint is the
// one before it with port+1 (a port the OS picks stays one), and an empty
// requests endpoint the default: a Server's is tcp://*:5000 (so notices
// on 5001 and change notices on 5002), a Client's as WithAddress says.
// The change notices have a port of their own because the original's
// services decode everything published on the notice port, and the
// thread that renews their registration dies on a type it does not know.
// A Client takes "host:port" for tcp://host:port, and lists of several
// name-service instances ("host:port,host:port", see WithAddress).
func WithEndpoints(requests, notices, watch string) Option {
	return bothOption{
		func(c *clientConfig) { c.requests, c.notices, c.watch = requests, notices, watch },
		func(c *serverConfig) { c.requests, c.notices, c.watch = requests, notices, watch },
	}
}

// WithStore keeps the registrations in s. A Server keeps its state there
// instead of in memory. A Client uses s itself, with no name-service
// process: a Go service and client that share one etcd cluster
// (etcdstore.Open) find each other, and services registered through any
// name-service instance on that cluster too; it then ignores its address.
// Neither closes s. A client on a store hears no RediscoverReq (a
// service.Service on one instead watches for its own registration going
// away), and WithRegistrars and WithLookupKeys do not apply to it: protect
// the store itself (etcd's authentication and TLS).
func WithStore(s Store) Option {
	return bothOption{func(c *clientConfig) { c.store = s }, func(c *serverConfig) { c.store = s }}
}

// WithAddress sets the name service's request address ("host:port" or a
// tcp:// endpoint); notices are then expected on port+1, and change
// notices on port+2 (WithEndpoints sets the three). Default: the
// environment variable DIVIDERE_REGISTRY, else localhost:5000. A
// comma-separated list names several name-service instances that share
// one store (etcd): requests go round-robin to the instances that are up,
// and one left unanswered for the failover timeout (WithFailoverTimeout)
// is sent again to the others, so the client fails over within a second
// when one goes down. An instance that comes back is connected to again
// within 250 ms (the sockets' reconnect interval) and takes its share of
// the requests again: there is no preferred instance to go back to, every
// one that is up is used. A store URL such as "etcd://host:2379,host:2379"
// makes the client use that store directly, as WithStore does, when its
// package is linked in (RegisterStore; import registry/etcdstore for etcd).
func WithAddress(addr string) ClientOption {
	return clientOption(func(c *clientConfig) { c.requests, c.notices, c.watch = addr, "", "" })
}

// WithFailoverTimeout sets how long a client that lists several
// name-service instances (WithAddress) waits for one to answer a request
// before it sends the request again, on a fresh socket, to the instances
// that are up (default 250 ms). A request that went to an instance as it
// died is so answered by another within about d plus a reconnection; the
// requests are idempotent, so one answered late by a slow instance and
// again by another does no harm. The attempts go on, d apart, for the
// WithRetry budget. d of 0 or over the WithRetry timeout leaves the
// WithRetry attempts as they are.
func WithFailoverTimeout(d time.Duration) ClientOption {
	return clientOption(func(c *clientConfig) { c.failover = d })
}

// WithMessagingOptions passes options to the requests Call makes to
// service instances (messaging.WithOutgoing, where a tracer sets the
// trace context; connection options go by WithConnectionOptions).
func WithMessagingOptions(opts ...messaging.RequestOption) ClientOption {
	return clientOption(func(c *clientConfig) { c.calls = append(c.calls, opts...) })
}

// WithRetry sets how the client retries a request to the name service,
// by the scheme patterns.WithRetry sets for the load-balancing Client:
// each attempt waits timeout; up to retries more follow on a fresh socket,
// the first after backoff and each next after twice the wait before.
// The default, 1 s, 1 and 0, bounds a call to 2 s; a context with an
// earlier deadline ends it earlier. A request that went to a name-service
// instance as it died (or restarted, before the socket saw the
// connection go) is lost, and the next attempt reaches the instances that
// are up; the requests are idempotent (an unregistration sent twice is
// answered NOT_FOUND the second time).
//
// The original's name service is slow (about a request a second), serves
// one at a time and answers even the requests given up on, so a second
// attempt would only queue behind the first: with one address, only a name
// service known to be dividere's (the client asks it, with a lookup of a
// reserved name, before a request only dividere's knows; a Service asks
// after registering) gets retries, and another gets one attempt for the
// whole budget. After a call timed out, the next ones take twice as long,
// up to 8 times, until a dividere name service answers again.
func WithRetry(timeout time.Duration, retries int, backoff time.Duration) ClientOption {
	return clientOption(func(c *clientConfig) {
		c.retry = retry.Policy{Timeout: timeout, Retries: retries, Backoff: backoff}
	})
}

// WithSweepInterval sets how often expired registrations are removed
// (default 100 ms); lookups never return an expired one meanwhile.
func WithSweepInterval(d time.Duration) ServerOption {
	return serverOption(func(c *serverConfig) { c.sweep = d })
}

// WithDefaultTTL gives registrations that carry no TTL (what the
// original's services send) one, so that a crashed service of any kind
// vanishes in the end; such services then stay registered only while they
// register again (on RediscoverReq, or on their own). The default, 0,
// keeps them until they unregister, as the original does.
func WithDefaultTTL(d time.Duration) ServerOption {
	return serverOption(func(c *serverConfig) { c.defaultTTL = d })
}

// WithWorkers sets how many requests the server serves at once. With a
// store that waits on the network (etcd), several do: a slow write does
// not hold up the lookups and renewals behind it, and the writes of
// several clients share etcd's disk syncs (8, the default). The in-memory
// store never waits, so by default its server serves one at a time,
// which saves handing requests between goroutines.
func WithWorkers(n int) ServerOption {
	return serverOption(func(c *serverConfig) { c.workers = n })
}

// WithRegistrars requires authenticated registrations: only these CURVE
// client keys (Z85) may register, renew or unregister, and a name belongs
// to the key that registered it first, so no one else can take it over.
// Each instance records its key (ServiceInstance.owner), so name-service
// instances sharing a store agree while the name has live instances; a
// server also remembers, while it runs, who took a name first. (Two keys
// claiming a new name at the same moment through two instances may both
// succeed; the store has no owner lock.) After a restart of a lone
// in-memory name service, the first to register a name again owns it,
// which RediscoverReq makes its rightful services.
// The name service's sockets must be CURVE servers
// (WithConnectionOptions(connection.WithCurveServer(...))).
func WithRegistrars(keys ...string) ServerOption {
	return serverOption(func(c *serverConfig) { c.registrars = append(c.registrars, keys...) })
}

// WithLookupKeys restricts lookups and lists to these CURVE client keys
// (registrars may always look up); by default lookups are open.
func WithLookupKeys(keys ...string) ServerOption {
	return serverOption(func(c *serverConfig) { c.lookupKeys = append(c.lookupKeys, keys...) })
}
