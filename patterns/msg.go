package patterns

import (
	"context"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/dividere-go/dividere/messaging"
	"github.com/dividere-go/dividere/msglib"
)

// MsgWorker is the Protobuf-level Worker: it heartbeats with Heartbeat
// envelopes and answers each request by the handler registered for its
// type (messaging.Handle(w, ...), as on a Reactor), by a Reactor's very
// rules: the request's deadline and metadata reach the handler, the reply
// is sent once, and a request that fails, or that no handler answers, is
// refused with its code, so that its client is not left to retry in vain.
type MsgWorker struct {
	engine
	reactor *messaging.Reactor // serves no endpoint: the worker hands it each request
}

// NewMsgWorker makes a MsgWorker for the broker back end(s) at endpoint
// (several, comma-separated, are all served, as a Worker does); register
// handlers, then Serve.
func NewMsgWorker(endpoint string, opts ...Option) (*MsgWorker, error) {
	cfg := newConfig(opts)
	if err := cfg.check("MsgWorker"); err != nil {
		return nil, err
	}
	w := &MsgWorker{reactor: messaging.NewReactor(nil, append([]messaging.Option{messaging.WithLogger(cfg.logger)}, cfg.reactor...)...)}
	if err := w.reactor.Err(); err != nil {
		return nil, err
	}
	if err := w.engine.init(endpoint, cfg, nil, func(ctx context.Context, route [][]byte, payload []byte, reply func([]byte) error) error {
		return w.reactor.Answer(ctx, route, payload, reply)
	}); err != nil {
		return nil, err
	}
	w.engine.proto = envelopeProtocol{id: w.ID()} // the identity is known once init chose it
	return w, nil
}

// Mux returns the worker's handlers, for messaging.Handle.
func (w *MsgWorker) Mux() *messaging.Mux { return w.reactor.Mux() }

// HandlerStats counts what the worker's handlers did (see
// messaging.ReactorStats).
func (w *MsgWorker) HandlerStats() messaging.ReactorStats { return w.reactor.Stats() }

// envelopeProtocol is the messaging-level control protocol.
type envelopeProtocol struct{ id string }

func (p envelopeProtocol) ready(capacity int) []byte { return p.heartbeat(capacity) }
func (p envelopeProtocol) heartbeat(capacity int) []byte {
	b, _ := messaging.Encode(&msglib.Heartbeat{Id: p.id, Capacity: uint32(capacity)})
	return b
}

// MsgClient is the Protobuf-level Client.
type MsgClient struct {
	*Client
	codec    messaging.Codec
	outgoing []func(context.Context, proto.Message, *messaging.Header)
}

// NewMsgClient connects to the broker front end(s) at endpoints (several
// are spread over and failed over between, as a Client does).
func NewMsgClient(endpoints string, opts ...Option) (*MsgClient, error) {
	cfg := newConfig(opts)
	if err := cfg.check("MsgClient"); err != nil {
		return nil, err
	}
	c, err := newClient(endpoints, cfg)
	if err != nil {
		return nil, err
	}
	return &MsgClient{Client: c, outgoing: messaging.OutgoingHooks(cfg.reactor...)}, nil
}

// Call sends m (retrying as the Client does) and returns the reply. The
// request's header carries the time left before ctx's deadline (or
// before the client gives up) at each attempt, and ctx's metadata
// (messaging.AppendMetadata). A refusal, ack{ok: false}, is a
// *messaging.Error with the worker's code and message.
func (c *MsgClient) Call(ctx context.Context, m proto.Message) (proto.Message, error) {
	md := messaging.OutgoingMetadata(ctx)
	rep, err := c.request(ctx, func(deadline time.Time) ([]byte, error) {
		h := &messaging.Header{Metadata: md, TimeoutUs: uint64(max(time.Until(deadline).Microseconds(), 1))}
		for _, f := range c.outgoing {
			f(ctx, m, h)
		}
		return c.codec.EncodeWithHeader(m, h)
	})
	if err != nil {
		return nil, err
	}
	reply, err := c.codec.Decode(rep)
	if err != nil {
		return nil, err
	}
	if err := messaging.ReplyError(reply); err != nil {
		return nil, err
	}
	return reply, nil
}

// Call sends req through c and returns the reply as a Rep: a refusal is
// a *messaging.Error, a reply of another type an error wrapping
// messaging.ErrWrongType.
func Call[Rep proto.Message](ctx context.Context, c *MsgClient, req proto.Message) (Rep, error) {
	m, err := c.Call(ctx, req)
	if err != nil {
		var zero Rep
		return zero, err
	}
	return messaging.As[Rep](m)
}
