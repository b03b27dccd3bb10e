package messaging

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"google.golang.org/protobuf/proto"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/internal/ratelog"
)

// Stats counts what a messaging endpoint sent and received, and the
// messages it could not decode (which it dropped, logged and reported as
// errors from Recv).
type Stats struct {
	Sent, Received, DecodeErrors uint64
	// DecodeErrors by reason: not an envelope at all, an envelope with no
	// message in it, a type this side does not know, a message that does
	// not parse as its type.
	NotEnvelope, NoPayload, UnknownType, Corrupt uint64
	// Lost counts, on a Subscriber, the messages missing from publishers'
	// sequences: sent, but dropped on the way (at a full queue, as
	// ZeroMQ's PUB does for a slow subscriber). Messages lost after the
	// last one received are counted when the next one arrives.
	Lost uint64
}

// core is what every typed endpoint shares: the codec, the logger and
// the counters.
type core struct {
	codec                        codec
	log                          *slog.Logger
	warn                         *ratelog.Limiter // bad input is logged at a bounded rate
	outgoing                     []func(context.Context, proto.Message, *Header)
	gaps                         *gapTracker // a Subscriber's
	sent, received, decodeErrors atomic.Uint64
	// decodeErrors by reason: errNotEnvelope, errNoPayload, errUnknownType,
	// errCorrupt
	reasons [4]atomic.Uint64
}

// decodeReasons are the reasons decode errors are counted by, in order.
var decodeReasons = [4]error{errNotEnvelope, errNoPayload, errUnknownType, errCorrupt}

func newCore(c config) core {
	return core{codec: c.codec, log: c.logger, warn: ratelog.Default(), outgoing: c.outgoing}
}

// MessageStats returns the endpoint's message counters; Stats (from the
// connection layer) has the socket's.
func (c *core) MessageStats() Stats {
	s := Stats{Sent: c.sent.Load(), Received: c.received.Load(), DecodeErrors: c.decodeErrors.Load(),
		NotEnvelope: c.reasons[0].Load(), NoPayload: c.reasons[1].Load(), UnknownType: c.reasons[2].Load(), Corrupt: c.reasons[3].Load()}
	if c.gaps != nil {
		s.Lost = c.gaps.total()
	}
	return s
}

// bufPool holds encoding buffers: libzmq copies what it sends, so a
// buffer is free again as soon as the send returns.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// send encodes m, with the header fields s names (and a sequencer's, when
// seq is not nil), into a pooled buffer and hands it to send.
func (c *core) send(ctx context.Context, m proto.Message, s stamp, seq *sequencer, n uint64, send func(b []byte) error) error {
	bp := bufPool.Get().(*[]byte)
	// The header is written first, at the buffer's start, and the
	// envelope after it: one buffer, no copy but the header's.
	b := c.appendHeader((*bp)[:0], ctx, m, s)
	if seq != nil {
		b = seq.appendTo(b, n)
	}
	h := len(b)
	b, err := c.codec.appendEncode(b, m, b[:h])
	if err != nil {
		bufPool.Put(bp)
		return err
	}
	err = send(b[h:])
	if cap(b) <= 64<<10 { // do not keep one huge message's buffer alive
		*bp = b
		bufPool.Put(bp)
	}
	if err == nil {
		c.sent.Add(1)
	}
	return err
}

// decode decodes the payload frame, counting and logging failures, and
// returns the message and its header's bytes (nil when none), which
// point into payload.
func (c *core) decode(name string, payload []byte) (proto.Message, []byte, error) {
	m, hdr, err := c.codec.decode(payload)
	if err != nil {
		c.decodeErrors.Add(1)
		for i, r := range decodeReasons {
			if errors.Is(err, r) {
				c.reasons[i].Add(1)
				break
			}
		}
		c.warn.Warn(c.log, "dropped undecodable message", "socket", name, "bytes", len(payload), "err", err)
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	c.received.Add(1)
	if c.gaps != nil && hdr != nil {
		c.track(name, string(m.ProtoReflect().Descriptor().FullName()), hdr)
	}
	return m, hdr, nil
}

// decodeMsg is decode for receivers that do not look at the header.
func (c *core) decodeMsg(name string, payload []byte) (proto.Message, error) {
	m, _, err := c.decode(name, payload)
	return m, err
}

// socket is the method set every endpoint shares with the
// connection-layer socket underneath: where it is, what it counted,
// Close, and connection.Waitable, so that connection.WaitAny waits on
// messaging endpoints too.
type socket interface {
	reqSocket
	connection.Waitable
	Endpoint() string
	Endpoints() []string
	Port() int
}

// reqSocket is what a Request shares with its socket (a connecting
// Request has no endpoint of its own).
type reqSocket interface {
	Close() error
	Name() string
	Stats() connection.Stats
	WaitPeers(ctx context.Context, n int) error
}

// Publisher publishes Protobuf messages in envelopes; subscribers can
// select them by type.
type Publisher struct {
	socket
	core
	pub *connection.Publisher
	seq *sequencer // nil WithoutSequence
}

// NewPublisher creates a Publisher (see connection.NewPublisher for the
// endpoint rules).
func NewPublisher(endpoints string, opts ...PublisherOption) (*Publisher, error) {
	c := newConfig(opts, PublisherOption.applyPublisher)
	p, err := connection.NewPublisher(endpoints, c.pubConn...)
	if err != nil {
		return nil, err
	}
	pb := &Publisher{socket: p, core: newCore(c), pub: p}
	if !c.noSeq {
		pb.seq = newSequencer()
	}
	return pb, nil
}

// Send publishes m. Each message carries, in its header, the Publisher's
// id and its number in the sequence of m's type, from which subscribers
// count what they lose (Stats.Lost); and the context's metadata
// (AppendMetadata). Concurrent Sends are numbered in the order they go
// out.
func (p *Publisher) Send(ctx context.Context, m proto.Message) error {
	if p.seq == nil || m == nil {
		return p.send(ctx, m, stampContext, nil, 0, func(b []byte) error { return p.pub.Send(ctx, b) })
	}
	if err := p.seq.lock(ctx); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	next := p.seq.counter(string(m.ProtoReflect().Descriptor().FullName()))
	n := *next + 1
	err := p.send(ctx, m, stampContext, p.seq, n, func(b []byte) error { return p.pub.Send(ctx, b) })
	if err == nil { // a message not sent takes no number: it is no loss
		*next = n
	}
	p.seq.mu.Unlock()
	return err
}

// ID returns the id the Publisher stamps its messages with (new at every
// start; "" WithoutSequence).
func (p *Publisher) ID() string {
	if p.seq == nil {
		return ""
	}
	return p.seq.id
}

// WaitSubscribers blocks until n subscriptions would receive messages of
// m's type (a subscriber to all types counts), so none sent afterwards is
// lost to a late joiner.
func (p *Publisher) WaitSubscribers(ctx context.Context, m proto.Message, n int) error {
	return p.pub.WaitSubscribers(ctx, Topic(m), n)
}

// Conn returns the connection-layer Publisher underneath: its
// Subscribers and WaitJoin. (How it met full subscriber queues is in the
// Publisher's own Stats: SendWaits, SlowSubscribers.)
func (p *Publisher) Conn() *connection.Publisher { return p.pub }

// Subscriber receives the Protobuf messages of the types it subscribed to.
type Subscriber struct {
	socket
	core
	sub  *connection.Subscriber
	view func(connection.Message) (proto.Message, error) // decodeView, made once
}

// NewSubscriber creates a Subscriber; WithTypes selects message types,
// and without it every message arrives.
func NewSubscriber(endpoints string, opts ...SubscriberOption) (*Subscriber, error) {
	c := newConfig(opts, SubscriberOption.applySubscriber)
	conn := c.subConn
	if c.typesSet {
		topics := make([]string, len(c.types))
		for i, m := range c.types {
			topics[i] = Topic(m)
		}
		conn = append(conn, connection.WithTopics(topics...))
	}
	s, err := connection.NewSubscriber(endpoints, conn...)
	if err != nil {
		return nil, err
	}
	sb := &Subscriber{socket: s, core: newCore(c), sub: s}
	sb.gaps = newGapTracker()
	sb.view = sb.decodeView
	return sb, nil
}

// LostByPublisher returns, for each publisher id that lost messages on
// the way to this Subscriber, how many (Stats.Lost is their sum).
func (s *Subscriber) LostByPublisher() map[string]uint64 {
	return s.gaps.byPublisher()
}

// Subscribe adds message types. A Subscriber created without WithTypes
// already receives everything.
func (s *Subscriber) Subscribe(msgs ...proto.Message) error {
	return s.sub.Subscribe(topics(msgs)...)
}

// Unsubscribe removes message types.
func (s *Subscriber) Unsubscribe(msgs ...proto.Message) error {
	return s.sub.Unsubscribe(topics(msgs)...)
}

func topics(msgs []proto.Message) []string {
	t := make([]string, len(msgs))
	for i, m := range msgs {
		t[i] = Topic(m)
	}
	return t
}

// Recv returns the next message. A message that cannot be decoded is
// dropped and reported as an error wrapping ErrUndecodable; the next Recv
// goes on with the next one.
func (s *Subscriber) Recv(ctx context.Context) (proto.Message, error) {
	// Decoded where it lies in the socket's receive buffer: Protobuf
	// copies what a message keeps, so the frame needs no copy of its own.
	return connection.RecvView(ctx, s.sub, s.view)
}

// decodeView is the Subscriber's decoder for connection.RecvView.
func (s *Subscriber) decodeView(frames connection.Message) (proto.Message, error) {
	m, err := s.decodeMsg(s.Name(), frames.Payload())
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Request sends Protobuf requests and receives their replies: Call.
type Request struct {
	reqSocket
	core
	req *connection.Request
}

// NewRequest creates a Request (see connection.NewRequest).
func NewRequest(endpoints string, opts ...RequestOption) (*Request, error) {
	c := newConfig(opts, RequestOption.applyRequest)
	r, err := connection.NewRequest(endpoints, c.reqConn...)
	if err != nil {
		return nil, err
	}
	return &Request{reqSocket: r, core: newCore(c), req: r}, nil
}

func (r *Request) reply(payload []byte) (proto.Message, error) {
	m, err := r.decodeMsg(r.req.Name(), payload)
	if err != nil {
		return nil, err
	}
	if err := ReplyError(m); err != nil {
		return nil, err
	}
	return m, nil
}

// call sends m and returns the reply; when ctx ends first the Request
// resets itself (see connection.Request.Call).
func (r *Request) call(ctx context.Context, m proto.Message) (proto.Message, error) {
	var raw connection.Message
	err := r.send(ctx, m, stampDeadline|stampContext, nil, 0, func(b []byte) (err error) { raw, err = r.req.Call(ctx, b); return err })
	if err != nil {
		return nil, err
	}
	return r.reply(raw.Payload())
}

// Response receives Protobuf requests and sends replies in alternation.
type Response struct {
	socket
	core
	rep *connection.Response
}

// NewResponse creates a Response (see connection.NewResponse).
func NewResponse(endpoints string, opts ...ResponseOption) (*Response, error) {
	c := newConfig(opts, ResponseOption.applyResponse)
	r, err := connection.NewResponse(endpoints, c.repConn...)
	if err != nil {
		return nil, err
	}
	return &Response{socket: r, core: newCore(c), rep: r}, nil
}

// Recv receives the next request. A request that cannot be decoded is
// answered at once with ack{ok: false}, so that neither side is stuck,
// and reported as an error (see Subscriber.Recv); call Recv again for
// the next request.
func (r *Response) Recv(ctx context.Context) (proto.Message, error) {
	raw, err := r.rep.Recv(ctx)
	if err != nil {
		return nil, err
	}
	m, err := r.decodeMsg(r.Name(), raw.Payload())
	if err != nil {
		if nerr := r.Send(ctx, ackFor(err)); nerr != nil {
			return nil, errors.Join(err, nerr)
		}
		return nil, err
	}
	return m, nil
}

// Send sends the reply to the last request.
func (r *Response) Send(ctx context.Context, m proto.Message) error {
	return r.send(ctx, m, stampNone, nil, 0, func(b []byte) error { return r.rep.Send(ctx, b) })
}

// Dealer sends and receives Protobuf messages asynchronously.
type Dealer struct {
	socket
	core
	d *connection.Dealer
}

// NewDealer creates a Dealer (see connection.NewDealer).
func NewDealer(endpoints string, opts ...DealerOption) (*Dealer, error) {
	c := newConfig(opts, DealerOption.applyDealer)
	d, err := connection.NewDealer(endpoints, c.dealerConn...)
	if err != nil {
		return nil, err
	}
	return &Dealer{socket: d, core: newCore(c), d: d}, nil
}

// Send sends m after the route's frames: none (nil) for a plain message;
// a received message's route for the reply to a message that came
// through a ROUTER; [][]byte{{}}, an empty delimiter, for a REP peer. Its
// header carries ctx's deadline and metadata, as a Request's does.
func (d *Dealer) Send(ctx context.Context, route [][]byte, m proto.Message) error {
	return d.sendRouted(ctx, route, m, stampDeadline|stampContext)
}

func (d *Dealer) sendRouted(ctx context.Context, route [][]byte, m proto.Message, s stamp) error {
	return d.send(ctx, m, s, nil, 0, func(b []byte) error { return d.d.Send(ctx, withRoute(route, b)...) })
}

// withRoute returns route's frames followed by payload.
func withRoute(route [][]byte, payload []byte) [][]byte {
	if len(route) == 0 {
		return [][]byte{payload}
	}
	return append(append(make([][]byte, 0, len(route)+1), route...), payload)
}

// Recv receives the next message and the route it came by (nil for a
// plain message). Undecodable messages: see Subscriber.Recv.
func (d *Dealer) Recv(ctx context.Context) (proto.Message, [][]byte, error) {
	raw, err := d.d.Recv(ctx)
	if err != nil {
		return nil, nil, err
	}
	m, err := d.decodeMsg(d.Name(), raw.Payload())
	return m, raw.Route(), err
}

// Router receives Protobuf messages with their sender's route and sends
// replies along it.
type Router struct {
	socket
	core
	r         *connection.Router
	answerAll bool
}

// NewRouter creates a Router (see connection.NewRouter).
func NewRouter(endpoints string, opts ...RouterOption) (*Router, error) {
	c := newConfig(opts, RouterOption.applyRouter)
	r, err := connection.NewRouter(endpoints, c.routerConn...)
	if err != nil {
		return nil, err
	}
	return &Router{socket: r, core: newCore(c), r: r, answerAll: c.answerAll}, nil
}

// Recv receives the next message and its route (the sender's identity,
// and the empty delimiter when the sender is a REQ).
func (r *Router) Recv(ctx context.Context) (proto.Message, [][]byte, error) {
	raw, err := r.r.Recv(ctx)
	if err != nil {
		return nil, nil, err
	}
	m, err := r.decodeMsg(r.Name(), raw.Payload())
	return m, raw.Route(), err
}

// Send sends m along route, with ctx's metadata.
func (r *Router) Send(ctx context.Context, route [][]byte, m proto.Message) error {
	return r.sendRouted(ctx, route, m, stampContext)
}

func (r *Router) sendRouted(ctx context.Context, route [][]byte, m proto.Message, s stamp) error {
	return r.send(ctx, m, s, nil, 0, func(b []byte) error { return r.r.Send(ctx, withRoute(route, b)...) })
}

// RecvAs receives from r (a Subscriber or a Response) and asserts the
// message's type: a message of another type is an error wrapping
// ErrWrongType (the message itself is consumed).
func RecvAs[T proto.Message](ctx context.Context, r interface {
	Recv(context.Context) (proto.Message, error)
}) (T, error) {
	var zero T
	m, err := r.Recv(ctx)
	if err != nil {
		return zero, err
	}
	return As[T](m)
}

// Call sends req on r and returns the reply as a Rep:
// messaging.Call[*pb.Quote](ctx, r, &pb.QuoteReq{...}), or
// Call[proto.Message] for a reply of any type. Its header carries ctx's
// remaining time, when ctx has a deadline, so that the server gives up
// when the caller does, and ctx's metadata (AppendMetadata). When ctx
// ends first the Request resets itself (see connection.Request.Call). A
// refusal, ack{ok: false}, is an *Error with the server's code and
// message; a reply of another type is an error wrapping ErrWrongType.
func Call[Rep proto.Message](ctx context.Context, r *Request, req proto.Message) (Rep, error) {
	var zero Rep
	m, err := r.call(ctx, req)
	if err != nil {
		return zero, err
	}
	return As[Rep](m)
}

// As asserts that m is a T: a message of another type is an error
// wrapping ErrWrongType that names both types. RecvAs and Call assert
// for you; As is for a message received otherwise.
func As[T proto.Message](m proto.Message) (T, error) {
	t, ok := m.(T)
	if !ok {
		var zero T
		return zero, fmt.Errorf("%w: got %s, want %s", ErrWrongType,
			m.ProtoReflect().Descriptor().FullName(), zero.ProtoReflect().Descriptor().FullName())
	}
	return t, nil
}
