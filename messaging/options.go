package messaging

import (
	"context"
	"log/slog"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/dividere-go/dividere/connection"
)

// Options are scoped at compile time: each constructor takes its own
// kind's option interface, and an option returns the narrowest interface
// it applies to, so that one given to a kind it does not apply to (a
// Reactor's WithWorkers to NewPublisher, WithTypes to NewRequest) is a
// type error.

// Option configures anything this package makes, endpoints and Reactors
// alike: WithLogger.
type Option interface {
	EndpointOption
	ReactorOption
}

// EndpointOption configures every kind of endpoint: WithConnectionOptions,
// WithResolver, WithOutgoing (and any Option).
type EndpointOption interface {
	PublisherOption
	SubscriberOption
	RequestOption
	ResponseOption
	DealerOption
	RouterOption
}

// PublisherOption configures a Publisher: any EndpointOption,
// WithoutSequence or WithPublisherConnOptions.
type PublisherOption interface{ applyPublisher(*config) }

// SubscriberOption configures a Subscriber: any EndpointOption, or
// WithTypes.
type SubscriberOption interface{ applySubscriber(*config) }

// RequestOption configures a Request: any EndpointOption, or
// WithRequestConnOptions.
type RequestOption interface{ applyRequest(*config) }

// ResponseOption configures a Response: any EndpointOption, or
// WithResponseConnOptions.
type ResponseOption interface{ applyResponse(*config) }

// DealerOption configures a Dealer: any EndpointOption, or
// WithDealerConnOptions.
type DealerOption interface{ applyDealer(*config) }

// RouterOption configures a Router: any EndpointOption,
// AnswerEveryRequest or WithRouterConnOptions.
type RouterOption interface{ applyRouter(*config) }

// ReactorOption configures a Reactor: WithWorkers, WithMiddleware,
// WithObserver… (and any Option).
type ReactorOption interface{ applyReactor(*config) }

type config struct {
	codec     codec
	logger    *slog.Logger
	types     []proto.Message
	typesSet  bool
	answerAll bool
	outgoing  []func(context.Context, proto.Message, *Header)
	noSeq     bool
	reactor   []func(*Reactor)
	// The socket options for each kind's constructor.
	pubConn    []connection.PublisherOption
	subConn    []connection.SubscriberOption
	reqConn    []connection.RequestOption
	repConn    []connection.ResponseOption
	dealerConn []connection.DealerOption
	routerConn []connection.RouterOption
}

// addConn adds socket options of every kind to each kind's.
func (c *config) addConn(opts ...connection.Option) {
	for _, o := range opts {
		c.pubConn = append(c.pubConn, o)
		c.subConn = append(c.subConn, o)
		c.reqConn = append(c.reqConn, o)
		c.repConn = append(c.repConn, o)
		c.dealerConn = append(c.dealerConn, o)
		c.routerConn = append(c.routerConn, o)
	}
}

// newConfig applies opts, each by the method of the constructor's kind
// (PublisherOption.applyPublisher, …).
func newConfig[O any](opts []O, apply func(O, *config)) config {
	var c config
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

// anyOption is an Option: it applies to every kind.
type anyOption func(*config)

func (o anyOption) applyPublisher(c *config)  { o(c) }
func (o anyOption) applySubscriber(c *config) { o(c) }
func (o anyOption) applyRequest(c *config)    { o(c) }
func (o anyOption) applyResponse(c *config)   { o(c) }
func (o anyOption) applyDealer(c *config)     { o(c) }
func (o anyOption) applyRouter(c *config)     { o(c) }
func (o anyOption) applyReactor(c *config)    { o(c) }

// endpointOption is an EndpointOption.
type endpointOption func(*config)

func (o endpointOption) applyPublisher(c *config)  { o(c) }
func (o endpointOption) applySubscriber(c *config) { o(c) }
func (o endpointOption) applyRequest(c *config)    { o(c) }
func (o endpointOption) applyResponse(c *config)   { o(c) }
func (o endpointOption) applyDealer(c *config)     { o(c) }
func (o endpointOption) applyRouter(c *config)     { o(c) }

type publisherOption func(*config)

func (o publisherOption) applyPublisher(c *config) { o(c) }

type subscriberOption func(*config)

func (o subscriberOption) applySubscriber(c *config) { o(c) }

type requestOption func(*config)

func (o requestOption) applyRequest(c *config) { o(c) }

type responseOption func(*config)

func (o responseOption) applyResponse(c *config) { o(c) }

type dealerOption func(*config)

func (o dealerOption) applyDealer(c *config) { o(c) }

type routerOption func(*config)

func (o routerOption) applyRouter(c *config) { o(c) }

type reactorOption func(*Reactor)

func (o reactorOption) applyReactor(c *config) { c.reactor = append(c.reactor, o) }

// WithLogger sets the logger for bad input (warn) and socket events
// (debug), of an endpoint and of the socket underneath, or of a Reactor.
// The default is slog.Default().
func WithLogger(l *slog.Logger) Option {
	return anyOption(func(c *config) { c.logger = l; c.addConn(connection.WithLogger(l)) })
}

// WithConnectionOptions passes options to the connection-layer socket
// underneath (high-water marks, heartbeats, CURVE, events, …): the
// options every kind of socket takes. Those of one kind only go by that
// kind's bridge: WithPublisherConnOptions (the slow-subscriber wait),
// WithRequestConnOptions, WithDealerConnOptions (identity),
// WithResponseConnOptions (user ids) and WithRouterConnOptions (both).
func WithConnectionOptions(opts ...connection.Option) EndpointOption {
	return endpointOption(func(c *config) { c.addConn(opts...) })
}

// WithPublisherConnOptions passes a Publisher's own socket options on,
// such as connection.WithSlowSubscriberWait (and any connection.Option).
func WithPublisherConnOptions(opts ...connection.PublisherOption) PublisherOption {
	return publisherOption(func(c *config) { c.pubConn = append(c.pubConn, opts...) })
}

// WithRequestConnOptions passes a Request's own socket options on, such
// as connection.WithIdentity (and any connection.Option).
func WithRequestConnOptions(opts ...connection.RequestOption) RequestOption {
	return requestOption(func(c *config) { c.reqConn = append(c.reqConn, opts...) })
}

// WithResponseConnOptions passes a Response's own socket options on, such
// as connection.WithUserID, which Peer.Key needs (and any
// connection.Option).
func WithResponseConnOptions(opts ...connection.ResponseOption) ResponseOption {
	return responseOption(func(c *config) { c.repConn = append(c.repConn, opts...) })
}

// WithDealerConnOptions passes a Dealer's own socket options on, such as
// connection.WithIdentity (and any connection.Option).
func WithDealerConnOptions(opts ...connection.DealerOption) DealerOption {
	return dealerOption(func(c *config) { c.dealerConn = append(c.dealerConn, opts...) })
}

// WithRouterConnOptions passes a Router's own socket options on, such as
// connection.WithUserID, which Peer.Key needs, and connection.WithIdentity
// (and any connection.Option).
func WithRouterConnOptions(opts ...connection.RouterOption) RouterOption {
	return routerOption(func(c *config) { c.routerConn = append(c.routerConn, opts...) })
}

// WithResolver decodes with r instead of protoregistry.GlobalTypes, e.g.
// for types known only from a descriptor set (a protoregistry.Types).
func WithResolver(r protoregistry.MessageTypeResolver) EndpointOption {
	return endpointOption(func(c *config) { c.codec.resolver = r })
}

// WithOutgoing calls f for every message the endpoint sends with a
// header (a Publisher's, a Request's, a Dealer's and a Router's sends,
// but not a Reactor's replies), with the header about to travel: the
// hook through which an integration such as OpenTelemetry injects trace
// context (h.Traceparent, h.Tracestate) or adds metadata. f must not
// keep h.
func WithOutgoing(f func(ctx context.Context, m proto.Message, h *Header)) EndpointOption {
	return endpointOption(func(c *config) { c.outgoing = append(c.outgoing, f) })
}

// AnswerEveryRequest makes a Router serve its messages as a Response
// serves requests, but several peers' at once: in a Reactor, a message it
// cannot decode, and one whose handler sends no reply, is answered ack{ok:
// false}, a handler can reply once, so that a REQ peer never waits in
// vain, and each peer's requests are handled in the order they came (with
// WithWorkers, each peer's go to one worker).
func AnswerEveryRequest() RouterOption {
	return routerOption(func(c *config) { c.answerAll = true })
}

// WithTypes subscribes a Subscriber to exactly these message types from
// the start. A Subscriber created without it receives every type.
func WithTypes(msgs ...proto.Message) SubscriberOption {
	return subscriberOption(func(c *config) {
		c.types = append(c.types, msgs...)
		c.typesSet = true
	})
}

// WithoutSequence makes a Publisher send without the v2 header's
// publisher id and sequence number: its envelopes are then byte for byte
// v1, and its subscribers cannot count what they lost.
func WithoutSequence() PublisherOption {
	return publisherOption(func(c *config) { c.noSeq = true })
}

// WithWorkers runs handlers on n goroutines (default 1). With more than
// one, handlers must be safe to run concurrently and messages may be
// handled out of order.
func WithWorkers(n int) ReactorOption {
	return reactorOption(func(r *Reactor) {
		if n > 0 {
			r.workers = n
		}
	})
}

// WithIdle calls f whenever interval passes with no message handled (the
// original's idle()); with one worker, never at the same time as a
// handler.
func WithIdle(interval time.Duration, f func(context.Context)) ReactorOption {
	return reactorOption(func(r *Reactor) { r.idle, r.idleFn = interval, f })
}

// WithObserver calls f after every handler call with the message type,
// how long the handler took and what it returned: for metrics. It is also
// called for a request refused before any handler ran, with an empty
// type for one that could not be decoded, and a zero duration; CodeOf
// tells the cases apart (Unimplemented for a type nobody handles,
// Internal for a panic). Several observers all run, in the order given
// (a Service keeps its own counts with one).
func WithObserver(f func(typ protoreflect.FullName, took time.Duration, err error)) ReactorOption {
	return reactorOption(func(r *Reactor) {
		if prev := r.observe; prev != nil {
			r.observe = func(typ protoreflect.FullName, took time.Duration, err error) {
				prev(typ, took, err)
				f(typ, took, err)
			}
			return
		}
		r.observe = f
	})
}

// WithShutdownFrom lets a ShutdownEvent that arrives on ep stop the
// reactor (after its handler, if any, has run), as the original's
// reactors stopped on their own internal socket. Give it an endpoint only
// the application itself writes to, such as an inproc Subscriber of the
// process's own Publisher. A ShutdownEvent arriving anywhere else is a
// message like any other from a peer nobody vouched for: it is logged
// (rate-limited), counted in ReactorStats.ShutdownsIgnored and, on an
// endpoint that answers requests, refused with ack{ok: false}. Without
// this option nothing a peer sends can stop a reactor.
func WithShutdownFrom(ep Endpoint) ReactorOption {
	return reactorOption(func(r *Reactor) { r.shutdownFrom = append(r.shutdownFrom, ep.reactorSource().core) })
}

// WithMiddleware wraps every handler call in mw, the first outermost:
// for tracing, metrics, authorization, logging. A middleware's ctx
// carries the message's header (IncomingHeader) and its deadline. A
// request of a type nobody handles reaches next too, which then fails
// with an error whose CodeOf is Unimplemented; the error the chain
// returns is what the requester is answered with.
func WithMiddleware(mw ...func(next HandlerFunc) HandlerFunc) ReactorOption {
	return reactorOption(func(r *Reactor) { r.mw = append(r.mw, mw...) })
}

// WithHandlerTimeout bounds every handler call: its context ends after d,
// or at the requester's deadline (header.timeout_us) if that comes first.
// Without it only the requester's deadline bounds a handler.
func WithHandlerTimeout(d time.Duration) ReactorOption {
	return reactorOption(func(r *Reactor) { r.limit = d })
}

// WithHiddenErrors answers a request whose handler failed with a plain
// error (not an *Error) with "internal error" instead of the error's
// text, which may tell a caller about the server's insides. The code
// stays UNKNOWN, and the full error is logged.
func WithHiddenErrors() ReactorOption {
	return reactorOption(func(r *Reactor) { r.hide = true })
}

// WithMux makes the reactor dispatch through m, whose handlers may have
// been registered before the reactor existed.
func WithMux(m *Mux) ReactorOption { return reactorOption(func(r *Reactor) { r.handlers = m }) }
