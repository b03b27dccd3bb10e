package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"text/template"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/internal/endpoint"
	"github.com/dividere-go/dividere/messaging"
	"github.com/dividere-go/dividere/metrics"
	"github.com/dividere-go/dividere/patterns"
	"github.com/dividere-go/dividere/registry"
	"github.com/dividere-go/dividere/registry/etcdstore"
)

func init() {
	commands["registry"] = command{"run the name service", runRegistry}
	commands["ls"] = command{"list registered services and instances, with versions and stats", runLs}
	commands["lookup"] = command{"look a service up: prints its endpoint", runLookup}
	commands["call"] = command{"look a service up and send it a request: call NAME TYPE JSON", runCall}
	commands["req"] = command{"send one request to an endpoint: req ENDPOINT TYPE JSON", runReq}
	commands["pub"] = command{"publish messages: pub ENDPOINT TYPE JSON [JSON...]", runPub}
	commands["sub"] = command{"print published messages as JSON lines: sub ENDPOINT [TYPE...]", runSub}
	commands["proxy"] = command{"run a ROUTER/DEALER (or, with -pubsub, XSUB/XPUB) proxy: proxy FRONT BACK", runProxy}
	commands["broker"] = command{"run a load-balancing broker: broker FRONT BACK", runBroker}
	commands["monitor"] = command{"connect to an endpoint and print socket events: monitor ENDPOINT", runMonitor}
}

// flags is a subcommand's flag set, with the flags several share.
type flags struct {
	*flag.FlagSet
	registry    *string
	descriptors *string
	timeout     *time.Duration
	keys        *curveFlags
	nsEvents    chan connection.Event // the name-service client's socket events
}

func newFlags(e *env, name, args string, shared ...string) *flags {
	f := &flags{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError)}
	f.SetOutput(e.errOut)
	f.Usage = func() {
		fmt.Fprintf(e.errOut, "usage: dividere %s [flags] %s\n\nflags:\n", name, args)
		f.PrintDefaults()
	}
	for _, s := range shared {
		switch s {
		case "curve-server": // the commands that serve
			f.keys = f.curve(true)
		case "curve-client": // the commands that connect
			f.keys = f.curve(false)
		case "registry":
			f.registry = f.String("registry", "", "name service address host:port[,host:port...], or etcd://host:port[,...] to use etcd directly (default $DIVIDERE_REGISTRY or localhost:5000)")
		case "descriptors":
			f.descriptors = f.String("descriptors", "", "descriptor set of the message types (protoc --descriptor_set_out --include_imports)")
		case "timeout":
			f.timeout = f.Duration("timeout", 5*time.Second, "how long to wait for an answer")
		}
	}
	return f
}

// parse parses the flags and checks the number of arguments.
func (f *flags) parse(args []string, min, max int) ([]string, error) {
	if err := parseFlags(f.FlagSet, args); err != nil {
		return nil, err
	}
	rest := f.Args()
	if len(rest) < min || (max >= 0 && len(rest) > max) {
		f.Usage()
		return nil, usageError{fmt.Sprintf("wrong number of arguments (%d)", len(rest))}
	}
	if f.timeout != nil && *f.timeout <= 0 {
		return nil, usageError{fmt.Sprintf("-timeout %v: must be more than 0", *f.timeout)}
	}
	return rest, nil
}

// listenings checks a FRONT BACK pair with listening.
func listenings(frontBack []string) error {
	if err := listening("FRONT", frontBack[0]); err != nil {
		return err
	}
	return listening("BACK", frontBack[1])
}

// listening checks that a server command's endpoint list binds: a server
// that connected instead would run and serve no one.
func listening(what, list string) error {
	eps, err := endpoint.Parse(list, endpoint.Bind)
	if err != nil {
		return usageError{fmt.Sprintf("%s: %v", what, err)}
	}
	for _, ep := range eps {
		if ep.Role != endpoint.Bind {
			return usageError{fmt.Sprintf("%s %q: a server must listen, and this would connect (drop the '>')", what, list)}
		}
	}
	return nil
}

// registryClient is the client -registry names: a name service, several,
// or with an etcd:// URL the etcd cluster itself (this program links
// registry/etcdstore, which registers the scheme).
func (f *flags) registryClient(e *env) (*registry.Client, error) {
	conn, err := f.keys.clientOptions()
	if err != nil {
		return nil, err
	}
	f.nsEvents = make(chan connection.Event, 64)
	opts := []registry.ClientOption{registry.WithConnectionOptions(append(conn, connection.WithEvents(f.nsEvents))...), registry.WithLogger(e.log)}
	if *f.registry != "" {
		opts = append(opts, registry.WithAddress(*f.registry))
	}
	if f.timeout != nil {
		opts = append(opts, registry.WithRetry(*f.timeout/2, 1, 0))
	}
	c, err := registry.NewClient(opts...)
	if err != nil {
		return nil, usageError{err.Error()}
	}
	return c, nil
}

// noNameServiceAfter is how long a command waits for a name service that
// refuses connections before it says there is none.
var noNameServiceAfter = time.Second

// nameService runs op (a request to the name service) and fails it fast,
// saying so, when no name service listens where the client connects:
// libzmq reports the refused connection among the socket's events long
// before any timeout.
func (f *flags) nameService(ctx context.Context, op func(ctx context.Context) error) error {
	if f.nsEvents == nil {
		return op(ctx)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var refused string // an endpoint that refused, if none connected
	done := make(chan struct{})
	go func() {
		defer close(done)
		connected := false
		t := time.NewTimer(noNameServiceAfter)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case ev := <-f.nsEvents:
				switch ev.Kind {
				case connection.EventConnected, connection.EventHandshakeSucceeded:
					connected = true
				case connection.EventConnectRetried:
					if !connected {
						refused = ev.Endpoint
					}
				}
			case <-t.C:
				if !connected && refused != "" {
					cancel()
					return
				}
			}
		}
	}()
	err := op(ctx)
	cancel()
	<-done
	if err != nil && refused != "" && ctx.Err() != nil && !errors.Is(err, registry.ErrNotFound) {
		return fmt.Errorf("no name service at %s (is \"dividere registry\" running?)", strings.TrimPrefix(refused, "tcp://"))
	}
	return err
}

// lookup looks a service up, failing fast without a name service.
func lookup(ctx context.Context, c *registry.Client, f *flags, name string) (registry.Instance, error) {
	var in registry.Instance
	err := f.nameService(ctx, func(ctx context.Context) error {
		var err error
		in, err = c.Lookup(ctx, name)
		return err
	})
	return in, err
}

func runRegistry(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "registry", "", "curve-server")
	requests := f.String("requests", "tcp://*:5000", "where to answer requests")
	notices := f.String("notices", "tcp://*:5001", "where to publish notices (RediscoverReq, all the original's services can take)")
	watch := f.String("watch", "", "where to publish change notices, ServiceEvent (default: the -notices port+1, tcp://*:5002)")
	ttl := f.Duration("ttl", 0, "TTL given to registrations that carry none (the original's); 0: they never expire")
	store := f.String("store", "", "keep the state in etcd, shared with every name service on the cluster: etcd://host:port[,host:port...] (default: in memory)")
	registrars := f.String("registrars", "", "with -curve-server: only these client keys (comma-separated keys or key files) may register, and a name belongs to the key that took it")
	lookupKeys := f.String("lookup-keys", "", "with -curve-server: only these client keys (and registrars) may look up")
	httpAddr := f.String("http", "", "serve a live status page of the services (/, and its JSON at /api/services), /metrics, /healthz and /readyz over HTTP on this host:port")
	if _, err := f.parse(args, 0, 0); err != nil {
		return err
	}
	if err := listening("-requests", *requests); err != nil {
		return err
	}
	if err := listening("-notices", *notices); err != nil {
		return err
	}
	if *watch != "" {
		if err := listening("-watch", *watch); err != nil {
			return err
		}
	}
	if (*registrars != "" || *lookupKeys != "") && (*f.keys.serverKey == "" || *f.keys.allow == "") {
		// Keys are checked against the User-Id the authenticator gives
		// each peer; without one, every write would be refused.
		return usageError{"-registrars and -lookup-keys need -curve-server and -curve-allow (the client keys let in, registrars among them): without the authenticator no request carries a key to check"}
	}
	conn, stop, err := f.keys.serverOptions(e)
	if err != nil {
		return err
	}
	defer stop()
	opts := []registry.ServerOption{registry.WithEndpoints(*requests, *notices, *watch), registry.WithLogger(e.log),
		registry.WithDefaultTTL(*ttl), registry.WithConnectionOptions(conn...)}
	for _, kf := range []struct {
		list string
		opt  func(...string) registry.ServerOption
	}{{*registrars, registry.WithRegistrars}, {*lookupKeys, registry.WithLookupKeys}} {
		if kf.list == "" {
			continue
		}
		keys, err := publicKeys(kf.list)
		if err != nil {
			return err
		}
		opts = append(opts, kf.opt(keys...))
	}
	st := registry.NewMemoryStore()
	if *store != "" {
		// Open contacts no one: what fails is the URL or the TLS files.
		est, err := etcdstore.Open(*store, etcdstore.WithCache(), etcdstore.WithLogger(e.log))
		if err != nil {
			return usageError{err.Error()}
		}
		defer est.Close()
		st = est
	}
	opts = append(opts, registry.WithStore(st))
	s, err := registry.NewServer(opts...)
	if err != nil {
		return err
	}
	local, err := registry.NewClient(registry.WithStore(st), registry.WithLogger(e.log)) // for the status page
	if err != nil {
		s.Close()
		return err
	}
	defer local.Close()
	m := metrics.New(nil)
	metrics.Add(m, "nameservice", s.Stats)
	stopHTTP, err := serveHTTP(e, *httpAddr, statusHandler(local, m.Handler(nil)))
	if err != nil {
		s.Close()
		return err
	}
	defer stopHTTP()
	requestsAt, noticesAt, watchAt := s.Endpoints()
	fmt.Fprintf(e.out, "name service: requests on %s, notices on %s, changes on %s (Ctrl-C stops)\n", requestsAt, noticesAt, watchAt)
	if err := s.Serve(ctx); ctx.Err() == nil {
		return err
	}
	stats := s.Stats()
	fmt.Fprintf(e.out, "stopped after %d registrations and %d lookups\n", stats.Registrations, stats.Lookups)
	return nil
}

func runLs(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "ls", "[NAME]", "registry", "timeout", "curve-client")
	asJSON := f.Bool("json", false, "print the instances as JSON, one object a line")
	rest, err := f.parse(args, 0, 1)
	if err != nil {
		return err
	}
	c, err := f.registryClient(e)
	if err != nil {
		return err
	}
	defer c.Close()
	name := ""
	if len(rest) == 1 {
		name = rest[0]
	}
	var list []registry.Instance
	err = f.nameService(ctx, func(ctx context.Context) error {
		var err error
		list, err = c.List(ctx, name)
		return err
	})
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(e.out)
		for _, in := range list {
			if err := enc.Encode(instanceJSON(in)); err != nil {
				return err
			}
		}
		return nil
	}
	w := tabwriter.NewWriter(e.out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(w, "SERVICE\tINSTANCE\tENDPOINT\tVERSION\tREQUESTS\tERRORS\tAVG\tEXPIRES")
	for _, in := range list {
		var reqs, errs uint64
		avg := "-"
		if in.Stats != nil {
			reqs, errs = in.Stats.Requests, in.Stats.Errors
			if reqs > 0 {
				avg = (time.Duration(in.Stats.ProcessingNanos / reqs)).String()
			}
		}
		exp := "never"
		if !in.Expires.IsZero() {
			exp = time.Until(in.Expires).Round(100 * time.Millisecond).String()
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", in.Service, in.ID, in.Endpoint(), or(in.Version, "-"), reqs, errs, avg, exp)
	}
	return w.Flush()
}

// instanceJSON is what ls -json prints of an instance.
func instanceJSON(in registry.Instance) map[string]any {
	o := map[string]any{"service": in.Service, "instance": in.ID, "endpoint": in.Endpoint(), "version": in.Version}
	if len(in.Metadata) > 0 {
		o["metadata"] = in.Metadata
	}
	if in.TTL > 0 {
		o["ttl_ms"] = in.TTL.Milliseconds()
	}
	if !in.Expires.IsZero() {
		o["expires"] = in.Expires.UTC().Format(time.RFC3339Nano)
	}
	if !in.Renewed.IsZero() {
		o["renewed"] = in.Renewed.UTC().Format(time.RFC3339Nano)
	}
	if in.Stats != nil {
		o["requests"], o["errors"] = in.Stats.Requests, in.Stats.Errors
		if in.Stats.Requests > 0 {
			o["avg_ns"] = in.Stats.ProcessingNanos / in.Stats.Requests
		}
	}
	return o
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func runLookup(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "lookup", "NAME", "registry", "timeout", "curve-client")
	rest, err := f.parse(args, 1, 1)
	if err != nil {
		return err
	}
	c, err := f.registryClient(e)
	if err != nil {
		return err
	}
	defer c.Close()
	in, err := lookup(ctx, c, f, rest[0])
	if err != nil {
		return err
	}
	fmt.Fprintln(e.out, in.Endpoint())
	return nil
}

func runCall(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "call", "NAME TYPE JSON", "registry", "descriptors", "timeout", "curve-client")
	rest, err := f.parse(args, 3, 3)
	if err != nil {
		return err
	}
	t, err := loadTypes(*f.descriptors)
	if err != nil {
		return err
	}
	c, err := f.registryClient(e)
	if err != nil {
		return err
	}
	defer c.Close()
	in, err := lookup(ctx, c, f, rest[0])
	if err != nil {
		return err
	}
	if _, err := t.FindMessageByName(protoreflect.FullName(rest[1])); err != nil {
		// Not known here: the service says what it takes, with the
		// descriptors of its types.
		if rep, _, err := infoAt(ctx, f, in.Endpoint()); err == nil {
			if err := t.addRemote(rep); err != nil {
				return err
			}
		}
	}
	m, err := t.fromJSON(rest[1], body(e, rest[2]))
	if err != nil {
		return err
	}
	conn, err := f.keys.clientOptions()
	if err != nil {
		return err
	}
	return request(ctx, e, t, in.Endpoint(), m, *f.timeout, conn)
}

func runReq(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "req", "ENDPOINT TYPE JSON", "descriptors", "timeout", "curve-client")
	rest, err := f.parse(args, 3, 3)
	if err != nil {
		return err
	}
	t, err := loadTypes(*f.descriptors)
	if err != nil {
		return err
	}
	m, err := t.fromJSON(rest[1], body(e, rest[2]))
	if err != nil {
		return err
	}
	conn, err := f.keys.clientOptions()
	if err != nil {
		return err
	}
	return request(ctx, e, t, rest[0], m, *f.timeout, conn)
}

// body is a command's JSON argument: "-" reads it from standard input.
func body(e *env, arg string) string {
	if arg != "-" {
		return arg
	}
	b, err := io.ReadAll(e.in)
	if err != nil {
		return ""
	}
	return string(b)
}

// request sends m to endpoint and prints the reply as JSON.
func request(ctx context.Context, e *env, t *types, endpoint string, m protoMessage, timeout time.Duration, conn []connection.Option) error {
	rep, err := callOnce(ctx, t, endpoint, m, timeout, conn)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.out, t.toJSON(rep))
	return nil
}

// callOnce sends m to endpoint on a connection of its own and returns the
// reply (decoded with t, or the compiled-in types when t is nil).
func callOnce(ctx context.Context, t *types, endpoint string, m protoMessage, timeout time.Duration, conn []connection.Option) (protoMessage, error) {
	opts := []messaging.RequestOption{messaging.WithConnectionOptions(append(conn, connection.WithLinger(0))...)}
	if t != nil {
		opts = append(opts, messaging.WithResolver(t))
	}
	req, err := messaging.NewRequest(">"+strings.TrimPrefix(endpoint, ">"), opts...)
	if err != nil {
		return nil, usageError{err.Error()}
	}
	defer req.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	rep, err := messaging.Call[protoMessage](ctx, req, m)
	if errors.Is(err, connection.ErrTimeout) {
		return nil, fmt.Errorf("no reply from %s within %v", endpoint, timeout)
	}
	return rep, err
}

func runPub(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "pub", "ENDPOINT TYPE JSON [JSON...]", "descriptors", "timeout", "curve-server")
	wait := f.Int("subscribers", 1, "wait (up to -timeout) for this many subscribers to the type before publishing")
	count := f.Int("count", 0, "publish this many messages, going round the JSON bodies (0: each body once)")
	rate := f.Float64("rate", 0, "at most this many messages a second (0: as fast as they go)")
	rest, err := f.parse(args, 3, -1)
	if err != nil {
		return err
	}
	if *count < 0 || *rate < 0 {
		return usageError{"-count and -rate must be 0 or more"}
	}
	t, err := loadTypes(*f.descriptors)
	if err != nil {
		return err
	}
	bodies, err := templates(e, rest[2:])
	if err != nil {
		return err
	}
	total := *count
	if total == 0 {
		total = len(bodies)
	}
	// Every body must make a message before anything is sent.
	first, err := bodies[0].message(t, rest[1], 1)
	if err != nil {
		return err
	}
	for i, b := range bodies[1:] {
		if _, err := b.message(t, rest[1], i+2); err != nil {
			return err
		}
	}
	conn, stop, err := f.keys.serverOptions(e)
	if err != nil {
		return err
	}
	defer stop()
	if eps, err := endpoint.Parse(rest[0], endpoint.Bind); err == nil {
		for _, ep := range eps {
			if ep.Role == endpoint.Connect {
				fmt.Fprintf(e.errOut, "dividere pub: connecting to %s, where subscribers must listen (to listen yourself: tcp://*:PORT, or @ before the endpoint)\n", ep.Addr)
			}
		}
	}
	pub, err := messaging.NewPublisher(rest[0], messaging.WithConnectionOptions(conn...))
	if err != nil {
		return usageError{err.Error()}
	}
	defer pub.Close()
	if *wait > 0 {
		wctx, cancel := context.WithTimeout(ctx, *f.timeout)
		defer cancel()
		if err := pub.WaitSubscribers(wctx, first, *wait); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("interrupted while waiting for a subscriber to %s on %s; nothing published", rest[1], rest[0])
			}
			return fmt.Errorf("no subscriber to %s on %s within %v", rest[1], rest[0], *f.timeout)
		}
	}
	var tick *time.Ticker
	if *rate > 0 {
		tick = time.NewTicker(time.Duration(float64(time.Second) / *rate))
		defer tick.Stop()
	}
	bar := newProgress(e, "published", total, total >= 10000)
	defer bar.done()
	for i := range total {
		m, err := bodies[i%len(bodies)].message(t, rest[1], i+1)
		if err != nil {
			return err
		}
		if tick != nil && i > 0 {
			select {
			case <-ctx.Done():
				return fmt.Errorf("interrupted after %d of %d messages", i, total)
			case <-tick.C:
			}
		}
		if err := pub.Send(ctx, m); err != nil {
			return err
		}
		bar.set(i + 1)
	}
	return nil
}

// body is one JSON body of pub, a template: {{.N}} is the message's
// number (from 1), {{.Time}} the time it is sent (RFC 3339), {{.Unix}}
// that in seconds.
type bodyTemplate struct {
	text string
	tmpl *template.Template // nil: no template in it
}

func templates(e *env, texts []string) ([]bodyTemplate, error) {
	var out []bodyTemplate
	for _, text := range texts {
		text = body(e, text)
		b := bodyTemplate{text: text}
		if strings.Contains(text, "{{") {
			t, err := template.New("body").Option("missingkey=error").Parse(text)
			if err != nil {
				return nil, usageError{fmt.Sprintf("body template %q: %v", text, err)}
			}
			b.tmpl = t
		}
		out = append(out, b)
	}
	return out, nil
}

func (b bodyTemplate) message(t *types, typ string, n int) (protoMessage, error) {
	text := b.text
	if b.tmpl != nil {
		var sb strings.Builder
		now := time.Now()
		if err := b.tmpl.Execute(&sb, map[string]any{"N": n, "Time": now.Format(time.RFC3339Nano), "Unix": now.Unix()}); err != nil {
			return nil, usageError{fmt.Sprintf("body template: %v (it knows {{.N}}, {{.Time}} and {{.Unix}})", err)}
		}
		text = sb.String()
	}
	return t.fromJSON(typ, text)
}

func runSub(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "sub", "ENDPOINT [TYPE...]", "descriptors", "curve-client")
	count := f.Int("count", 0, "exit after this many messages (0: run until Ctrl-C)")
	format := f.String("o", "json", `output: "json" (a JSON object a line: type and message) or "short" (time, type, message)`)
	rest, err := f.parse(args, 1, -1)
	if err != nil {
		return err
	}
	if *count < 0 {
		return usageError{fmt.Sprintf("-count %d: must be 0 or more", *count)}
	}
	if *format != "json" && *format != "short" {
		return usageError{fmt.Sprintf("-o %q: json or short", *format)}
	}
	t, err := loadTypes(*f.descriptors)
	if err != nil {
		return err
	}
	conn, err := f.keys.clientOptions()
	if err != nil {
		return err
	}
	events := make(chan connection.Event, 64)
	opts := []messaging.SubscriberOption{messaging.WithResolver(t), messaging.WithConnectionOptions(append(conn, connection.WithEvents(events))...)}
	if len(rest) > 1 {
		var msgs []protoMessage
		for _, name := range rest[1:] {
			m, err := t.fromJSON(name, "{}")
			if err != nil {
				return err
			}
			msgs = append(msgs, m)
		}
		opts = append(opts, messaging.WithTypes(msgs...))
	}
	sub, err := messaging.NewSubscriber(rest[0], opts...)
	if err != nil {
		return usageError{err.Error()}
	}
	defer sub.Close()
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go warnUnconnected(wctx, e, "sub", events, notConnectedAfter)
	for n := 0; *count == 0 || n < *count; n++ {
		m, err := sub.Recv(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil && errors.Is(err, connection.ErrClosed):
			return err
		case err != nil:
			fmt.Fprintf(e.errOut, "dividere sub: %s\n", once(err)) // bad input: said, and carried on
			n--
			continue
		}
		if *format == "short" {
			fmt.Fprintf(e.out, "%s %s %s\n", time.Now().Format("15:04:05.000"), m.ProtoReflect().Descriptor().Name(), t.bodyJSON(m))
			continue
		}
		fmt.Fprintln(e.out, t.toJSON(m))
	}
	return nil
}

// notConnectedAfter is how long a connecting command waits before it
// says it is still not connected.
var notConnectedAfter = 3 * time.Second

// warnUnconnected says, once after d, which connecting endpoints have
// still not connected and what libzmq last said about them, until ctx
// ends.
func warnUnconnected(ctx context.Context, e *env, cmd string, events <-chan connection.Event, d time.Duration) {
	state := map[string]string{} // endpoint: its last event; "" once connected
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-events:
			switch ev.Kind {
			case connection.EventConnected, connection.EventHandshakeSucceeded:
				state[ev.Endpoint] = ""
			case connection.EventConnectRetried:
				state[ev.Endpoint] = "connection refused (retrying)"
			case connection.EventConnectDelayed:
				if state[ev.Endpoint] == "" {
					state[ev.Endpoint] = "connecting"
				}
			case connection.EventDisconnected:
				state[ev.Endpoint] = "disconnected (reconnecting)"
			case connection.EventHandshakeAuth, connection.EventHandshakeFailed, connection.EventHandshakeProtocol:
				state[ev.Endpoint] = ev.Kind.String()
			}
		case <-t.C:
			for ep, why := range state {
				if why != "" {
					fmt.Fprintf(e.errOut, "dividere %s: still not connected to %s: %s\n", cmd, ep, why)
				}
			}
		}
	}
}

func runProxy(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "proxy", "FRONT BACK", "curve-server")
	pubsub := f.Bool("pubsub", false, "XSUB front end for publishers, XPUB back end for subscribers")
	httpAddr := f.httpFlag()
	rest, err := f.parse(args, 2, 2)
	if err != nil {
		return err
	}
	if err := listenings(rest); err != nil {
		return err
	}
	newProxy := connection.NewProxy
	if *pubsub {
		newProxy = connection.NewPubSubProxy
	}
	conn, stop, err := f.keys.serverOptions(e)
	if err != nil {
		return err
	}
	defer stop()
	p, err := newProxy(rest[0], rest[1], append(conn, connection.WithLogger(e.log))...)
	if err != nil {
		return usageError{err.Error()}
	}
	m := metrics.New(nil)
	metrics.Add(m, p.Frontend.Name(), p.Frontend.Stats)
	metrics.Add(m, p.Backend.Name(), p.Backend.Stats)
	stopHTTP, err := serveHTTP(e, *httpAddr, m.Handler(nil))
	if err != nil {
		p.Close()
		return err
	}
	defer stopHTTP()
	fmt.Fprintf(e.out, "proxy: front end %s, back end %s (Ctrl-C stops)\n", p.Frontend.Endpoints(), p.Backend.Endpoints())
	if err := p.Serve(ctx); ctx.Err() == nil {
		return err
	}
	return nil
}

func runBroker(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "broker", "FRONT BACK", "curve-server")
	// The defaults are patterns' own (WithHeartbeat, WithRetry), shown in -help.
	hb := f.Duration("heartbeat", 3*time.Second, "heartbeat interval (the workers' must be the same)")
	liveness := f.Duration("liveness", 0, "how long a silent worker is given before it is dead (the workers' must be the same; default 2 heartbeats)")
	clientTimeout := f.Duration("client-timeout", 2500*time.Millisecond, "the clients' attempt timeout: a worker holding requests unanswered for longer gets no more until it answers")
	name := f.String("name", "broker", "the broker's name in its metrics and logs: which broker of a set this is")
	httpAddr := f.httpFlag()
	rest, err := f.parse(args, 2, 2)
	if err != nil {
		return err
	}
	if *hb <= 0 {
		return usageError{fmt.Sprintf("-heartbeat %v: must be more than 0", *hb)}
	}
	switch {
	case *liveness < 0:
		return usageError{fmt.Sprintf("-liveness %v: must not be negative", *liveness)}
	case *clientTimeout <= 0:
		return usageError{fmt.Sprintf("-client-timeout %v: must be more than 0", *clientTimeout)}
	case *name == "":
		return usageError{"-name: must not be empty"}
	}
	if err := listenings(rest); err != nil {
		return err
	}
	conn, stop, err := f.keys.serverOptions(e)
	if err != nil {
		return err
	}
	defer stop()
	b, err := patterns.NewBroker(rest[0], rest[1], patterns.WithHeartbeat(*hb, *liveness), patterns.WithLogger(e.log.With("broker", *name)),
		patterns.WithRetry(*clientTimeout, 0, 0), patterns.WithConnectionOptions(conn...))
	if err != nil {
		return usageError{err.Error()}
	}
	m := metrics.New(nil)
	metrics.Add(m, *name, b.Stats)
	stopHTTP, err := serveHTTP(e, *httpAddr, m.Handler(func() error { // ready once a worker is
		if b.Stats().Workers == 0 {
			return errors.New("no live worker")
		}
		return nil
	}))
	if err != nil {
		b.Close()
		return err
	}
	defer stopHTTP()
	fmt.Fprintf(e.out, "broker: clients on %s, workers on %s (Ctrl-C stops)\n", b.Frontend(), b.Backend())
	err = b.Serve(ctx)
	fmt.Fprintf(e.out, "stopped: %+v\n", b.Stats())
	if ctx.Err() == nil {
		return err
	}
	return nil
}

func runMonitor(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "monitor", "ENDPOINT", "curve-client")
	rest, err := f.parse(args, 1, 1)
	if err != nil {
		return err
	}
	events := make(chan connection.Event, 64)
	// A SUB with no subscription: it connects and hears nothing, so it
	// disturbs no one.
	conn, err := f.keys.clientOptions()
	if err != nil {
		return err
	}
	opts := []connection.SubscriberOption{connection.WithTopics(), connection.WithEvents(events), connection.WithName("monitor")}
	for _, o := range conn {
		opts = append(opts, o)
	}
	s, err := connection.NewSubscriber(">"+strings.TrimPrefix(rest[0], ">"), opts...)
	if err != nil {
		return usageError{err.Error()}
	}
	defer s.Close()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-events:
			fmt.Fprintf(e.out, "%s %-20s %s (%d)\n", ev.Time.Format("15:04:05.000"), ev.Kind, ev.Endpoint, ev.Value)
		}
	}
}
