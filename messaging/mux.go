package messaging

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// ErrHandlerPanic wraps a panic in a handler, turned into an error by
// Mux.Dispatch.
var ErrHandlerPanic = errors.New("dividere: handler panicked")

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

// Registry is what Handle and HandleDefault register on: a *Mux, a
// *Reactor, or anything that has a Mux (such as the load-balancing
// workers).
type Registry interface{ Mux() *Mux }

// Mux returns m itself, so that a Mux is a Registry.
func (m *Mux) Mux() *Mux { return m }

// Handle registers h for messages of type T on r (a *Mux or a *Reactor).
// A later registration for the same type replaces an earlier one. On a
// Reactor it panics once Serve has started.
func Handle[T proto.Message](r Registry, h func(ctx context.Context, m T, from Source) error) {
	var zero T
	name := zero.ProtoReflect().Descriptor().FullName()
	m := r.Mux()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.handlers[name] = func(ctx context.Context, msg proto.Message, from Source) error {
		t, ok := msg.(T)
		if !ok { // same name, other Go type: a dynamic message from a custom resolver
			return fmt.Errorf("%w: %T for %s", ErrWrongType, msg, name)
		}
		return h(ctx, t, from)
	}
}

// HandleDefault registers h for messages no typed handler takes.
func HandleDefault(r Registry, h HandlerFunc) {
	m := r.Mux()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fallback = h
}

// Dispatch runs the handler for msg's type, or the default handler.
// handled is false when there is neither. A panic in the handler is
// recovered and returned as an error wrapping ErrHandlerPanic, with the
// stack.
func (m *Mux) Dispatch(ctx context.Context, msg proto.Message, from Source) (handled bool, err error) {
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
			err = fmt.Errorf("%w: %v\n%s", ErrHandlerPanic, p, debug.Stack())
		}
	}()
	return f()
}
