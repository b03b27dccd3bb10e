// Package etcdstore keeps the name service's state in etcd: leases carry
// the TTLs, so a registration expires in etcd itself; watches carry the
// change notices; and several name-service processes sharing one etcd
// cluster, or Go services and clients using etcd directly, see the same
// services.
//
// Importing it registers the "etcd" scheme with the registry, so an
// address such as "etcd://10.0.0.1:2379,10.0.0.2:2379" works wherever a
// registry address is taken (registry.WithAddress, $DIVIDERE_REGISTRY,
// service.WithRegistry) and means "use etcd directly". A name service
// takes a store from Open(url, WithCache()) with registry.WithStore.
//
// It is a package of its own so that programs that do not use etcd do not
// link it.
package etcdstore

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"github.com/dividere-go/dividere/internal/storekit"
	"github.com/dividere-go/dividere/msglib"
	"github.com/dividere-go/dividere/registry"
)

// Importing the package makes etcd:// addresses work wherever a registry
// address is taken: registry.WithAddress, $DIVIDERE_REGISTRY, the CLI.
func init() {
	registry.RegisterStore("etcd", func(url string) (registry.Store, error) { return Open(url) })
}

// defaultPrefix is WithPrefix's default.
const defaultPrefix = "/dividere/services/"

// defaultTimeout is WithTimeout's default.
const defaultTimeout = time.Second

// Store is a registry.Store on etcd, which its Close stops: Close stops
// the cache (WithCache) and closes the connection when Open made it; a
// store from New leaves its client to the caller.
//
// Put stores an instance under a lease of its TTL, rounded up to whole
// seconds (etcd's unit) and at least etcd's minimum (2 s with its default
// election timeout), so that a registration expires in etcd itself;
// lookups still honour the exact TTL. Renewals through the same Store keep
// that lease alive, and the first registration's time. Expire has nothing
// to do: etcd expires leases itself, and the removals show in List at
// once. Watch is an etcd watch on the store's prefix, so every process
// sharing the cluster hears every change with the same revision; a key
// deleted at or after its instance's expiry time is reported EXPIRED (etcd
// revoked its lease) rather than UNREGISTERED. The watch resumes where it
// stopped when an etcd member fails; its channel closes early only when
// etcd compacted away changes it had not yet delivered.
type Store interface {
	registry.Store
	io.Closer
}

// store is the Store.
type store struct {
	c       *clientv3.Client
	prefix  string
	timeout time.Duration
	owned   bool // Close closes c
	log     *slog.Logger

	tls            *tls.Config // for Open
	user, password string      // for Open

	mu     sync.Mutex
	leases map[string]leased // by key: the leases this store granted

	cache *cache // nil: List asks etcd
}

var _ registry.Store = (*store)(nil)

// Options are scoped at compile time: the ones that configure the
// connection Open makes (WithTLS, WithAuth) are OpenOptions only, so that
// giving one to New, whose client is the caller's, is a type error.

// Option configures a Store, from New or Open.
type Option interface {
	OpenOption
	applyNew(*store)
}

// OpenOption configures a Store from Open: any Option, WithTLS or
// WithAuth.
type OpenOption interface{ applyOpen(*store) }

type option func(*store)

func (o option) applyNew(s *store)  { o(s) }
func (o option) applyOpen(s *store) { o(s) }

type openOption func(*store)

func (o openOption) applyOpen(s *store) { o(s) }

// WithPrefix keeps the store's keys under prefix (default
// "/dividere/services/"): stores with different prefixes on one cluster
// are separate registries.
func WithPrefix(prefix string) Option { return option(func(s *store) { s.prefix = prefix }) }

// WithTimeout bounds each operation (default 1 s): an operation stuck on
// an etcd member that just lost its leader fails, and its sender retries,
// instead of holding a name-service worker (and the client, whose own
// timeout is 2 s by default) for etcd's 7 s.
func WithTimeout(d time.Duration) Option { return option(func(s *store) { s.timeout = d }) }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return option(func(s *store) { s.log = l }) }

// New uses an etcd client the caller owns.
func New(c *clientv3.Client, opts ...Option) Store {
	s := newStore()
	for _, o := range opts {
		if o != nil {
			o.applyNew(s)
		}
	}
	s.c = c
	s.start()
	return s
}

func newStore() *store {
	return &store{prefix: defaultPrefix, timeout: defaultTimeout, log: slog.Default(), leases: map[string]leased{}}
}

func (s *store) start() {
	if s.cache != nil {
		s.cache.start(s)
	}
}

// op bounds one operation, and makes it fail at once on a member that
// has no leader rather than wait for an election.
func (s *store) op(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(clientv3.WithRequireLeader(ctx), s.timeout)
}

// Open connects to the etcd cluster url names,
// "etcd://host:port[,host:port...]", and returns a store that owns the
// connection. The client fails over between the listed members by itself.
// Open does not wait for etcd: the first call does.
//
// Without WithTLS and WithAuth, Open takes them from the environment, so
// that every program reaching etcd through a registry address (the
// command-line tool, $DIVIDERE_REGISTRY) can be secured without code:
// DIVIDERE_ETCD_CA, the PEM file of the CA that signed the members'
// certificates, turns TLS on; DIVIDERE_ETCD_CERT and DIVIDERE_ETCD_KEY,
// the PEM files of a client certificate and its private key, add one for
// members that ask for it; DIVIDERE_ETCD_USER and DIVIDERE_ETCD_PASSWORD
// authenticate, when etcd authentication is on.
func Open(url string, opts ...OpenOption) (Store, error) {
	eps, err := endpoints(url)
	if err != nil {
		return nil, err
	}
	s := newStore()
	for _, o := range opts {
		if o != nil {
			o.applyOpen(s)
		}
	}
	if s.tls == nil {
		if s.tls, err = tlsFromEnv(); err != nil {
			return nil, fmt.Errorf("etcd %s: %w", url, err)
		}
	}
	if s.user == "" {
		s.user, s.password = os.Getenv(envUser), os.Getenv(envPassword)
	}
	c, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second,
		DialKeepAliveTime: 5 * time.Second, DialKeepAliveTimeout: 5 * time.Second,
		TLS: s.tls, Username: s.user, Password: s.password,
		Logger: zap.NewNop()}) // errors reach the caller as values
	if err != nil {
		return nil, fmt.Errorf("etcd %s: %w", url, err)
	}
	s.c, s.owned = c, true
	s.start()
	return s, nil
}

// The environment variables Open reads when not given WithTLS or
// WithAuth.
const (
	envCA       = "DIVIDERE_ETCD_CA"
	envCert     = "DIVIDERE_ETCD_CERT"
	envKey      = "DIVIDERE_ETCD_KEY"
	envUser     = "DIVIDERE_ETCD_USER"
	envPassword = "DIVIDERE_ETCD_PASSWORD"
)

// WithTLS makes Open talk TLS to the members (with a client certificate
// if cfg has one).
func WithTLS(cfg *tls.Config) OpenOption { return openOption(func(s *store) { s.tls = cfg }) }

// WithAuth makes Open authenticate as user, for clusters with etcd
// authentication on.
func WithAuth(user, password string) OpenOption {
	return openOption(func(s *store) { s.user, s.password = user, password })
}

// tlsFromEnv builds the TLS configuration the environment asks for; nil
// when envCA is not set.
func tlsFromEnv() (*tls.Config, error) {
	ca := os.Getenv(envCA)
	if ca == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(ca)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", envCA, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate in %s", envCA, ca)
	}
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if cert, key := os.Getenv(envCert), os.Getenv(envKey); cert != "" || key != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("%s/%s: %w", envCert, envKey, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// Close stops the cache and closes the connection when Open made it; a
// store from New leaves its client to the caller.
func (s *store) Close() error {
	if s.cache != nil {
		s.cache.stop()
	}
	if s.owned {
		return s.c.Close()
	}
	return nil
}

func (s *store) key(service, id string) string { return s.prefix + service + "/" + id }

// Put implements registry.Store: the instance is stored under a lease of
// its TTL (rounded up to whole seconds, etcd's unit, and at least etcd's
// minimum, 2 s with its default election timeout; lookups still honour
// the exact TTL). Renewals through the same store keep that lease alive
// and the first registration's time.
func (s *store) Put(ctx context.Context, inst *msglib.ServiceInstance) (bool, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	key := s.key(inst.ServiceName, inst.InstanceId)
	var lease, replaced clientv3.LeaseID
	if inst.ExpiresUnixMs != 0 {
		var registered int64
		var err error
		if lease, replaced, registered, err = s.lease(ctx, key, inst); err != nil {
			return false, err
		}
		if registered != inst.RegisteredUnixMs {
			inst = proto.Clone(inst).(*msglib.ServiceInstance)
			inst.RegisteredUnixMs = registered
		}
	}
	b, err := proto.Marshal(inst)
	if err != nil {
		return false, err
	}
	resp, err := s.c.Put(ctx, key, string(b), clientv3.WithPrevKV(), clientv3.WithLease(lease))
	if err != nil {
		return false, fmt.Errorf("etcd put: %w", err)
	}
	if s.cache != nil {
		s.cache.wrote(resp.Header.Revision)
	}
	if replaced != 0 {
		// A lease this store granted the key before, which the key no
		// longer carries. Only our own: another process's lease may carry
		// the key again by now (two name-service instances renewing one
		// service in turn), and revoking it would delete the key. Theirs
		// expire by themselves, carrying nothing.
		s.c.Revoke(ctx, replaced)
	}
	return resp.PrevKv == nil, nil
}

// forgetLease drops what the store knows of key's lease: the key is gone,
// so its next registration gets a new one.
func (s *store) forgetLease(key string) {
	s.mu.Lock()
	delete(s.leases, key)
	s.mu.Unlock()
}

// leased is a lease this store granted for one key.
type leased struct {
	id           clientv3.LeaseID
	secs         int64
	registeredMs int64
}

// lease returns the lease inst's key is to carry. A renewal with the same
// TTL keeps the lease alive (the leader does that in memory) instead of
// granting a new one (a write to etcd's log, with its fsync), so that it
// costs one write, not three.
// It returns the lease, the one of ours it replaces (0: none), and when
// the key was first registered.
func (s *store) lease(ctx context.Context, key string, inst *msglib.ServiceInstance) (id, replaced clientv3.LeaseID, registeredMs int64, err error) {
	ttl := time.Until(time.UnixMilli(inst.ExpiresUnixMs))
	secs := max(int64((ttl+time.Second-1)/time.Second), 1) // etcd counts whole seconds
	s.mu.Lock()
	l, ok := s.leases[key]
	s.mu.Unlock()
	if ok && l.secs == secs {
		if _, err := s.c.KeepAliveOnce(ctx, l.id); err == nil {
			return l.id, 0, l.registeredMs, nil
		}
		// Expired (the service was away too long) or unreachable: grant
		// anew, which tells which.
	}
	g, err := s.c.Grant(ctx, secs)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("etcd lease: %w", err)
	}
	s.mu.Lock()
	s.leases[key] = leased{id: g.ID, secs: secs, registeredMs: inst.RegisteredUnixMs}
	s.mu.Unlock()
	if ok {
		replaced = l.id
	}
	return g.ID, replaced, inst.RegisteredUnixMs, nil
}

// Delete implements registry.Store.
func (s *store) Delete(ctx context.Context, service, id string) (*msglib.ServiceInstance, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	key := s.key(service, id)
	s.forgetLease(key)
	resp, err := s.c.Delete(ctx, key, clientv3.WithPrevKV())
	if err != nil {
		return nil, fmt.Errorf("etcd delete: %w", err)
	}
	if len(resp.PrevKvs) == 0 {
		return nil, nil
	}
	if s.cache != nil {
		s.cache.wrote(resp.Header.Revision)
	}
	if l := resp.PrevKvs[0].Lease; l != 0 {
		s.c.Revoke(ctx, clientv3.LeaseID(l)) // it carried only this key
	}
	return decode(resp.PrevKvs[0].Value)
}

// List implements registry.Store.
func (s *store) List(ctx context.Context, service string, now time.Time) ([]*msglib.ServiceInstance, error) {
	if s.cache != nil {
		if insts, ok := s.cache.list(service); ok {
			return storekit.LiveSorted(insts, now), nil
		}
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	prefix := s.prefix
	if service != "" {
		prefix += service + "/"
	}
	resp, err := s.c.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("etcd get: %w", err)
	}
	var out []*msglib.ServiceInstance
	for _, kv := range resp.Kvs {
		if inst, err := decode(kv.Value); err == nil { // else written by someone else: not ours to serve
			out = append(out, inst)
		}
	}
	return storekit.LiveSorted(out, now), nil
}

// Expire implements registry.Store. etcd expires leases itself, so there
// is nothing to do; the removals show in List at once.
func (s *store) Expire(context.Context, time.Time) ([]*msglib.ServiceInstance, error) {
	return nil, nil
}

// Watch implements registry.Store with an etcd watch on the store's
// prefix, so every process sharing the cluster hears every change with the
// same revision. A key deleted at or after its instance's expiry time is
// reported EXPIRED (etcd revoked its lease), before it UNREGISTERED. The
// watch resumes where it stopped when an etcd member fails; the channel
// closes early only when etcd compacted away changes it had not yet
// delivered.
func (s *store) Watch(ctx context.Context) (<-chan *msglib.ServiceEvent, error) {
	// Start at the current revision, so that what happens from now on is
	// seen even if the watch stream takes a while to set up.
	gctx, cancel := s.op(ctx)
	resp, err := s.c.Get(gctx, s.prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	cancel()
	if err != nil {
		return nil, fmt.Errorf("etcd get: %w", err)
	}
	next := resp.Header.Revision + 1
	out := make(chan *msglib.ServiceEvent, 64)
	go func() {
		defer close(out)
		rewatch(ctx, func() (stop bool) {
			next, stop = s.watchFrom(ctx, next, out)
			return stop
		})
	}()
	return out, nil
}

// rewatch runs watch again and again, 100 ms apart, until ctx ends or
// watch says to stop: an etcd watch ends when its member fails.
func rewatch(ctx context.Context, watch func() (stop bool)) {
	retry := time.NewTimer(0)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-retry.C:
		}
		if watch() {
			return
		}
		retry.Reset(100 * time.Millisecond)
	}
}

// watchFrom runs one etcd watch from revision next until it fails; it
// returns where to resume, and whether to give up.
func (s *store) watchFrom(ctx context.Context, next int64, out chan<- *msglib.ServiceEvent) (int64, bool) {
	// WithRequireLeader: a member cut off from the others ends the watch,
	// and the next one goes to a member that still hears the cluster.
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	for wr := range s.c.Watch(wctx, s.prefix, clientv3.WithPrefix(), clientv3.WithPrevKV(), clientv3.WithRev(next)) {
		if wr.CompactRevision != 0 {
			s.log.Warn("etcd compacted changes the watch had not seen; watchers must list again",
				"from", next, "compacted", wr.CompactRevision)
			return next, true
		}
		if err := wr.Err(); err != nil {
			if ctx.Err() == nil && !errors.Is(err, context.Canceled) {
				s.log.Debug("etcd watch ended; resuming", "err", err, "from", next)
			}
			return next, ctx.Err() != nil
		}
		for _, ev := range wr.Events {
			next = ev.Kv.ModRevision + 1
			c, ok := s.change(ev)
			if !ok {
				continue
			}
			select {
			case out <- c:
			case <-ctx.Done():
				return next, true
			}
		}
	}
	return next, ctx.Err() != nil
}

// change turns an etcd event into a registry change; renewals are none.
func (s *store) change(ev *clientv3.Event) (*msglib.ServiceEvent, bool) {
	c := &msglib.ServiceEvent{Revision: uint64(ev.Kv.ModRevision)}
	switch {
	case ev.Type == mvccpb.PUT && ev.IsCreate():
		inst, err := decode(ev.Kv.Value)
		if err != nil {
			return c, false
		}
		c.Kind, c.Instance = msglib.ServiceEvent_REGISTERED, inst
	case ev.Type == mvccpb.DELETE:
		s.forgetLease(string(ev.Kv.Key)) // expired, or removed by another process
		var inst *msglib.ServiceInstance
		if ev.PrevKv != nil {
			inst, _ = decode(ev.PrevKv.Value)
		}
		if inst == nil { // the old value is gone: the key still names it
			service, id, _ := strings.Cut(strings.TrimPrefix(string(ev.Kv.Key), s.prefix), "/")
			inst = &msglib.ServiceInstance{ServiceName: service, InstanceId: id}
		}
		c.Kind, c.Instance = msglib.ServiceEvent_UNREGISTERED, inst
		if inst.ExpiresUnixMs != 0 && time.Now().UnixMilli() >= inst.ExpiresUnixMs {
			c.Kind = msglib.ServiceEvent_EXPIRED
		}
	default:
		return c, false
	}
	return c, true
}

func decode(b []byte) (*msglib.ServiceInstance, error) {
	var inst msglib.ServiceInstance
	if err := proto.Unmarshal(b, &inst); err != nil {
		return nil, err
	}
	return &inst, nil
}

// endpoints parses "etcd://host:port[,host:port...]" into client
// endpoints.
func endpoints(url string) ([]string, error) {
	rest, ok := strings.CutPrefix(url, "etcd://")
	if !ok || rest == "" {
		return nil, fmt.Errorf("etcd store %q: want etcd://host:port[,host:port...]", url)
	}
	return strings.Split(rest, ","), nil
}
