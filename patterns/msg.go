package patterns

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/dividere-go/dividere/messaging"
	"github.com/dividere-go/dividere/msglib"
)

// MsgWorker is the Protobuf-level Worker: it heartbeats with Heartbeat
// envelopes and hands each request to the handler registered for its type
// on its Mux (messaging.Handle(w, ...), as on a Reactor). A handler answers
// with from.Reply; a request it does not answer, or whose handler fails,
// gets ack{ok: false}, so its client is not left to retry in vain.
type MsgWorker struct {
	engine
	mux   *messaging.Mux
	codec messaging.Codec
}

// NewMsgWorker makes a MsgWorker for the broker back end at endpoint;
// register handlers, then Serve.
func NewMsgWorker(endpoint string, opts ...Option) (*MsgWorker, error) {
	w := &MsgWorker{mux: messaging.NewMux()}
	if err := w.engine.init(endpoint, newConfig(opts), nil, w.handleRequest); err != nil {
		return nil, err
	}
	w.engine.proto = envelopeProtocol{id: w.ID()} // the identity is known once init chose it
	return w, nil
}

// Mux returns the worker's handlers, for messaging.Handle.
func (w *MsgWorker) Mux() *messaging.Mux { return w.mux }

func (w *MsgWorker) handleRequest(ctx context.Context, route [][]byte, payload []byte, reply func([]byte) error) error {
	received := time.Now()
	m, h, err := w.codec.DecodeWithHeader(payload)
	if err != nil {
		w.log.Warn("undecodable request", "err", err)
		return w.replyWith(reply, messaging.AckFor(err), err)
	}
	hctx, cancel := messaging.NewIncomingContext(ctx, h, received)
	defer cancel()
	src := &workerSource{route: route, reply: reply, codec: w.codec}
	handled, err := w.mux.Dispatch(hctx, m, src)
	if !handled && err == nil {
		err = fmt.Errorf("%w: %s", messaging.ErrUnhandled, m.ProtoReflect().Descriptor().FullName())
	}
	if src.replied {
		return err
	}
	cause := err
	if cause == nil {
		cause = fmt.Errorf("handler for %s did not reply", m.ProtoReflect().Descriptor().FullName())
	}
	return w.replyWith(reply, messaging.AckFor(err), cause)
}

// replyWith sends m and reports cause (the request still counts as failed).
func (w *MsgWorker) replyWith(reply func([]byte) error, m proto.Message, cause error) error {
	b, err := w.codec.Encode(m)
	if err == nil {
		err = reply(b)
	}
	if err != nil {
		return fmt.Errorf("%w (and the refusal was not sent: %v)", cause, err)
	}
	return cause
}

// workerSource is the messaging.Source of a request a MsgWorker handles.
type workerSource struct {
	route   [][]byte
	reply   func([]byte) error
	codec   messaging.Codec
	replied bool
}

func (s *workerSource) Endpoint() string       { return "broker" }
func (s *workerSource) Route() messaging.Route { return s.route }
func (s *workerSource) Peer() string           { return "" } // the broker's back end carries no client key
func (s *workerSource) Reply(ctx context.Context, m proto.Message) error {
	if s.replied {
		return fmt.Errorf("%w: already replied to this request", messaging.ErrNoReply)
	}
	b, err := s.codec.Encode(m)
	if err != nil {
		return err
	}
	s.replied = true
	return s.reply(b)
}

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
	codec messaging.Codec
}

// NewMsgClient connects to the broker front end(s) at endpoints.
func NewMsgClient(endpoints string, opts ...Option) (*MsgClient, error) {
	c, err := NewClient(endpoints, opts...)
	if err != nil {
		return nil, err
	}
	return &MsgClient{Client: c}, nil
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
