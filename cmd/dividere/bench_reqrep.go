package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/internal/endpoint"
	"github.com/dividere-go/dividere/messaging"
	"github.com/dividere-go/dividere/msglib"
	"github.com/dividere-go/dividere/registry"
	"github.com/dividere-go/dividere/service"
)

// echoBytes is the responder's handler: the request back.
func echoBytes(_ context.Context, m *msglib.Bytes, _ messaging.Peer) (*msglib.Bytes, error) {
	return m, nil
}

// benchRep answers dividere.Bytes requests until ctx ends: on
// -endpoint, or as the service -service (registered with the name
// service, renewed, found by bench req -service). ready, when not nil,
// is given the endpoint once it serves.
func benchRep(ctx context.Context, e *env, c *benchConfig, ready chan<- string) (*benchResult, error) {
	opts, stop, err := c.connOptions(e, true)
	if err != nil {
		return nil, err
	}
	defer stop()
	var (
		serve    func(context.Context) error
		endpoint string
		answered func() (ok, refused uint64)
	)
	if c.service != "" {
		sopts := []service.Option{service.WithName(c.service), service.WithEndpoint(c.endpoint), service.WithLogger(e.log),
			service.WithConnectionOptions(responseOptions(opts)...), service.WithRegistry(c.registryOptions()...)}
		if host := endpointHost(c.endpoint); host != "" {
			sopts = append(sopts, service.WithHost(host))
		}
		svc, err := service.New(nil, sopts...)
		if err != nil {
			return nil, usageError{err.Error()}
		}
		messaging.Handle(svc, echoBytes)
		serve, endpoint = svc.Serve, svc.Instance().Endpoint()
		answered = func() (uint64, uint64) {
			st := svc.Stats()
			return st.GetRequests() - st.GetErrors(), st.GetErrors()
		}
		go func() {
			// Said once registered, so that a req started then finds it.
			if svc.WaitRegistered(ctx) == nil {
				fmt.Fprintf(e.errOut, "bench rep: registered as %s at %s\n", c.service, svc.Instance().Endpoint())
			}
		}()
	} else {
		rep, err := messaging.NewResponse(c.endpoint, messaging.WithConnectionOptions(opts...), messaging.WithLogger(e.log))
		if err != nil {
			return nil, usageError{err.Error()}
		}
		defer rep.Close()
		r := messaging.NewReactor([]messaging.Endpoint{rep}, messaging.WithLogger(e.log))
		messaging.Handle(r, echoBytes)
		serve, endpoint = r.Serve, rep.Endpoints()[0]
		answered = func() (uint64, uint64) { st := r.Stats(); return st.Handled, st.Refused }
	}
	if ready != nil {
		ready <- endpoint
	} else {
		fmt.Fprintf(e.errOut, "bench rep: answering dividere.Bytes on %s (Ctrl-C stops)\n", endpoint)
	}
	err = serve(ctx)
	if ctx.Err() != nil {
		err = nil
	}
	ok, refused := answered()
	return &benchResult{Mode: "rep", Endpoint: endpoint, Rep: &repResult{Answered: ok, Refused: refused}}, err
}

// registryOptions are the name-service client's options from -registry
// (as the other commands take it).
func (c *benchConfig) registryOptions() []registry.ClientOption {
	var opts []registry.ClientOption
	if *c.f.registry != "" {
		opts = append(opts, registry.WithAddress(*c.f.registry))
	}
	return opts
}

// endpointHost is an endpoint's host when it names one (not a wildcard).
func endpointHost(ep string) string {
	u, err := url.Parse(strings.TrimLeft(ep, "@>"))
	if err != nil || u.Scheme != "tcp" {
		return ""
	}
	switch h := u.Hostname(); h {
	case "", "*", "0.0.0.0", "::":
		return ""
	default:
		return h
	}
}

// benchReq sends requests from -clients requesters, each with its own
// socket, to -endpoint or the service -service.
func benchReq(ctx context.Context, e *env, c *benchConfig) (*benchResult, error) {
	ep := c.endpoint
	var t *types
	var err error
	if t, err = loadTypes(""); err != nil {
		return nil, err
	}
	if c.service != "" {
		rc, err := c.f.registryClient(e)
		if err != nil {
			return nil, err
		}
		in, err := lookup(ctx, rc, c.f, c.service)
		rc.Close()
		if err != nil {
			return nil, err
		}
		ep = in.Endpoint()
		if c.reqType != "" {
			if _, err := t.FindMessageByName(protoreflect.FullName(c.reqType)); err != nil {
				// Not known here: the service says what it takes.
				if rep, _, err := infoAt(ctx, c.f, ep); err == nil {
					if err := t.addRemote(rep); err != nil {
						return nil, err
					}
				}
			}
		}
	}
	if listens, err := binds(ep, endpoint.Connect); err != nil {
		return nil, err
	} else if listens && c.clients > 1 {
		return nil, usageError{fmt.Sprintf("-clients %d on %s: one port takes one listener; connect the requesters", c.clients, ep)}
	}
	var msg proto.Message // -type's request, the same for every call
	if c.reqType != "" {
		if msg, err = t.fromJSON(c.reqType, body(e, c.body)); err != nil {
			return nil, err
		}
	}
	opts, _, err := c.connOptions(e, false)
	if err != nil {
		return nil, err
	}
	r, err := runRequesters(ctx, e, c, t, ep, msg, opts)
	if err != nil {
		return nil, err
	}
	size := c.size
	if msg != nil {
		size = proto.Size(msg)
	}
	return &benchResult{Mode: c.mode, Endpoint: ep, Size: size, Req: r, Interrupted: ctx.Err() != nil}, nil
}

// runRequesters connects -clients requesters to ep, then has each call
// its share of -count (or for -duration), one call at a time.
func runRequesters(ctx context.Context, e *env, c *benchConfig, t *types, ep string, msg proto.Message, opts []connection.Option) (*reqResult, error) {
	ep = strings.TrimPrefix(ep, ">")
	if !strings.HasPrefix(ep, "@") {
		ep = ">" + ep
	}
	mopts := []messaging.RequestOption{messaging.WithConnectionOptions(append(opts, connection.WithLinger(0))...), messaging.WithLogger(e.log), messaging.WithResolver(t)}
	reqs := make([]*messaging.Request, c.clients)
	defer func() {
		for _, r := range reqs {
			if r != nil {
				r.Close()
			}
		}
	}()
	for i := range reqs {
		r, err := messaging.NewRequest(ep, mopts...)
		if err != nil {
			return nil, usageError{err.Error()}
		}
		reqs[i] = r
		wctx, cancel := context.WithTimeout(ctx, c.timeout)
		err = r.WaitPeers(wctx, 1)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("no responder at %s within %v", strings.TrimLeft(ep, "@>"), c.timeout)
		}
	}
	what := fmt.Sprintf("%d B each", c.size)
	if msg != nil {
		what = string(msg.ProtoReflect().Descriptor().FullName())
	}
	fmt.Fprintf(e.errOut, "bench req: %s (%s) from %d requester(s) to %s\n", c.amount(), what, c.clients, strings.TrimLeft(ep, "@>"))
	var (
		calls                  atomic.Uint64
		wg                     sync.WaitGroup
		firstRefusal, firstErr firstError
	)
	parts := make([]*reqResult, c.clients)
	lats := make([]hist, c.clients)
	ends := make([]time.Time, c.clients)
	start := time.Now()
	bar := c.progress(e, &calls)
	for i, r := range reqs {
		wg.Go(func() {
			p := &reqResult{}
			parts[i] = p
			n := c.share(i)
			m := msg
			var data []byte
			if m == nil {
				data = make([]byte, c.size)
				m = &msglib.Bytes{Data: data}
			}
			pace := newPacer(c.rate)
			for k := 0; c.more(k, n, start) && ctx.Err() == nil; k++ {
				pace.wait(ctx, k)
				if len(data) >= 8 { // a sequence, to check each reply is this request's
					binary.BigEndian.PutUint64(data, uint64(k+1))
				}
				cctx, cancel := context.WithTimeout(ctx, c.timeout)
				t0 := time.Now()
				rep, err := messaging.Call[protoMessage](cctx, r, m)
				took := time.Since(t0)
				cancel()
				calls.Add(1)
				var refusal *messaging.Error
				switch {
				case err == nil:
					p.Answered++
					lats[i].add(int64(took))
					if b, ok := rep.(*msglib.Bytes); data != nil && (!ok || !bytes.Equal(b.Data, data)) {
						p.Mismatched++
					}
				case errors.As(err, &refusal):
					p.Refused++
					lats[i].add(int64(took)) // a round trip too
					firstRefusal.set(err)
				case ctx.Err() != nil:
					calls.Add(^uint64(0)) // interrupted: not a call
				case errors.Is(err, connection.ErrTimeout) || errors.Is(err, context.DeadlineExceeded):
					p.Timeouts++
				default:
					p.Errors++
					firstErr.set(err)
				}
			}
			ends[i] = time.Now()
		})
	}
	wg.Wait()
	bar.stop()
	r := &reqResult{Clients: c.clients}
	var lat hist
	for i, p := range parts {
		r.Answered += p.Answered
		r.Refused += p.Refused
		r.Timeouts += p.Timeouts
		r.Errors += p.Errors
		r.Mismatched += p.Mismatched
		lat.merge(&lats[i])
	}
	r.Calls = r.Answered + r.Refused + r.Timeouts + r.Errors
	r.Seconds = slices.MaxFunc(ends, time.Time.Compare).Sub(start).Seconds()
	if r.Seconds > 0 {
		r.CallsPerSec = float64(r.Answered+r.Refused) / r.Seconds
	}
	r.Latency = lat.summary()
	if err := firstRefusal.err; err != nil {
		fmt.Fprintf(e.errOut, "bench req: %d request(s) refused, the first: %v\n", r.Refused, err)
	}
	if err := firstErr.err; err != nil {
		fmt.Fprintf(e.errOut, "bench req: %d request(s) failed, the first: %s\n", r.Errors, once(err))
	}
	return r, nil
}

// benchReqRep runs a responder and the requesters in this process.
func benchReqRep(ctx context.Context, e *env, c *benchConfig) (*benchResult, error) {
	if ok, err := binds(c.endpoint, endpoint.Bind); err != nil || !ok {
		if err == nil {
			err = usageError{fmt.Sprintf("bench reqrep: -endpoint %s must listen (the requesters connect to it)", c.endpoint)}
		}
		return nil, err
	}
	rctx, stopRep := context.WithCancel(context.WithoutCancel(ctx))
	ready := make(chan string, 1)
	repc := make(chan *benchResult, 1)
	errc := make(chan error, 1)
	go func() {
		r, err := benchRep(rctx, e, c, ready)
		repc <- r
		errc <- err
	}()
	var ep string
	select {
	case ep = <-ready:
	case err := <-errc:
		stopRep()
		return nil, err
	}
	t, _ := loadTypes("")
	opts, _, _ := c.connOptions(e, false) // -hwm only: no CURVE in one process
	req, err := runRequesters(ctx, e, c, t, ep, nil, opts)
	stopRep()
	rep := <-repc
	if rerr := <-errc; err == nil {
		err = rerr
	}
	if req == nil {
		return nil, err
	}
	r := &benchResult{Mode: c.mode, Endpoint: ep, Size: c.size, Req: req, Interrupted: ctx.Err() != nil}
	if rep != nil {
		r.Rep = rep.Rep
	}
	return r, err
}
