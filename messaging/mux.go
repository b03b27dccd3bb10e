package messaging

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// errHandlerPanic wraps a handler's panic, recovered: a requester is
// answered INTERNAL (CodeOf), and the stack goes to the log.
var errHandlerPanic = errors.New("dividere: handler panicked")

// Mux maps message types to handlers, like http.ServeMux maps paths. A
// Reactor has one; the load-balancing workers use one too. The zero
// value is not usable: call NewMux.
type Mux struct {
	mu       sync.RWMutex
	handlers map[protoreflect.FullName]HandlerFunc
	fallback HandlerFunc
}

// NewMux returns an empty Mux.
func NewMux() *Mux { return &Mux{handlers: map[protoreflect.FullName]HandlerFunc{}} }

// Handlers is what Handle, HandleMessage and HandleNamed register on: a
// *Mux, a *Reactor, or anything that has a Mux (a Service, the
// load-balancing MsgWorker).
type Handlers interface{ Mux() *Mux }

// Mux returns m itself, so that a Mux is Handlers.
func (m *Mux) Mux() *Mux { return m }

// Types returns the message types m has a handler for, sorted: what a
// Service advertises in its ServiceInfoRep.
func (m *Mux) Types() []protoreflect.FullName {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]protoreflect.FullName, 0, len(m.handlers))
	for n := range m.handlers {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Handle registers h to answer requests of type Req with a Res: the
// framework sends what h returns as the reply, once, and a failure (h's
// error, a panic) as a refusal with its code (see CodeOf), which the
// caller receives as an *Error. The reply type is checked when the program
// compiles:
//
//	messaging.Handle(r, func(ctx context.Context, q *pb.QuoteReq, _ messaging.Peer) (*pb.Quote, error) {
//		return &pb.Quote{Symbol: q.Symbol, Price: 42}, nil
//	})
//
// A later registration for the same type replaces an earlier one. On a
// Reactor it panics once Serve has started. A message of type Req that
// arrives where there is no one to answer (a Subscriber) is handled, and
// the reply dropped.
func Handle[Req, Res proto.Message](r Handlers, h func(ctx context.Context, req Req, from Peer) (Res, error)) {
	register(r, func(ctx context.Context, msg proto.Message, from Peer) error {
		req, ok := msg.(Req)
		if !ok { // same name, other Go type: a dynamic message from a custom resolver
			var zero Req
			return fmt.Errorf("%w: %T for %s", ErrWrongType, msg, zero.ProtoReflect().Descriptor().FullName())
		}
		res, err := h(ctx, req, from)
		if err != nil {
			return err
		}
		if any(res) == nil || !res.ProtoReflect().IsValid() { // nil, or a nil *T
			return Errorf(Internal, "the handler of %s returned no reply", msg.ProtoReflect().Descriptor().FullName())
		}
		if err := answer(ctx, from, res); err != nil && !errors.Is(err, ErrNoReply) {
			return err
		}
		return nil
	}, nameOf[Req]())
}

// answer sends a request's one reply: through the reactor's own source,
// which a Response's Reply refuses to handlers.
func answer(ctx context.Context, from Peer, m proto.Message) error {
	if s, ok := from.(*source); ok {
		return s.answer(ctx, m)
	}
	return from.Reply(ctx, m)
}

// HandleMessage registers h for messages of type T on r, with nothing to
// return but an error: for published messages, and for conversations on
// Dealer and Router endpoints, where from.Reply sends any number of
// messages back. On a Response, Reply fails with ErrNoReply: a request
// there is answered by what a Handle handler returns, and one that h
// handles gets a refusal. A request on a Router made with
// AnswerEveryRequest that h does not answer gets a refusal too. A later
// registration for the same type replaces an earlier one. On a Reactor
// it panics once Serve has started.
func HandleMessage[T proto.Message](r Handlers, h func(ctx context.Context, m T, from Peer) error) {
	name := nameOf[T]()
	register(r, func(ctx context.Context, msg proto.Message, from Peer) error {
		t, ok := msg.(T)
		if !ok { // same name, other Go type: a dynamic message from a custom resolver
			return fmt.Errorf("%w: %T for %s", ErrWrongType, msg, name)
		}
		return h(ctx, t, from)
	}, name)
}

func nameOf[T proto.Message]() protoreflect.FullName {
	var zero T
	return zero.ProtoReflect().Descriptor().FullName()
}

func register(r Handlers, h HandlerFunc, name protoreflect.FullName) {
	m := r.Mux()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.handlers[name] = h
}

// HandleNamed registers h for messages of the named type, whatever Go
// type they decode to (a dynamic message of a descriptor set, say): for
// tools and gateways that learn their types only when they run. What h
// returns is the reply to a request (nil: none, and a request is then
// refused), as with Handle; the type is among the Mux's Types, which a
// Service advertises. An empty name registers the default handler, for
// the messages no other handler takes.
func HandleNamed(r Handlers, name protoreflect.FullName, h func(ctx context.Context, m proto.Message, from Peer) (proto.Message, error)) {
	if name == "" {
		m := r.Mux()
		m.mu.Lock()
		defer m.mu.Unlock()
		m.fallback = untyped(h)
		return
	}
	register(r, untyped(h), name)
}

// untyped makes a HandlerFunc of a handler that takes and returns any
// message.
func untyped(h func(ctx context.Context, m proto.Message, from Peer) (proto.Message, error)) HandlerFunc {
	return func(ctx context.Context, msg proto.Message, from Peer) error {
		res, err := h(ctx, msg, from)
		if err != nil || res == nil {
			return err
		}
		if err := answer(ctx, from, res); err != nil && !errors.Is(err, ErrNoReply) {
			return err
		}
		return nil
	}
}

// dispatch runs the handler for msg's type, or the default handler.
// handled is false when there is neither. A panic in the handler is
// recovered and returned as an error wrapping errHandlerPanic, with the
// stack.
func (m *Mux) dispatch(ctx context.Context, msg proto.Message, from Peer) (handled bool, err error) {
	m.mu.RLock()
	h := m.handlers[msg.ProtoReflect().Descriptor().FullName()]
	if h == nil {
		h = m.fallback
	}
	m.mu.RUnlock()
	if h == nil {
		return false, nil
	}
	return true, protect(func() error { return h(ctx, msg, from) })
}

// protect runs f, turning a panic into an error.
func protect(f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v\n%s", errHandlerPanic, p, debug.Stack())
		}
	}()
	return f()
}
