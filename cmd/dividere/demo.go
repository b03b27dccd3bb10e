package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/messaging"
	"github.com/dividere-go/dividere/msglib"
	"github.com/dividere-go/dividere/patterns"
	"github.com/dividere-go/dividere/registry"
	"github.com/dividere-go/dividere/service"
)

// runDemo brings up each part that exists, drives some traffic through it
// and prints what happens, then closes everything and exits. `demo
// failover` runs the failover scenario instead (failover.go).
func runDemo(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(e.errOut)
	fs.Usage = func() {
		fmt.Fprintf(e.errOut, "usage: dividere demo [flags]           a tour of every layer\n"+
			"       dividere demo failover [flags]  two brokers, one SIGKILLed under load and started again\n\nflags:\n")
		fs.PrintDefaults()
	}
	n := fs.Int("n", 5, "messages per part")
	workers := fs.Int("workers", 8, "failover: worker processes")
	clients := fs.Int("clients", 8, "failover: client processes")
	rate := fs.Int("rate", 40, "failover: requests a second from each client")
	timeout := fs.Duration("timeout", 600*time.Millisecond, "failover: a client's attempt timeout")
	before := fs.Duration("before", 3*time.Second, "failover: load before the broker is killed")
	down := fs.Duration("down", 3*time.Second, "failover: how long the killed broker stays down")
	after := fs.Duration("after", 3*time.Second, "failover: load once the restarted broker has its workers back")
	role := fs.String("role", "", "failover: run one process of the scenario, worker or client (the scenario starts its own)")
	brokers := fs.String("brokers", "", "with -role: the brokers' back ends (worker) or front ends (client), comma-separated")
	id := fs.String("id", "", "with -role: the process's name")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch rest := fs.Args(); {
	case len(rest) == 0:
	case len(rest) == 1 && rest[0] == "failover":
		switch *role {
		case "worker":
			return failoverWorker(ctx, e, *brokers, *id)
		case "client":
			return failoverClient(ctx, e, *brokers, *id, *rate, *timeout)
		case "":
		default:
			return usageError{fmt.Sprintf("-role %q: worker or client", *role)}
		}
		if *workers < 1 || *clients < 1 || *rate < 1 || *timeout <= 0 {
			return usageError{"failover: -workers, -clients, -rate and -timeout must be more than 0"}
		}
		return demoFailover(ctx, e, failoverConfig{workers: *workers, clients: *clients, rate: *rate, timeout: *timeout,
			before: *before, down: *down, after: *after})
	default:
		return usageError{fmt.Sprintf("demo %s: the only scenario is failover", strings.Join(rest, " "))}
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	say := func(format string, a ...any) { fmt.Fprintf(e.out, format+"\n", a...) }

	say("== connection layer: publish/subscribe with topics ==")
	pub, err := connection.NewPublisher("tcp://*:0")
	if err != nil {
		return err
	}
	defer pub.Close()
	sub, err := connection.NewSubscriber(pub.Endpoint(), connection.WithTopics("weather."))
	if err != nil {
		return err
	}
	defer sub.Close()
	if err := pub.WaitSubscribers(ctx, "weather.", 1); err != nil {
		return err
	}
	say("publisher on %s; subscriber to \"weather.\" connected (no sleep: the subscription was seen)", pub.Endpoint())
	for i := range *n {
		pub.Send(ctx, fmt.Appendf(nil, "sports.match %d", i))
		pub.Send(ctx, fmt.Appendf(nil, "weather.city-%d %d°C", i, 10+i))
	}
	for range *n {
		m, err := sub.Recv(ctx)
		if err != nil {
			return err
		}
		say("  subscriber got %q", m.Payload())
	}

	say("\n== connection layer: requests through a ROUTER/DEALER proxy to two responders ==")
	proxy, err := connection.NewProxy("tcp://*:0", "tcp://*:0")
	if err != nil {
		return err
	}
	go proxy.Serve(ctx)
	defer proxy.Close()
	for i := range 2 {
		rep, err := connection.NewResponse(">" + proxy.Backend.Endpoint())
		if err != nil {
			return err
		}
		defer rep.Close()
		go func() {
			for {
				m, err := rep.Recv(ctx)
				if err != nil {
					return
				}
				rep.Send(ctx, fmt.Appendf(nil, "responder %d: %s", i, m.Payload()))
			}
		}()
	}
	req, err := connection.NewRequest(proxy.Frontend.Endpoint())
	if err != nil {
		return err
	}
	defer req.Close()
	for i := range *n {
		start := time.Now()
		rep, err := req.Call(ctx, fmt.Appendf(nil, "request %d", i))
		if err != nil {
			return err
		}
		say("  %q in %v", rep.Payload(), time.Since(start).Round(time.Microsecond))
	}

	say("\n== connection layer: socket events ==")
	events := make(chan connection.Event, 32)
	router, err := connection.NewRouter("tcp://*:0", connection.WithEvents(events), connection.WithName("demo-router"))
	if err != nil {
		return err
	}
	defer router.Close()
	dealer, err := connection.NewDealer(router.Endpoint())
	if err != nil {
		return err
	}
	if err := router.WaitPeers(ctx, 1); err != nil {
		return err
	}
	dealer.Close()
	for {
		select {
		case ev := <-events:
			say("  %s: %s %s", ev.Socket, ev.Kind, ev.Endpoint)
			if ev.Kind != connection.EventDisconnected {
				continue
			}
		case <-ctx.Done():
			return ctx.Err()
		}
		break
	}
	if err := demoMessaging(ctx, say, *n); err != nil {
		return err
	}
	if err := demoBroker(ctx, say, *n); err != nil {
		return err
	}
	if err := demoServices(ctx, say); err != nil {
		return err
	}
	say("\ndemo done: every socket closes cleanly.")
	return nil
}

// demoMessaging shows typed messages: a subscription by type, and a
// reactor serving requests and events on two endpoints at once.
func demoMessaging(ctx context.Context, say func(string, ...any), n int) error {
	say("\n== messaging layer: Protobuf envelopes, subscription by type ==")
	pub, err := messaging.NewPublisher("tcp://*:0")
	if err != nil {
		return err
	}
	defer pub.Close()
	sub, err := messaging.NewSubscriber(pub.Endpoint(), messaging.WithTypes(&msglib.Heartbeat{}))
	if err != nil {
		return err
	}
	defer sub.Close()
	if err := pub.WaitSubscribers(ctx, &msglib.Heartbeat{}, 1); err != nil {
		return err
	}
	for i := range n {
		pub.Send(ctx, &msglib.RediscoverReq{}) // not subscribed: filtered by libzmq
		pub.Send(ctx, &msglib.Heartbeat{Id: fmt.Sprintf("worker-%d", i)})
	}
	for range n {
		hb, err := messaging.RecvAs[*msglib.Heartbeat](ctx, sub)
		if err != nil {
			return err
		}
		say("  subscriber to Heartbeat got Heartbeat{id: %q}", hb.Id)
	}

	say("\n== messaging layer: a reactor on a Response and a Subscriber ==")
	rep, err := messaging.NewResponse("tcp://*:0")
	if err != nil {
		return err
	}
	defer rep.Close()
	events, err := messaging.NewSubscriber(pub.Endpoint(), messaging.WithTypes(&msglib.RegisterService{}))
	if err != nil {
		return err
	}
	defer events.Close()
	r := messaging.NewReactor([]messaging.Endpoint{rep, events})
	messaging.Handle(r, func(ctx context.Context, m *msglib.ServiceLookupReq, _ messaging.Peer) (*msglib.ServiceLookupRep, error) {
		return &msglib.ServiceLookupRep{ServiceName: m.ServiceName, Server: "unavailable"}, nil
	})
	seen := make(chan string, n)
	messaging.HandleMessage(r, func(ctx context.Context, m *msglib.RegisterService, from messaging.Peer) error {
		seen <- m.ServiceName
		return nil
	})
	go r.Serve(ctx)
	defer r.Shutdown(ctx)
	req, err := messaging.NewRequest(rep.Endpoint())
	if err != nil {
		return err
	}
	defer req.Close()
	for i := range n {
		rep, err := messaging.Call[*msglib.ServiceLookupRep](ctx, req, &msglib.ServiceLookupReq{ServiceName: fmt.Sprintf("svc-%d", i)})
		if err != nil {
			return err
		}
		say("  lookup %q -> server %q", rep.ServiceName, rep.Server)
	}
	if err := pub.WaitSubscribers(ctx, &msglib.RegisterService{}, 1); err != nil {
		return err
	}
	pub.Send(ctx, &msglib.RegisterService{ServiceName: "orders", Server: "10.0.0.7", Port: 7000})
	select {
	case name := <-seen:
		say("  event handler saw RegisterService{serviceName: %q}", name)
	case <-ctx.Done():
		return ctx.Err()
	}
	say("  reactor stats: %+v", r.Stats())
	return nil
}

// demoFailover runs the failover scenario with this very binary, saying
// how it goes, and ends with its one-line summary; it fails when the
// scenario broke a guarantee.
func demoFailover(ctx context.Context, e *env, cfg failoverConfig) error {
	bin, err := os.Executable()
	if err != nil {
		return err
	}
	cfg.bin = bin
	cfg.say = func(format string, a ...any) { fmt.Fprintf(e.out, format+"\n", a...) }
	ctx, cancel := context.WithTimeout(ctx, cfg.before+cfg.down+cfg.after+2*time.Minute)
	defer cancel()
	cfg.say("== failover: 2 brokers, %d workers serving both, %d clients spreading over both ==", cfg.workers, cfg.clients)
	res, err := runFailover(ctx, cfg)
	if err != nil {
		return err
	}
	bad := res.check()
	fmt.Fprintln(e.out, res.line())
	return bad
}

// demoBroker shows the load-balancing broker with heartbeating workers and
// a retrying client, a worker dropping out in the middle.
func demoBroker(ctx context.Context, say func(string, ...any), n int) error {
	say("\n== load balancing: a broker, two heartbeating workers, a retrying client ==")
	b, err := patterns.NewBroker("tcp://*:0", "tcp://*:0", patterns.WithHeartbeat(100*time.Millisecond, 300*time.Millisecond))
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() { defer wg.Done(); b.Serve(ctx) }()
	defer b.Close()
	var workers []*patterns.Worker
	for i := range 2 {
		w, err := patterns.NewWorker(b.Backend(), func(_ context.Context, req []byte) ([]byte, error) {
			return fmt.Appendf(nil, "worker %d did %s", i, req), nil
		}, patterns.WithHeartbeat(100*time.Millisecond, 300*time.Millisecond))
		if err != nil {
			return err
		}
		workers = append(workers, w)
		wg.Add(1)
		go func() { defer wg.Done(); w.Serve(ctx) }()
		defer w.Close()
	}
	if err := b.WaitWorkers(ctx, 2); err != nil {
		return err
	}
	client, err := patterns.NewClient(b.Frontend(), patterns.WithRetry(500*time.Millisecond, 5, 0))
	if err != nil {
		return err
	}
	defer client.Close()
	for i := range 2 * n {
		if i == n {
			workers[0].Close()
			say("  (worker 0 leaves; the broker notices when its heartbeats stop)")
		}
		rep, err := client.Request(ctx, fmt.Appendf(nil, "job %d", i))
		if err != nil {
			return err
		}
		say("  %s", rep)
	}
	st := b.Stats()
	say("  broker: %d requests, %d replies, %d live workers", st.Requests, st.Replies, st.Workers)
	return nil
}

// demoServices shows the name service with two services: registration,
// lookup by name, a typed call, the instance list with stats.
func demoServices(ctx context.Context, say func(string, ...any)) error {
	say("\n== service layer: a name service and two services ==")
	ns, err := registry.NewServer(registry.WithEndpoints("@tcp://127.0.0.1:0", "@tcp://127.0.0.1:0", ""))
	if err != nil {
		return err
	}
	go ns.Serve(ctx)
	defer ns.Close()
	where := service.WithRegistry(registry.WithEndpoints(ns.Endpoints()))
	var wg sync.WaitGroup
	sctx, stop := context.WithCancel(ctx)
	defer func() { stop(); wg.Wait() }()
	var svcs []*service.Service
	for _, name := range []string{"demo.Lookup", "demo.Clock"} {
		svc, err := service.New(nil, service.WithName(name), service.WithHost("127.0.0.1"), service.WithVersion("1.0"), where)
		if err != nil {
			return err
		}
		messaging.Handle(svc, func(ctx context.Context, m *msglib.ServiceLookupReq, _ messaging.Peer) (*msglib.ServiceLookupRep, error) {
			return &msglib.ServiceLookupRep{ServiceName: m.ServiceName, Server: name + " says hi"}, nil
		})
		svcs = append(svcs, svc)
		wg.Add(1)
		go func() { defer wg.Done(); svc.Serve(sctx) }()
	}
	c, err := registry.NewClient(registry.WithEndpoints(ns.Endpoints()))
	if err != nil {
		return err
	}
	defer c.Close()
	for _, svc := range svcs {
		var in registry.Instance
		for {
			if in, err = c.Lookup(ctx, svc.Instance().Service); err == nil {
				break
			}
			if !errors.Is(err, registry.ErrNotFound) || ctx.Err() != nil {
				return err
			}
			time.Sleep(10 * time.Millisecond) // its registration is on the way
		}
		say("  lookup %q -> %s", svc.Instance().Service, in.Endpoint())
		req, err := messaging.NewRequest(in.Endpoint())
		if err != nil {
			return err
		}
		rep, err := messaging.Call[*msglib.ServiceLookupRep](ctx, req, &msglib.ServiceLookupReq{ServiceName: "demo"})
		req.Close()
		if err != nil {
			return err
		}
		say("  called it: %q", rep.Server)
	}
	list, err := c.List(ctx, "")
	if err != nil {
		return err
	}
	for _, in := range list {
		say("  registered: %-12s %-18s v%s", in.Service, in.ID, in.Version)
	}
	return nil
}
