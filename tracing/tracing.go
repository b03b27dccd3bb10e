// Package tracing traces dividere with OpenTelemetry: a span for every
// message sent and every message handled, joined across processes by W3C
// trace context in the envelope header (traceparent, tracestate), which a
// v1 peer ignores.
//
//	tp := ... // an OpenTelemetry TracerProvider
//	req, _ := messaging.NewRequest(ep, tracing.Outgoing(tp))
//	r := messaging.NewReactor(eps, tracing.Middleware(tp))
//	c, _ := patterns.NewClient(front, patterns.WithMessagingOptions(tracing.Outgoing(tp)))
//	b, _ := patterns.NewBroker(front, back, tracing.Broker(tp))
//	w, _ := patterns.NewMsgWorker(back, patterns.WithReactorOptions(tracing.Middleware(tp)))
//
// A request's handler span is the child of the requester's send span (and
// of the broker's span between them); a published message's handler span
// is a trace of its own, linked to the publisher's send span, as
// OpenTelemetry has it for messaging.
//
// It is a module of its own, so that the core module requires nothing of
// OpenTelemetry.
package tracing

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	"github.com/dividere-go/dividere/messaging"
	"github.com/dividere-go/dividere/patterns"
)

// name is the instrumentation's name, its tracers': the package's path.
const name = "github.com/dividere-go/dividere/tracing"

var w3c = propagation.TraceContext{}

// carrier reads and writes trace context in an envelope header.
type carrier struct{ h *messaging.Header }

func (c carrier) Get(key string) string {
	switch key {
	case "traceparent":
		return c.h.GetTraceparent()
	case "tracestate":
		return c.h.GetTracestate()
	}
	return ""
}

func (c carrier) Set(key, value string) {
	switch key {
	case "traceparent":
		c.h.Traceparent = value
	case "tracestate":
		c.h.Tracestate = value
	}
}

func (c carrier) Keys() []string { return []string{"traceparent", "tracestate"} }

func typeOf(m proto.Message) string { return string(m.ProtoReflect().Descriptor().FullName()) }

// Outgoing is the option for endpoints that send (Request, Dealer,
// Router, Publisher; a patterns.Client through
// patterns.WithMessagingOptions): a span "send TYPE" for each message,
// the child of ctx's span, whose context travels in the header.
func Outgoing(tp trace.TracerProvider) messaging.EndpointOption {
	tracer := tp.Tracer(name)
	return messaging.WithOutgoing(func(ctx context.Context, m proto.Message, h *messaging.Header) {
		ctx, span := tracer.Start(ctx, "send "+typeOf(m), trace.WithSpanKind(trace.SpanKindProducer),
			trace.WithAttributes(attribute.String("messaging.system", "dividere"), attribute.String("messaging.message.type", typeOf(m))))
		w3c.Inject(ctx, carrier{h})
		span.End() // a send is handed to libzmq at once: the span marks it
	})
}

// Middleware is the option for a Reactor (a Service through
// service.WithReactorOptions, a MsgWorker through
// patterns.WithReactorOptions): a span "handle TYPE" around each handler
// call, the child of the sender's span for a request, linked to it for a
// published message (which carries a publisher's sequence number), with
// the handler's error as its status.
func Middleware(tp trace.TracerProvider) messaging.ReactorOption {
	tracer := tp.Tracer(name)
	return messaging.WithMiddleware(func(next messaging.HandlerFunc) messaging.HandlerFunc {
		return func(ctx context.Context, m proto.Message, from messaging.Peer) error {
			opts := []trace.SpanStartOption{trace.WithAttributes(attribute.String("messaging.system", "dividere"),
				attribute.String("messaging.message.type", typeOf(m)))}
			if h := messaging.IncomingHeader(ctx); h != nil {
				remote := trace.SpanContextFromContext(w3c.Extract(context.Background(), carrier{h}))
				switch {
				case !remote.IsValid():
				case h.GetSequence() != 0: // published: a trace of its own, linked
					opts = append(opts, trace.WithLinks(trace.Link{SpanContext: remote}), trace.WithNewRoot())
				default:
					ctx = trace.ContextWithRemoteSpanContext(ctx, remote)
				}
				if h.GetSequence() != 0 {
					opts = append(opts, trace.WithSpanKind(trace.SpanKindConsumer))
				} else {
					opts = append(opts, trace.WithSpanKind(trace.SpanKindServer))
				}
			}
			ctx, span := tracer.Start(ctx, "handle "+typeOf(m), opts...)
			defer span.End()
			err := next(ctx, m, from)
			if err != nil {
				span.RecordError(err)
				span.SetStatus(codes.Error, messaging.CodeOf(err).String())
			}
			return err
		}
	})
}

// Broker is the option for a Broker: a span "broker forward" for each
// request it hands a worker, the child of the client's span and the
// parent of the worker's.
func Broker(tp trace.TracerProvider) patterns.BrokerOption {
	tracer := tp.Tracer(name)
	return patterns.WithForwardHook(func(ctx context.Context, h *messaging.Header) {
		ctx = w3c.Extract(ctx, carrier{h})
		ctx, span := tracer.Start(ctx, "broker forward", trace.WithSpanKind(trace.SpanKindInternal),
			trace.WithAttributes(attribute.String("messaging.system", "dividere")))
		w3c.Inject(ctx, carrier{h})
		span.End()
	})
}
