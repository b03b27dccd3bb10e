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
func NewMsgWorker(endpoint string, opts ...MsgWorkerOption) (*MsgWorker, error) {
	cfg := newConfig(opts, MsgWorkerOption.applyMsgWorker)
	w := &MsgWorker{reactor: messaging.NewReactor(nil, append([]messaging.ReactorOption{messaging.WithLogger(cfg.logger)}, cfg.reactor...)...)}
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
	b, _ := messaging.Encode(&msglib.Heartbeat{Id: p.id, Capacity: uint32(capacity)}, nil)
	return b
}

// Call sends req through c (retrying as Request does) and returns the
// reply as a Rep (proto.Message takes any). The request's header
// carries the time left before ctx's deadline (or before the client
// gives up) at each attempt, and ctx's metadata
// (messaging.AppendMetadata). A refusal, ack{ok: false}, is a
// *messaging.Error with the worker's code and message; a reply of
// another type an error wrapping messaging.ErrWrongType.
func Call[Rep proto.Message](ctx context.Context, c *Client, req proto.Message) (Rep, error) {
	var zero Rep
	rep, err := c.request(ctx, func(deadline time.Time) ([]byte, error) {
		h := messaging.OutgoingHeader(ctx, req, c.msgOpts...)
		h.TimeoutUs = uint64(max(time.Until(deadline).Microseconds(), 1))
		return messaging.Encode(req, h)
	})
	if err != nil {
		return zero, err
	}
	reply, _, err := messaging.Decode(rep, nil)
	if err != nil {
		return zero, err
	}
	if err := messaging.ReplyError(reply); err != nil {
		return zero, err
	}
	return messaging.As[Rep](reply)
}
