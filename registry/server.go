package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/internal/lifecycle"
	"github.com/dividere-go/dividere/messaging"
	"github.com/dividere-go/dividere/msglib"
)

// defaultRequestPort is the name service's request port, as in the
// original (docs/protocol.md); notices go out on the next one, and change
// notices on the one after (WithEndpoints).
const defaultRequestPort = 5000

// probeName is a service name no one may register: a lookup of it tells a
// dividere name service, which answers it with probeServer, from the
// original's, which answers "unavailable" as for any unknown name. A
// client asks it before sending a request the original's name service
// does not know (ServiceListReq), since such a request kills its serving
// thread for good.
const probeName = "_dividere.nameservice"

const (
	probeServer  = "dividere-go"
	probeVersion = 2 // the Go name service's additions, as a version
)

// maxRequestSize is the largest request frame a name service accepts by
// default (connection.WithMaxMessageSize, in WithConnectionOptions, changes
// it).
const maxRequestSize = 64 << 10

// requestHWM is how many requests libzmq holds for one peer of the name
// service: with maxRequestSize, at most 64 MiB per connection.
const requestHWM = 1000

// unavailable is the server name a lookup of an unknown service gets,
// with port 0 (docs/protocol.md).
const unavailable = "unavailable"

// defaultWorkers is WithWorkers' default on a store other than the
// in-memory one.
const defaultWorkers = 8

type serverConfig struct {
	requests, notices, watch string
	store                    Store
	logger                   *slog.Logger
	sweep                    time.Duration
	defaultTTL               time.Duration
	conn                     []connection.Option
	workers                  int
	registrars               []string // keys that may register; nil: anyone
	lookupKeys               []string // keys that may look up; nil: anyone
}

// Server is the name service: services register, renew and unregister
// their instances; clients look them up. It speaks the original's
// messages (a peer that knows only those works unchanged) plus additions:
// several instances per name, TTLs, versions and metadata, stats, lists,
// and change notices.
type Server struct {
	rep     *messaging.Router    // REQ peers see a REP; requests are served concurrently
	pub     *messaging.Publisher // RediscoverReq only: what the original's services can take
	watch   *messaging.Publisher // ServiceEvent
	reactor *messaging.Reactor
	store   Store
	log     *slog.Logger
	sweepEv time.Duration
	life    *lifecycle.State
	freed   sync.Once

	dir directory

	registrars, lookupKeys map[string]bool // nil: open
	ownersMu               sync.Mutex
	owners                 map[string]string // service name -> registrar key

	refused atomic.Uint64

	registrations, lookups, notFound, expiries atomic.Uint64
	announcing                                 atomic.Bool // the store's watch is open
	hist                                       history     // what was published, for watchers catching up
}

// NewServer binds the request, notice and watch endpoints; Serve serves.
// Its first notice is RediscoverReq, and it publishes it again to every
// subscriber that joins, so the services of a restarted name service
// register again at once.
func NewServer(opts ...ServerOption) (*Server, error) {
	cfg := serverConfig{sweep: 100 * time.Millisecond}
	for _, o := range opts {
		if o != nil {
			o.applyServer(&cfg)
		}
	}
	if cfg.requests == "" {
		cfg.requests = fmt.Sprintf("tcp://*:%d", defaultRequestPort)
	}
	if cfg.notices == "" {
		cfg.notices = nextEndpoint(cfg.requests)
	}
	if cfg.watch == "" {
		cfg.watch = nextEndpoint(cfg.notices)
	}
	if cfg.logger == nil {
		cfg.logger = slog.Default()
	}
	if cfg.store == nil {
		cfg.store = NewMemoryStore()
	}
	if cfg.workers <= 0 {
		cfg.workers = defaultWorkers
		if _, inMemory := cfg.store.(*memoryStore); inMemory {
			cfg.workers = 1
		}
	}
	// Requests to a name service are small; a larger frame is refused
	// before it is allocated (the caller's options come after, and may
	// override). The request socket alone needs the peers' keys.
	reqConn := []connection.RouterOption{connection.WithMaxMessageSize(maxRequestSize), connection.WithRecvHWM(requestHWM)}
	if cfg.registrars != nil || cfg.lookupKeys != nil {
		reqConn = append(reqConn, connection.WithUserID())
	}
	for _, o := range cfg.conn {
		reqConn = append(reqConn, o)
	}
	reqConn = append(reqConn, connection.WithName("registry-requests"))
	rep, err := messaging.NewRouter(cfg.requests, messaging.WithLogger(cfg.logger), messaging.AnswerEveryRequest(),
		messaging.WithRouterConnOptions(reqConn...))
	if err != nil {
		return nil, err
	}
	publisher := func(ep, name string) (*messaging.Publisher, error) {
		return messaging.NewPublisher(ep, messaging.WithLogger(cfg.logger),
			messaging.WithConnectionOptions(append(slices.Clone(cfg.conn), connection.WithName(name))...))
	}
	pub, err := publisher(cfg.notices, "registry-notices")
	if err != nil {
		rep.Close()
		return nil, err
	}
	watch, err := publisher(cfg.watch, "registry-watch")
	if err != nil {
		rep.Close()
		pub.Close()
		return nil, err
	}
	s := &Server{rep: rep, pub: pub, watch: watch, store: cfg.store, log: cfg.logger, sweepEv: cfg.sweep, life: lifecycle.New(),
		dir:        directory{store: cfg.store, defaultTTL: cfg.defaultTTL},
		registrars: keySet(cfg.registrars), lookupKeys: keySet(cfg.lookupKeys), owners: map[string]string{}}
	for k := range s.registrars {
		if s.lookupKeys != nil {
			s.lookupKeys[k] = true
		}
	}
	s.reactor = messaging.NewReactor([]messaging.Endpoint{rep}, messaging.WithLogger(cfg.logger), messaging.WithWorkers(cfg.workers))
	messaging.Handle(s.reactor, s.register)
	messaging.Handle(s.reactor, s.unregister)
	messaging.Handle(s.reactor, s.lookup)
	messaging.Handle(s.reactor, s.list)
	messaging.Handle(s.reactor, s.changes)
	return s, nil
}

// Serve answers requests and publishes notices until ctx ends (returning
// ctx's error), or Shutdown or Close is called (returning
// connection.ErrServerClosed). It closes the server's sockets when it
// returns; the store is the caller's. A server serves once.
func (s *Server) Serve(ctx context.Context) error {
	if err := s.life.Begin(); err != nil {
		return err
	}
	defer s.life.End()
	defer s.free()
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	// Watch before serving, so that no change made through this instance
	// goes unannounced; a store that cannot be reached yet is watched as
	// soon as it can.
	watching := make(chan struct{})
	wg.Add(3)
	go func() { defer wg.Done(); s.publishChanges(ctx, watching) }()
	select {
	case <-watching:
	case <-time.After(2 * time.Second):
		s.log.Warn("the registry store cannot be watched yet; serving meanwhile")
	}
	go func() { defer wg.Done(); s.rediscover(ctx) }()
	go func() { defer wg.Done(); s.sweep(ctx, s.sweepEv) }()
	served := make(chan error, 1)
	go func() { served <- s.reactor.Serve(ctx) }()
	select {
	case err := <-served: // an endpoint closed under it, or ctx ended
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	case <-s.life.Killed():
		s.reactor.Close()
	case <-s.life.ShuttingDown():
		// The requests in hand are answered; Close cuts that short.
		go s.reactor.Shutdown(ctx)
		select {
		case <-s.life.Killed():
			s.reactor.Close()
		case <-served:
			return connection.ErrServerClosed
		}
	}
	<-served
	return connection.ErrServerClosed
}

// Shutdown stops taking requests, answers those in hand, and waits until
// Serve has returned or ctx ends (then it closes at once).
func (s *Server) Shutdown(ctx context.Context) error {
	return lifecycle.WithRelease(s.life, s.free).ShutdownFree(ctx)
}

// Close stops the server at once, and returns once Serve has, its
// sockets closed (so that their ports are free again).
func (s *Server) Close() error { return lifecycle.WithRelease(s.life, s.free).CloseFree(true) }

// free closes the sockets, once.
func (s *Server) free() {
	s.freed.Do(func() {
		s.rep.Close()
		s.pub.Close()
		s.watch.Close()
	})
}

// Endpoints returns where the server answers requests, publishes notices
// (RediscoverReq) and publishes change notices (ServiceEvent), as
// endpoints to connect to: WithEndpoints(s.Endpoints()) points a client at
// s, whatever ports the OS picked.
func (s *Server) Endpoints() (requests, notices, watch string) {
	return s.rep.Endpoint(), s.pub.Endpoint(), s.watch.Endpoint()
}

// WaitWatchers blocks until n subscribers watch change notices (so that
// none misses what comes next).
func (s *Server) WaitWatchers(ctx context.Context, n int) error {
	return s.watch.WaitSubscribers(ctx, &msglib.ServiceEvent{}, n)
}

// nextEndpoint is the endpoint after ep: a tcp port+1 (a port the OS
// picks stays one), an ipc or inproc name with "-watch".
func nextEndpoint(ep string) string {
	prefix := ""
	if ep != "" && (ep[0] == '@' || ep[0] == '>') {
		prefix, ep = ep[:1], ep[1:]
	}
	rest, ok := strings.CutPrefix(ep, "tcp://")
	if !ok {
		return prefix + ep + "-watch"
	}
	host, port, err := net.SplitHostPort(rest)
	if err != nil {
		return prefix + ep + "-watch"
	}
	p, err := strconv.Atoi(port)
	if err != nil || p == 0 {
		return prefix + "tcp://" + net.JoinHostPort(host, "0")
	}
	return prefix + "tcp://" + net.JoinHostPort(host, strconv.Itoa(p+1))
}

// ServerStats counts what the name service did.
type ServerStats struct {
	Registrations uint64 // register requests, renewals included
	Lookups       uint64
	NotFound      uint64 // lookups of a name with no live instance
	Refused       uint64 // requests refused by WithRegistrars or WithLookupKeys
	Expiries      uint64 // instances that expired (in the store, whoever expired them)
	Instances     int    // live instances now (-1: the store did not say in time)
	Watchers      int    // subscribers to the change notices now
	// Announcing is whether the server watches the store now, so that
	// every change from here on (made through any instance sharing the
	// store) is published to the watchers. It is false until the store
	// first answers, and while a watch that ended is opened again.
	Announcing bool
}

// Stats returns the server's counters. Instances asks the store (at
// most a second).
func (s *Server) Stats() ServerStats {
	st := ServerStats{Registrations: s.registrations.Load(), Lookups: s.lookups.Load(), NotFound: s.notFound.Load(),
		Refused: s.refused.Load(), Expiries: s.expiries.Load(), Instances: -1, Announcing: s.announcing.Load(),
		Watchers: s.watch.Conn().Subscribers(messaging.Topic(&msglib.ServiceEvent{}))}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if list, err := s.store.List(ctx, "", time.Now()); err == nil {
		st.Instances = len(list)
	}
	return st
}

func keySet(keys []string) map[string]bool {
	if keys == nil {
		return nil
	}
	m := map[string]bool{}
	for _, k := range keys {
		m[k] = true
	}
	return m
}

// mayChange reports whether the sender may register or unregister name,
// claiming the name for its key when it is free. A name belongs to the
// key that registered its live instances (the store says, so every
// name-service instance sharing it agrees) and, while this server runs,
// to the key that took it first here.
// It returns nil, or the refusal the request is answered with.
func (s *Server) mayChange(ctx context.Context, name string, from messaging.Peer) error {
	if s.registrars == nil {
		return nil
	}
	key := from.Key()
	if !s.registrars[key] {
		return s.refuse(messaging.PermissionDenied, "not a registrar", name, key)
	}
	insts, err := s.dir.list(ctx, name)
	if err != nil {
		s.log.Error("registry store", "err", err)
		return s.refuse(messaging.Unavailable, "cannot check the name's owner", name, key)
	}
	for _, inst := range insts {
		if inst.Owner != "" && inst.Owner != key {
			return s.refuse(messaging.PermissionDenied, "the name belongs to another key", name, key)
		}
	}
	s.ownersMu.Lock()
	defer s.ownersMu.Unlock()
	if owner, ok := s.owners[name]; ok && owner != key {
		return s.refuse(messaging.PermissionDenied, "the name belongs to another key", name, key)
	}
	s.owners[name] = key
	return nil
}

func (s *Server) mayLook(name string, from messaging.Peer) bool {
	if s.lookupKeys == nil || s.lookupKeys[from.Key()] {
		return true
	}
	s.refuse(messaging.PermissionDenied, "lookups are restricted", name, from.Key())
	return false
}

func (s *Server) refuse(code messaging.Code, why, name, key string) error {
	s.refused.Add(1)
	s.log.Warn("name service refused a request", "why", why, "service", name, "key", key)
	return messaging.Errorf(code, "%s", why)
}

func instanceID(id, server string, port uint32) string {
	if id != "" {
		return id
	}
	return net.JoinHostPort(server, strconv.Itoa(int(port)))
}

func (s *Server) register(ctx context.Context, m *msglib.RegisterService, from messaging.Peer) (*msglib.Ack, error) {
	s.registrations.Add(1)
	switch {
	case m.ServiceName == "":
		return nil, messaging.Errorf(messaging.InvalidArgument, "a registration needs a service name")
	case m.ServiceName == probeName:
		return nil, messaging.Errorf(messaging.InvalidArgument, "%q is reserved", probeName)
	}
	if err := s.mayChange(ctx, m.ServiceName, from); err != nil {
		return nil, err
	}
	var owner string
	if s.registrars != nil {
		owner = from.Key()
	}
	if _, err := s.dir.register(ctx, m, owner); err != nil {
		s.log.Error("registry store", "err", err)
		return nil, messaging.Errorf(messaging.Unavailable, "the registry store failed")
	}
	return &msglib.Ack{Ok: true}, nil
}

func (s *Server) unregister(ctx context.Context, m *msglib.UnregisterService, from messaging.Peer) (*msglib.Ack, error) {
	if err := s.mayChange(ctx, m.ServiceName, from); err != nil {
		return nil, err
	}
	gone, err := s.dir.unregister(ctx, m)
	if err != nil {
		s.log.Error("registry store", "err", err)
		return nil, messaging.Errorf(messaging.Unavailable, "the registry store failed")
	}
	if gone == nil { // answered, not fatal (it killed the original)
		return nil, messaging.Errorf(messaging.NotFound, "no such instance of %q", m.ServiceName)
	}
	return &msglib.Ack{Ok: true}, nil
}

func (s *Server) lookup(ctx context.Context, m *msglib.ServiceLookupReq, from messaging.Peer) (*msglib.ServiceLookupRep, error) {
	if m.ServiceName == probeName {
		return &msglib.ServiceLookupRep{ServiceName: probeName, Server: probeServer, Port: probeVersion}, nil
	}
	s.lookups.Add(1)
	var inst *msglib.ServiceInstance
	if s.mayLook(m.ServiceName, from) {
		var err error
		if inst, err = s.dir.lookup(ctx, m.ServiceName); err != nil {
			s.log.Error("registry store", "err", err)
		}
	}
	if inst == nil {
		s.notFound.Add(1)
		return &msglib.ServiceLookupRep{ServiceName: m.ServiceName, Server: unavailable}, nil
	}
	return &msglib.ServiceLookupRep{ServiceName: inst.ServiceName, Server: inst.Server, Port: inst.Port,
		InstanceId: inst.InstanceId, Version: inst.Version}, nil
}

func (s *Server) list(ctx context.Context, m *msglib.ServiceListReq, from messaging.Peer) (*msglib.ServiceListRep, error) {
	if !s.mayLook(m.ServiceName, from) {
		return &msglib.ServiceListRep{}, nil
	}
	insts, err := s.dir.list(ctx, m.ServiceName)
	if err != nil {
		s.log.Error("registry store", "err", err)
	}
	return &msglib.ServiceListRep{Instances: insts}, nil
}

// publishChanges publishes the store's changes as ServiceEvent notices:
// its own, and with a shared store (etcd) those made through other
// name-service instances, so a watcher of any instance hears them all.
// It closes watching once its first watch began (or failed).
func (s *Server) publishChanges(ctx context.Context, watching chan struct{}) {
	retry := time.NewTimer(0)
	defer retry.Stop()
	for first := true; ; first = false {
		select {
		case <-ctx.Done():
			return
		case <-retry.C:
		}
		ch, err := s.store.Watch(ctx)
		if first {
			close(watching)
		}
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("cannot watch the registry store; retrying", "err", err)
			}
			retry.Reset(time.Second)
			continue
		}
		s.announcing.Store(true)
		for ev := range ch {
			if ev.Kind == msglib.ServiceEvent_EXPIRED {
				s.expiries.Add(1)
			}
			s.log.Info(strings.ToLower(ev.Kind.String()), "service", ev.Instance.ServiceName, "instance", ev.Instance.InstanceId,
				"server", ev.Instance.Server, "port", ev.Instance.Port)
			s.hist.add(ev)
			err := s.watch.Send(ctx, ev)
			if err != nil && ctx.Err() == nil {
				s.log.Warn("notice not published", "err", err)
			}
		}
		s.announcing.Store(false)
		s.hist.reset()
		if ctx.Err() == nil {
			s.log.Warn("the registry store's watch ended; watching again (notices may have been missed)")
			retry.Reset(0)
		}
	}
}

// rediscover publishes RediscoverReq at start and to every subscriber
// that joins afterwards: the services of a restarted name service
// reconnect their subscribers and hear it as soon as they are back.
//
// Joins come in bursts (every service reconnects at once), so a burst is
// answered with one notice: after a join it waits for the joins to pause
// for rediscoverQuiet, or at most rediscoverMaxDelay.
func (s *Server) rediscover(ctx context.Context) {
	var seen uint64
	pub := s.pub.Conn()
	for {
		if err := s.pub.Send(ctx, &msglib.RediscoverReq{}); err != nil {
			return
		}
		var err error
		if seen, err = pub.WaitJoin(ctx, seen); err != nil {
			return
		}
		burst := time.Now().Add(rediscoverMaxDelay)
		for time.Now().Before(burst) {
			quiet, cancel := context.WithTimeout(ctx, rediscoverQuiet)
			next, err := pub.WaitJoin(quiet, seen)
			cancel()
			if err != nil {
				break // quiet (or stopping: the Send above will tell)
			}
			seen = next
		}
	}
}

// roundRobin spreads lookups of a service over its instances.
type roundRobin struct {
	mu  sync.Mutex
	pos map[string]uint64
}

// pick returns which of n instances of service the next lookup gets.
func (r *roundRobin) pick(service string, n int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pos == nil {
		r.pos = map[string]uint64{}
	}
	i := r.pos[service] % uint64(n)
	r.pos[service]++
	return int(i)
}

// How the name service batches RediscoverReq notices.
const (
	rediscoverQuiet    = 20 * time.Millisecond
	rediscoverMaxDelay = 200 * time.Millisecond
)

func (s *Server) sweep(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// The store's watch reports what expired.
		if _, err := s.store.Expire(ctx, time.Now()); err != nil && !errors.Is(err, context.Canceled) {
			s.log.Error("registry store", "err", err)
		}
	}
}
