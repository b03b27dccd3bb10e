package registry

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/messaging"
)

// callAttempts bounds how many instances one Call tries.
const callAttempts = 3

// idleConns is how many connections to one instance a Client keeps for
// the next Call.
const idleConns = 4

// Call looks service up, sends it req and returns its reply as a Rep:
//
//	quote, err := registry.Call[*pb.Quote](ctx, c, "quotes", &pb.QuoteReq{Symbol: "ACME"})
//
// An instance that answers UNAVAILABLE (overloaded, or on its way out)
// is left for another, up to three instances; any other refusal is
// returned as the *messaging.Error it is. A service nobody registered is
// ErrNotFound. ctx bounds the whole, and its deadline reaches the
// handler. Connections to instances are kept for the next Call, so that
// a Call costs one round trip (and a lookup).
func Call[Rep proto.Message](ctx context.Context, c *Client, service string, req proto.Message) (Rep, error) {
	var zero Rep
	var last error
	for range callAttempts {
		in, err := c.Lookup(ctx, service)
		if err != nil {
			if last != nil { // what the instances said matters more
				return zero, last
			}
			return zero, err
		}
		r, err := c.calls.get(in.Endpoint(), c.cfg.conn, c.cfg.calls)
		if err != nil {
			return zero, err
		}
		rep, err := messaging.Call[Rep](ctx, r, req)
		if err == nil {
			c.calls.put(in.Endpoint(), r)
			return rep, nil
		}
		var refusal *messaging.Error
		if errors.As(err, &refusal) {
			c.calls.put(in.Endpoint(), r) // an answer came: the connection is sound
			if refusal.Code != messaging.Unavailable {
				return zero, err
			}
			last = fmt.Errorf("%s at %s: %w", service, in.Endpoint(), err)
			continue
		}
		r.Close() // no answer: a Request mid-call is of no further use
		return zero, fmt.Errorf("%s at %s: %w", service, in.Endpoint(), err)
	}
	return zero, last
}

// callPool holds idle connections to service instances, by endpoint. A
// messaging.Request serves one call at a time, so concurrent Calls take
// one each.
type callPool struct {
	mu   sync.Mutex
	idle map[string][]*messaging.Request
}

func (p *callPool) get(endpoint string, opts []connection.Option, msgOpts []messaging.RequestOption) (*messaging.Request, error) {
	p.mu.Lock()
	if rs := p.idle[endpoint]; len(rs) > 0 {
		r := rs[len(rs)-1]
		p.idle[endpoint] = rs[:len(rs)-1]
		p.mu.Unlock()
		return r, nil
	}
	p.mu.Unlock()
	return messaging.NewRequest(endpoint, append([]messaging.RequestOption{messaging.WithConnectionOptions(opts...)}, msgOpts...)...)
}

func (p *callPool) put(endpoint string, r *messaging.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.idle == nil {
		p.idle = map[string][]*messaging.Request{}
	}
	if len(p.idle[endpoint]) >= idleConns {
		r.Close()
		return
	}
	p.idle[endpoint] = append(p.idle[endpoint], r)
}

func (p *callPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, rs := range p.idle {
		for _, r := range rs {
			r.Close()
		}
	}
	p.idle = nil
}
