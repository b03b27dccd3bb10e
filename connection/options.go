package connection

import (
	"errors"
	"log/slog"
	"time"
)

// Defaults applied to every socket this package creates. They differ from
// libzmq's own defaults on purpose; each Option below overrides one.
const (
	// defaultHWM is the send and receive high-water mark, in messages per
	// peer. libzmq's 1000 makes a fast publisher silently drop most of a
	// burst; 100,000 absorbs bursts at the cost of memory (up to HWM times
	// the message size per peer and direction) before anything is dropped
	// or a sender blocks.
	defaultHWM = 100_000
	// defaultLinger is how long unsent messages are kept after Close.
	// Close itself never waits for them: libzmq keeps trying in the
	// background for at most this long, then drops them.
	defaultLinger = time.Second
	// defaultReconnectInterval is the first wait before a lost connection
	// is retried; it doubles up to defaultReconnectIntervalMax so that a
	// peer that stays down is not hammered.
	defaultReconnectInterval = 100 * time.Millisecond
	// defaultReconnectIntervalMax caps the reconnect backoff.
	defaultReconnectIntervalMax = 2 * time.Second
	// defaultHeartbeatInterval is how often ZMTP heartbeats (PING) are sent
	// on an idle connection, so that a dead peer behind a silent network
	// is noticed. libzmq sends none by default.
	defaultHeartbeatInterval = 5 * time.Second
	// defaultHeartbeatTimeout is how long without any traffic from a peer
	// before its connection is dropped (and, on a connecting socket,
	// retried).
	defaultHeartbeatTimeout = 15 * time.Second
	// defaultMaxMessageSize is the largest frame a socket accepts (bytes).
	// A peer that sends a larger one is disconnected by libzmq rather than
	// allowed to exhaust memory. libzmq's own default is unlimited.
	defaultMaxMessageSize = 256 << 20
	// defaultSubscriptionMaxSize is the largest frame a Publisher accepts.
	// A publisher only ever receives subscriptions, which are topic
	// prefixes (a message type's topic is its name plus two bytes), so a
	// peer sending more is disconnected before libzmq buffers it:
	// otherwise one 10 MB "subscription" costs the publisher about
	// 800 MB. WithMaxMessageSize overrides it.
	defaultSubscriptionMaxSize = 4 << 10
	// defaultBacklog is the listen backlog of every bound TCP endpoint
	// (ZMQ_BACKLOG): how many connections the kernel queues before the
	// socket accepts them. At libzmq's 100, a wave of a thousand clients
	// made the kernel drop SYNs, and each dropped client waited a one
	// second retransmit. The kernel caps it at net.core.somaxconn.
	defaultBacklog = 1024
	// defaultSlowSubscriberWait is how long a Publisher's Send waits for a
	// subscriber whose queue is full before it drops messages for that
	// subscriber. A subscriber that keeps up, but less fast than a burst
	// is published (the network, its I/O thread, a pause), then loses
	// nothing: the publisher slows to its pace, as a TCP sender does.
	// libzmq makes room in a full queue only once the subscriber has read
	// half of it (50,000 messages at the default high-water mark: 170 ms
	// of 1 KiB messages at 300 MB/s), so the wait is generous. One that
	// stays full this long is slow: the publisher stops waiting and, for
	// slowSubscriberHold, publishes as libzmq's PUB does, dropping for
	// whichever subscriber's queue is full (the slow one, and any other
	// that cannot keep up with the publisher's own pace meanwhile). A
	// messaging Subscriber counts what it missed.
	defaultSlowSubscriberWait = 500 * time.Millisecond
	// slowSubscriberHold is how long a Publisher drops for a slow
	// subscriber before it waits for it again; it doubles, up to
	// slowSubscriberHoldMax, each time the subscriber is found slow again
	// soon after, so that a stuck subscriber costs the publisher a few
	// percent of its time at most.
	slowSubscriberHold    = time.Second
	slowSubscriberHoldMax = 30 * time.Second
	// Lossless, given to WithSlowSubscriberWait, makes a Publisher wait
	// for a full subscriber as long as Send's context allows and never
	// drop: one slow subscriber then slows the publisher, and so every
	// other subscriber.
	Lossless time.Duration = -1
)

// Option configures any kind of socket (and a Proxy's two ends, and an
// Authenticator): it is accepted by every constructor. The options that
// apply to one kind of socket only return that kind's narrower interface
// (PublisherOption for WithSlowSubscriberWait, SubscriberOption for
// WithTopics, IdentityOption, UserIDOption), so that an option given to a
// kind it does not apply to is a compile error rather than a setting
// silently ignored.
type Option interface {
	PublisherOption
	SubscriberOption
	RequestOption
	ResponseOption
	DealerOption
	RouterOption
	apply(*config)
}

// PublisherOption configures a Publisher: any Option, or
// WithSlowSubscriberWait.
type PublisherOption interface{ applyPublisher(*config) }

// SubscriberOption configures a Subscriber: any Option, or WithTopics.
type SubscriberOption interface{ applySubscriber(*config) }

// RequestOption configures a Request: any Option, or WithIdentity.
type RequestOption interface{ applyRequest(*config) }

// ResponseOption configures a Response: any Option, or WithUserID.
type ResponseOption interface{ applyResponse(*config) }

// DealerOption configures a Dealer: any Option, or WithIdentity.
type DealerOption interface{ applyDealer(*config) }

// RouterOption configures a Router: any Option, WithIdentity or
// WithUserID.
type RouterOption interface{ applyRouter(*config) }

// IdentityOption configures the sockets that have a routing identity:
// Dealer, Router and Request (WithIdentity).
type IdentityOption interface {
	DealerOption
	RouterOption
	RequestOption
}

// UserIDOption configures the sockets that can report who sent a message:
// Response and Router (WithUserID).
type UserIDOption interface {
	ResponseOption
	RouterOption
}

// option is an Option: it applies to every kind.
type option func(*config)

func (o option) apply(c *config)           { o(c) }
func (o option) applyPublisher(c *config)  { o(c) }
func (o option) applySubscriber(c *config) { o(c) }
func (o option) applyRequest(c *config)    { o(c) }
func (o option) applyResponse(c *config)   { o(c) }
func (o option) applyDealer(c *config)     { o(c) }
func (o option) applyRouter(c *config)     { o(c) }

type publisherOption func(*config)

func (o publisherOption) applyPublisher(c *config) { o(c) }

type subscriberOption func(*config)

func (o subscriberOption) applySubscriber(c *config) { o(c) }

type identityOption func(*config)

func (o identityOption) applyDealer(c *config)  { o(c) }
func (o identityOption) applyRouter(c *config)  { o(c) }
func (o identityOption) applyRequest(c *config) { o(c) }

type userIDOption func(*config)

func (o userIDOption) applyResponse(c *config) { o(c) }
func (o userIDOption) applyRouter(c *config)   { o(c) }

type config struct {
	sendHWM, recvHWM          int
	linger                    time.Duration
	reconnect, reconnectMax   time.Duration
	heartbeat, heartbeatTmout time.Duration
	maxMsgSize                int64
	maxMsgSizeSet             bool
	backlog                   int
	slowWait                  time.Duration
	identity                  string
	logger                    *slog.Logger
	events                    chan<- Event
	name                      string
	monitor                   bool
	topics                    []string
	topicsSet                 bool
	curveServer, curveClient  *KeyPair
	curveServerKey            string
	curveAllow                *AllowList // WithCurveAllowList (curve.go)
	userID                    bool
	zconfig                   // the libzmq engine's own options
	immediate                 bool
}

// newConfig is the configuration that opts make of the defaults; apply is
// the method of the constructor's kind of option (Option.apply,
// PublisherOption.applyPublisher...).
func newConfig[O any](opts []O, apply func(O, *config)) config {
	c := config{
		sendHWM:        defaultHWM,
		recvHWM:        defaultHWM,
		linger:         defaultLinger,
		reconnect:      defaultReconnectInterval,
		reconnectMax:   defaultReconnectIntervalMax,
		heartbeat:      defaultHeartbeatInterval,
		heartbeatTmout: defaultHeartbeatTimeout,
		maxMsgSize:     defaultMaxMessageSize,
		backlog:        defaultBacklog,
		slowWait:       defaultSlowSubscriberWait,
		monitor:        true,
	}
	for _, o := range opts {
		if any(o) != nil {
			apply(o, &c)
		}
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	return c
}

// WithSendHWM sets the send high-water mark in messages per peer
// (0 = unlimited; the default is 100,000, see defaultHWM for why).
func WithSendHWM(n int) Option { return option(func(c *config) { c.sendHWM = n }) }

// WithRecvHWM sets the receive high-water mark in messages per peer
// (0 = unlimited; the default is 100,000).
func WithRecvHWM(n int) Option { return option(func(c *config) { c.recvHWM = n }) }

// WithHWM sets both high-water marks (the default is 100,000 messages
// per peer and direction).
func WithHWM(n int) Option { return option(func(c *config) { c.sendHWM, c.recvHWM = n, n }) }

// WithLinger sets how long unsent messages survive Close (the default is
// one second; Close itself never waits for them).
// Negative means forever, which is only useful with a context that is
// terminated explicitly; this package never does so.
func WithLinger(d time.Duration) Option { return option(func(c *config) { c.linger = d }) }

// WithReconnectInterval sets the first reconnect wait and the backoff cap
// (the defaults are 100 ms, doubling up to 2 s). A max of 0 or less than
// first disables the backoff.
func WithReconnectInterval(first, max time.Duration) Option {
	return option(func(c *config) { c.reconnect, c.reconnectMax = first, max })
}

// WithHeartbeat sets the ZMTP heartbeat interval and timeout (the
// defaults are a PING every 5 s on an idle connection, and a peer silent
// for 15 s is dropped); an interval of 0 disables heartbeats.
func WithHeartbeat(interval, timeout time.Duration) Option {
	return option(func(c *config) { c.heartbeat, c.heartbeatTmout = interval, timeout })
}

// WithMaxMessageSize sets the largest frame accepted, in bytes; -1 means
// no limit. A peer that sends a larger one is disconnected (a connecting
// socket then re-attaches, see Stats.Reattaches). The default is
// 256 MiB, and 4 KiB for a Publisher, which only ever receives
// subscriptions.
func WithMaxMessageSize(n int64) Option {
	return option(func(c *config) { c.maxMsgSize, c.maxMsgSizeSet = n, true })
}

// WithSlowSubscriberWait sets how long a Publisher's Send waits for a
// subscriber whose queue (the high-water mark) is full before dropping
// for it (the default is 500 ms, see defaultSlowSubscriberWait for the
// policy after it); 0 never waits (libzmq's PUB),
// Lossless waits as long as Send's context allows.
func WithSlowSubscriberWait(d time.Duration) PublisherOption {
	return publisherOption(func(c *config) { c.slowWait = d })
}

// WithBacklog sets the listen backlog of the socket's bound TCP endpoints
// (the default is 1024, capped by the kernel's net.core.somaxconn).
func WithBacklog(n int) Option { return option(func(c *config) { c.backlog = n }) }

// WithIdentity sets the routing identity a ROUTER peer sees for this
// socket. Dealers get a unique one by default.
func WithIdentity(id string) IdentityOption {
	return identityOption(func(c *config) { c.identity = id })
}

// WithLogger sets the logger for socket events (debug level) and problems
// (warn level). The default is slog.Default().
func WithLogger(l *slog.Logger) Option { return option(func(c *config) { c.logger = l }) }

// WithName names the socket in log lines and events.
func WithName(name string) Option { return option(func(c *config) { c.name = name }) }

// WithEvents delivers the socket's events to ch as well as to the log.
// Delivery never blocks the socket: when ch is full the event is dropped
// and counted in Stats().EventsDropped.
func WithEvents(ch chan<- Event) Option { return option(func(c *config) { c.events = ch }) }

// WithImmediate queues outgoing messages only to peers whose connection
// is complete (ZMQ_IMMEDIATE).
func WithImmediate() Option { return option(func(c *config) { c.immediate = true }) }

// WithUserID makes RecvUser report, with each message, the identity its
// sender was authenticated as: the Z85 public key of a CURVE client (see
// Authenticator). It costs a lookup per message, so it is off by default.
func WithUserID() UserIDOption { return userIDOption(func(c *config) { c.userID = true }) }

// WithoutMonitor turns off event monitoring, which saves a goroutine and an
// inproc socket per socket. WaitPeers then fails with ErrState.
func WithoutMonitor() Option { return option(func(c *config) { c.monitor = false }) }

// ErrOption is returned for options or arguments that cannot work
// together: a CURVE allow list without WithCurveServer, say, or WaitAny
// given too many sockets.
var ErrOption = errors.New("dividere: option does not apply")
