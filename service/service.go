package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/internal/httpserve"
	"github.com/dividere-go/dividere/internal/lifecycle"
	"github.com/dividere-go/dividere/internal/regbridge"
	"github.com/dividere-go/dividere/messaging"
	"github.com/dividere-go/dividere/msglib"
	"github.com/dividere-go/dividere/registry"
)

// defaultTTL is WithTTL's default.
const defaultTTL = 5 * time.Second

// Option configures a Service (New).
type Option interface{ applyService(*config) }

type option func(*config)

func (o option) applyService(c *config) { o(c) }

type config struct {
	name, version, host, id string
	metadata                map[string]string
	ttl                     time.Duration
	endpoint                string
	registry                []registry.ClientOption
	logger                  *slog.Logger
	conn                    []connection.ResponseOption
	reactor                 []messaging.ReactorOption
	httpAddr                string
	httpExtra               http.Handler
}

// WithHTTP makes the service serve HTTP on addr (host:port; port 0: one
// the system picks, see HTTPAddr) while it serves: /healthz, 200 while it
// runs (liveness); /readyz, 200 once it has registered and 503 before
// (readiness); and every other path to extra, if not nil (the metrics
// module's Handler, for /metrics).
func WithHTTP(addr string, extra http.Handler) Option {
	return option(func(c *config) { c.httpAddr, c.httpExtra = addr, extra })
}

// WithName sets the service's name. The default is the implementation's
// qualified Go type name, "import/path.Type" (pointers dereferenced), like
// the original's module.Class.
func WithName(n string) Option { return option(func(c *config) { c.name = n }) }

// WithVersion sets the version registered with the service.
func WithVersion(v string) Option { return option(func(c *config) { c.version = v }) }

// WithMetadata adds metadata registered with the service.
func WithMetadata(kv map[string]string) Option {
	return option(func(c *config) {
		if c.metadata == nil {
			c.metadata = map[string]string{}
		}
		for k, v := range kv {
			c.metadata[k] = v
		}
	})
}

// WithHost sets the host address the service advertises. The default is
// the first non-loopback IPv4 address of an interface that is up, else
// 127.0.0.1: found from the interface list, never by contacting another
// machine. A service reads no environment variable: a program that wants
// the host from its environment passes WithHost(os.Getenv("MY_HOST")).
func WithHost(h string) Option { return option(func(c *config) { c.host = h }) }

// WithInstanceID sets the instance id (default: host:port).
func WithInstanceID(id string) Option { return option(func(c *config) { c.id = id }) }

// WithTTL sets how long the registration lives unless renewed (default
// 5 s). The service renews it every third of it, so a service that dies
// vanishes from lookups within its TTL.
func WithTTL(d time.Duration) Option { return option(func(c *config) { c.ttl = d }) }

// WithEndpoint sets where the service binds (default tcp://*:0: a port the
// OS picks, no scan of a range).
func WithEndpoint(ep string) Option { return option(func(c *config) { c.endpoint = ep }) }

// WithRegistry passes options to the service's name-service client
// (address or addresses, timeout; registry.WithStore to register in etcd
// directly, with no name-service process). The service's logger is the
// client's unless they say otherwise.
func WithRegistry(opts ...registry.ClientOption) Option {
	return option(func(c *config) { c.registry = append(c.registry, opts...) })
}

// WithConnectionOptions passes options to the socket the service serves
// on, such as connection.WithCurveServer. (Options for the sockets that
// talk to the name service go in WithRegistry.)
func WithConnectionOptions(opts ...connection.ResponseOption) Option {
	return option(func(c *config) { c.conn = append(c.conn, opts...) })
}

// WithLogger sets the logger of the service, and of its socket, its
// Reactor and its name-service client (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return option(func(c *config) { c.logger = l }) }

// WithReactorOptions passes options to the Reactor that serves the
// service's requests: messaging.WithWorkers (handlers on several
// goroutines, default 1; a REP socket still answers one request at a
// time), messaging.WithHandlerTimeout, WithHiddenErrors, WithMiddleware
// (for tracing and metrics).
func WithReactorOptions(opts ...messaging.ReactorOption) Option {
	return option(func(c *config) { c.reactor = append(c.reactor, opts...) })
}

// nameOf returns v's qualified type name, "import/path.Type" (pointers
// dereferenced): the default service name.
func nameOf(v any) string {
	t := reflect.TypeOf(v)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return ""
	}
	if t.PkgPath() == "" {
		return t.String()
	}
	return t.PkgPath() + "." + t.Name()
}

// Service is the base of a dividere service: it serves typed requests on
// a port the OS picked, registers itself with the name service, renews
// the registration, registers again when the name service restarts (or
// has forgotten it for any reason), answers ServiceInfoReq with who it is
// and what it did, and stops gracefully.
type Service struct {
	cfg     config
	impl    any
	rep     *messaging.Response
	reg     *registry.Client
	mux     *messaging.Mux
	log     *slog.Logger
	started time.Time
	port    int

	requests, errors, nanos atomic.Uint64

	mu   sync.Mutex // guards started
	life *lifecycle.State
	kick chan struct{} // register now
	regs atomic.Uint64 // successful registrations
	// registered is closed at the first successful registration.
	registered chan struct{}
	regOnce    sync.Once
	http       net.Listener // WithHTTP's, bound at New
}

// New binds the service's socket (so that its port, in Instance, is
// known) and prepares it; Serve serves. impl names the service by default
// (WithName) and, if it has a method Register(*messaging.Mux), registers
// its own handlers: New calls it with the service's Mux. impl may be nil
// when WithName is given.
func New(impl any, opts ...Option) (*Service, error) {
	cfg := config{ttl: defaultTTL, endpoint: "tcp://*:0"}
	for _, o := range opts {
		if o != nil {
			o.applyService(&cfg)
		}
	}
	if cfg.name == "" {
		cfg.name = nameOf(impl)
	}
	if cfg.name == "" {
		return nil, errors.New("service: no name (give an implementation or WithName)")
	}
	if cfg.logger == nil {
		cfg.logger = slog.Default()
	}
	if cfg.host == "" {
		cfg.host = localHost()
	}
	rep, err := messaging.NewResponse(cfg.endpoint, messaging.WithLogger(cfg.logger),
		messaging.WithResponseConnOptions(append([]connection.ResponseOption{connection.WithName("service-" + cfg.name)}, cfg.conn...)...))
	if err != nil {
		return nil, err
	}
	reg, err := registry.NewClient(append([]registry.ClientOption{registry.WithLogger(cfg.logger)}, cfg.registry...)...)
	if err != nil {
		rep.Close()
		return nil, err
	}
	s := &Service{cfg: cfg, impl: impl, rep: rep, reg: reg, mux: messaging.NewMux(), port: rep.Port(),
		life: lifecycle.New(), kick: make(chan struct{}, 1), registered: make(chan struct{})}
	if cfg.httpAddr != "" {
		if s.http, err = net.Listen("tcp", cfg.httpAddr); err != nil {
			rep.Close()
			reg.Close()
			return nil, fmt.Errorf("service: HTTP on %s: %w", cfg.httpAddr, err)
		}
	}
	if s.cfg.id == "" {
		s.cfg.id = net.JoinHostPort(cfg.host, fmt.Sprint(s.port))
	}
	s.log = cfg.logger.With("service", cfg.name, "instance", s.cfg.id)
	messaging.Handle(s.mux, s.info)
	if r, ok := impl.(interface{ Register(*messaging.Mux) }); ok {
		r.Register(s.mux)
	}
	return s, nil
}

// HTTPAddr returns where the service serves HTTP (WithHTTP), or "".
func (s *Service) HTTPAddr() string {
	if s.http == nil {
		return ""
	}
	return s.http.Addr().String()
}

// serveHTTP serves WithHTTP's routes until the returned stop is called.
func (s *Service) serveHTTP() (stop func()) {
	if s.http == nil {
		return func() {}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		select {
		case <-s.registered:
			fmt.Fprintln(w, "ready")
		default:
			http.Error(w, "not ready: not registered yet", http.StatusServiceUnavailable)
		}
	})
	if s.cfg.httpExtra != nil {
		mux.Handle("/", s.cfg.httpExtra)
	}
	return httpserve.Start(s.http, mux)
}

// Mux returns the service's handlers: messaging.Handle(svc, ...).
func (s *Service) Mux() *messaging.Mux { return s.mux }

// Instance returns what the service registers: its name, the host it
// advertises and the port it listens on (Endpoint tells where to reach
// it), its instance id, version, metadata, TTL and counters.
func (s *Service) Instance() registry.Instance {
	return registry.Instance{Service: s.cfg.name, Server: s.cfg.host, Port: s.port, ID: s.cfg.id,
		Version: s.cfg.version, Metadata: s.cfg.metadata, Stats: s.stats(), TTL: s.cfg.ttl}
}

// WaitRegistered waits until the service has registered (Serve
// registers it), so that a lookup finds it: the step between starting a
// service and calling it by name. It returns ctx's error if ctx ends
// first, and connection.ErrServerClosed if the service stopped first.
func (s *Service) WaitRegistered(ctx context.Context) error {
	select {
	case <-s.registered:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.life.Done():
		select {
		case <-s.registered:
			return nil
		default:
			return connection.ErrServerClosed
		}
	}
}

// Registrations returns how many times the service registered
// successfully (first time and renewals).
func (s *Service) Registrations() uint64 { return s.regs.Load() }

func (s *Service) stats() *msglib.InstanceStats {
	s.mu.Lock()
	started := s.started
	s.mu.Unlock()
	return &msglib.InstanceStats{Requests: s.requests.Load(), Errors: s.errors.Load(),
		ProcessingNanos: s.nanos.Load(), StartedUnixMs: started.UnixMilli()}
}

// Stats returns the service's counters.
func (s *Service) Stats() *msglib.InstanceStats { return s.stats() }

func (s *Service) info(context.Context, *msglib.ServiceInfoReq, messaging.Peer) (*msglib.ServiceInfoRep, error) {
	i := s.Instance()
	rep := &msglib.ServiceInfoRep{Instance: &msglib.ServiceInstance{
		ServiceName: i.Service, Server: i.Server, Port: uint32(i.Port), InstanceId: i.ID,
		Version: i.Version, Metadata: i.Metadata, Stats: i.Stats}}
	types := s.mux.Types()
	for _, t := range types {
		rep.Types = append(rep.Types, string(t))
	}
	rep.Descriptors = describe(types)
	return rep, nil
}

// describe returns a serialized FileDescriptorSet of the files defining
// the named types and every file they import, dependencies first, as
// protoc --include_imports writes one; types the process does not know
// are left out.
func describe(types []protoreflect.FullName) []byte {
	var set descriptorpb.FileDescriptorSet
	seen := map[string]bool{}
	var add func(fd protoreflect.FileDescriptor)
	add = func(fd protoreflect.FileDescriptor) {
		if seen[fd.Path()] {
			return
		}
		seen[fd.Path()] = true
		imports := fd.Imports()
		for i := range imports.Len() {
			add(imports.Get(i).FileDescriptor)
		}
		set.File = append(set.File, protodesc.ToFileDescriptorProto(fd))
	}
	for _, t := range types {
		if mt, err := protoregistry.GlobalTypes.FindMessageByName(t); err == nil {
			add(mt.Descriptor().ParentFile())
		}
	}
	b, _ := proto.Marshal(&set)
	return b
}

// Serve registers the service and serves until ctx ends (returning
// ctx's error, after stopping gracefully within 5 seconds), or Shutdown or
// Close is called (returning connection.ErrServerClosed). It keeps trying
// to register while the name service is unreachable, so a service may
// start before its name service. No message stops it (a ShutdownEvent
// from a peer is refused and counted). Should serving end by itself (its
// socket closed under it), it unregisters and returns why. A service
// serves once.
func (s *Service) Serve(ctx context.Context) error {
	if err := s.life.Begin(); err != nil {
		return err
	}
	defer s.life.End()
	s.mu.Lock()
	s.started = time.Now()
	s.mu.Unlock()
	defer s.serveHTTP()()

	runCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	endpoints := []messaging.Endpoint{s.rep}
	notices, err := s.reg.Notices()
	if err != nil {
		return err
	}
	if notices != nil {
		defer notices.Close()
		endpoints = append(endpoints, notices)
		messaging.HandleMessage(s.mux, func(ctx context.Context, _ *msglib.RediscoverReq, _ messaging.Peer) error {
			s.log.Debug("name service asks to register again")
			s.kickRegister()
			return nil
		})
	} else {
		// A direct store has no name service to ask for registrations
		// again: watch for our own going away instead (a lease etcd let
		// expire while we could not reach it, say).
		w, err := s.reg.Watch(runCtx)
		if err != nil {
			return err
		}
		defer w.Close()
		go s.watchSelf(w)
	}
	reactor := messaging.NewReactor(endpoints, append(append([]messaging.ReactorOption{messaging.WithLogger(s.cfg.logger)}, s.cfg.reactor...),
		messaging.WithMux(s.mux),
		messaging.WithObserver(func(typ protoreflect.FullName, took time.Duration, err error) {
			if typ == "RediscoverReq" {
				return
			}
			s.requests.Add(1)
			s.nanos.Add(uint64(took))
			if err != nil {
				s.errors.Add(1)
			}
		}))...)
	reactorDone := make(chan error, 1)
	go func() { reactorDone <- reactor.Serve(context.Background()) }() // Shutdown and Close stop it
	regDone := make(chan struct{})
	go func() { defer close(regDone); s.registerLoop(runCtx) }()

	graceful := context.Background()
	var served error // why serving ended, when it ended by itself
	select {
	case <-ctx.Done():
		var c context.CancelFunc
		graceful, c = context.WithTimeout(context.Background(), 5*time.Second)
		defer c()
	case <-s.life.Killed():
		graceful = nil
	case <-s.life.ShuttingDown():
	case served = <-reactorDone:
		// Nothing the service's peers send stops its reactor, so this is
		// a fault (its socket closed under it): a registration pointing
		// at a service that answers no one would make it a zombie.
		if served == nil {
			served = errors.New("service: serving loop ended")
		}
		s.log.Error("serving stopped; unregistering", "err", served)
		reactorDone <- served
	}
	cancel()
	<-regDone
	if graceful == nil { // Close: at once, the registration left to expire
		reactor.Close()
	} else {
		// Unregister first, so that lookups stop pointing here, then let
		// the requests in hand finish (Close cuts that short).
		uctx, ucancel := context.WithTimeout(graceful, 500*time.Millisecond)
		if err := s.reg.Unregister(uctx, s.cfg.name, s.cfg.host, s.port, s.cfg.id); err != nil {
			s.log.Debug("unregister", "err", err)
		}
		ucancel()
		go func() {
			select {
			case <-s.life.Killed():
				reactor.Close()
			case <-graceful.Done():
				reactor.Close()
			case <-s.life.Done():
			}
		}()
		reactor.Shutdown(graceful)
	}
	<-reactorDone
	s.rep.Close()
	s.reg.Close()
	switch {
	case served != nil:
		return served
	case ctx.Err() != nil:
		return ctx.Err()
	}
	return connection.ErrServerClosed
}

// Shutdown stops the service gracefully: unregistered, no new requests,
// those in hand finished. It returns when Serve has returned, or when ctx
// ends (then it closes at once and returns ctx's error).
func (s *Service) Shutdown(ctx context.Context) error {
	return lifecycle.WithRelease(s.life, s.free).ShutdownFree(ctx)
}

// free closes the sockets of a service that never served (Serve closes
// them when it returns).
func (s *Service) free() {
	s.rep.Close()
	s.reg.Close()
	if s.http != nil {
		s.http.Close() // when Serve never ran; else already closed
	}
}

// Close stops the service at once: the contexts of the requests in hand
// end, and its registration is left to expire (within its TTL) rather
// than withdrawn. Serve returns connection.ErrServerClosed.
func (s *Service) Close() error { return lifecycle.WithRelease(s.life, s.free).CloseFree(false) }

// watchSelf registers again when the store reports this instance gone
// while the service still runs.
func (s *Service) watchSelf(w *registry.Watcher) {
	for ev := range w.Events() {
		if ev.Kind != msglib.ServiceEvent_REGISTERED && ev.Instance.Service == s.cfg.name && ev.Instance.ID == s.cfg.id {
			s.log.Warn("registration gone from the store; registering again", "change", ev.Kind)
			s.kickRegister()
		}
	}
}

func (s *Service) kickRegister() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// registerLoop registers at once, then renews every ttl/3, and again
// whenever the name service asks. Failures are retried soon, backing off
// (a slow name service, such as the original's, which answers about one
// request a second, must not be handed more than it can take). The
// original's name service keeps registrations until they are withdrawn
// and knows no TTL, so on it the service renews only when asked to
// (RediscoverReq), as the original's services do.
func (s *Service) registerLoop(ctx context.Context) {
	// Until the first answer says which kind of name service this is, a
	// registration may sit in the original's queue (a request a second)
	// behind those of other services: it waits this long for its turn.
	const originalQueueWait = 15 * time.Second
	renew := s.cfg.ttl / 3
	const firstRetry = 200 * time.Millisecond
	retry := firstRetry
	t := time.NewTimer(0)
	defer t.Stop()
	failing, probed, original := false, false, false
	for {
		tick := t.C
		if original && !failing {
			tick = nil // only RediscoverReq (s.kick) makes it register again
		}
		select {
		case <-ctx.Done():
			return
		case <-tick:
		case <-s.kick:
		}
		// Until the kind of name service is known, register first and then
		// ask which kind it is (on the original's, renewals would only
		// queue up), both waiting their turn in its queue: services
		// started together each queue a request there, answered a second
		// apart, and one that gave up would queue another behind the rest.
		rctx := ctx
		var probe regbridge.Probe
		if !probed {
			rctx = regbridge.WithProber(regbridge.WithPatience(ctx, originalQueueWait), func(p regbridge.Probe) { probe = p })
		}
		err := s.reg.Register(rctx, s.Instance())
		next := renew
		switch {
		case err == nil:
			if failing || s.regs.Load() == 0 {
				s.log.Info("registered", "server", s.cfg.host, "port", s.port)
			}
			failing, retry = false, firstRetry
			s.regs.Add(1)
			s.regOnce.Do(func() { close(s.registered) })
			// A RediscoverReq heard while the registration was on its way
			// (the original's name service sends one as it starts) asked
			// for what was just done: registering again would only queue.
			select {
			case <-s.kick:
			default:
			}
			if probe != nil {
				if orig, perr := probe(rctx); perr == nil {
					probed, original = true, orig
					if orig {
						s.log.Info("the name service is the original's: registering again only when it asks")
					}
				}
			}
		case ctx.Err() != nil:
			return
		default:
			if !failing {
				s.log.Warn("cannot register; retrying", "err", err)
			}
			failing = true
			next = min(retry, renew)
			retry = min(2*retry, max(renew, firstRetry))
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(next)
	}
}

// localHost returns the address a service advertises by default
// (WithHost). It reads the interface list and contacts no one.
func localHost() string {
	ifs, err := net.Interfaces()
	if err != nil {
		return "127.0.0.1"
	}
	for _, i := range ifs {
		if i.Flags&net.FlagUp == 0 || i.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, _ := i.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() && !ipn.IP.IsLinkLocalUnicast() {
				return ipn.IP.String()
			}
		}
	}
	return "127.0.0.1"
}
