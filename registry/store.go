package registry

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/dividere-go/dividere/internal/storekit"
	"github.com/dividere-go/dividere/msglib"
)

// Store holds the name service's state: which instances of which services
// are registered, until when. The Server calls it from one goroutine at a
// time for writes; lookups may come concurrently.
type Store interface {
	// Put registers or renews an instance; created tells whether it is new.
	Put(ctx context.Context, inst *msglib.ServiceInstance) (created bool, err error)
	// Delete removes an instance and returns it, or nil when it was not there.
	Delete(ctx context.Context, service, instanceID string) (*msglib.ServiceInstance, error)
	// List returns the live instances of service (every service when it is
	// ""), ordered by service name, then instance id.
	List(ctx context.Context, service string, now time.Time) ([]*msglib.ServiceInstance, error)
	// Expire removes and returns the instances whose time is up (a store
	// that expires them itself, like etcd, returns none).
	Expire(ctx context.Context, now time.Time) ([]*msglib.ServiceInstance, error)
	// Watch delivers, in order, every change made from now on by anyone
	// sharing the store (other name-service instances on one etcd
	// included): instances registered, unregistered and expired, not
	// renewals. Each is the ServiceEvent the name service publishes:
	// its Kind, REGISTERED, UNREGISTERED or EXPIRED, the Instance, and a
	// Revision that orders the changes of one store (stores shared by
	// several processes give every process the same revision for the same
	// change). The channel is closed when ctx ends, or when the store lost
	// track of its history (the watcher should then list again).
	Watch(ctx context.Context) (<-chan *msglib.ServiceEvent, error)
}

var (
	openersMu sync.RWMutex
	openers   = map[string]func(url string) (Store, error){}
)

// RegisterStore makes registry addresses (WithAddress, and so
// $DIVIDERE_REGISTRY) accept URLs of scheme ("etcd" for
// "etcd://host:port"): open returns a store the caller closes (if it is
// an io.Closer). Store packages call it from init, so that importing one
// (import _ ".../registry/etcdstore") is all a program needs, as with
// database/sql drivers. Registering a scheme twice panics.
func RegisterStore(scheme string, open func(url string) (Store, error)) {
	openersMu.Lock()
	defer openersMu.Unlock()
	if _, dup := openers[scheme]; dup {
		panic("registry: store scheme registered twice: " + scheme)
	}
	openers[scheme] = open
}

// openStore opens the store url names with the package registered for its
// scheme; it is ErrNoStore when none is.
func openStore(url string) (Store, error) {
	scheme, _, ok := strings.Cut(url, "://")
	openersMu.RLock()
	open := openers[scheme]
	openersMu.RUnlock()
	if !ok || open == nil {
		return nil, fmt.Errorf("registry address %q: %w (a program links a store by importing its package, e.g. github.com/dividere-go/dividere/registry/etcdstore)", url, ErrNoStore)
	}
	return open(url)
}

// ErrNoStore: no store package is registered for a URL's scheme.
var ErrNoStore = errors.New("dividere: no registry store for this scheme is linked in")

// memoryStore is the in-process Store, the default.
type memoryStore struct {
	mu       sync.RWMutex
	services map[string]map[string]*msglib.ServiceInstance // service -> instance id -> instance
	revision uint64
	watchers map[*changeQueue]struct{}
}

// NewMemoryStore returns an empty in-process Store, what a Server keeps
// its state in by default. A slow watcher holds up no one: its changes
// queue for it.
func NewMemoryStore() Store {
	return &memoryStore{services: map[string]map[string]*msglib.ServiceInstance{}, watchers: map[*changeQueue]struct{}{}}
}

// Put implements Store.
func (m *memoryStore) Put(_ context.Context, inst *msglib.ServiceInstance) (bool, error) {
	inst = proto.Clone(inst).(*msglib.ServiceInstance)
	m.mu.Lock()
	defer m.mu.Unlock()
	byID := m.services[inst.ServiceName]
	if byID == nil {
		byID = map[string]*msglib.ServiceInstance{}
		m.services[inst.ServiceName] = byID
	}
	old, existed := byID[inst.InstanceId]
	if existed {
		inst.RegisteredUnixMs = old.RegisteredUnixMs
	}
	byID[inst.InstanceId] = inst
	if !existed {
		m.emitLocked(msglib.ServiceEvent_REGISTERED, inst)
	}
	return !existed, nil
}

// Delete implements Store.
func (m *memoryStore) Delete(_ context.Context, service, id string) (*msglib.ServiceInstance, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	byID := m.services[service]
	inst := byID[id]
	if inst == nil {
		return nil, nil
	}
	delete(byID, id)
	if len(byID) == 0 {
		delete(m.services, service)
	}
	m.emitLocked(msglib.ServiceEvent_UNREGISTERED, inst)
	return inst, nil
}

// List implements Store.
func (m *memoryStore) List(_ context.Context, service string, now time.Time) ([]*msglib.ServiceInstance, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []*msglib.ServiceInstance
	if service != "" {
		for _, inst := range m.services[service] {
			out = append(out, inst)
		}
	} else {
		for _, byID := range m.services {
			for _, inst := range byID {
				out = append(out, inst)
			}
		}
	}
	return storekit.LiveSorted(out, now), nil
}

// Expire implements Store.
func (m *memoryStore) Expire(_ context.Context, now time.Time) ([]*msglib.ServiceInstance, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var gone []*msglib.ServiceInstance
	for name, byID := range m.services {
		for id, inst := range byID {
			if !storekit.Live(inst, now) {
				gone = append(gone, inst)
				delete(byID, id)
				m.emitLocked(msglib.ServiceEvent_EXPIRED, inst)
			}
		}
		if len(byID) == 0 {
			delete(m.services, name)
		}
	}
	return gone, nil
}

// Watch implements Store.
func (m *memoryStore) Watch(ctx context.Context) (<-chan *msglib.ServiceEvent, error) {
	q := &changeQueue{signal: make(chan struct{}, 1)}
	m.mu.Lock()
	m.watchers[q] = struct{}{}
	m.mu.Unlock()
	out := make(chan *msglib.ServiceEvent)
	go func() {
		defer close(out)
		defer func() {
			m.mu.Lock()
			delete(m.watchers, q)
			m.mu.Unlock()
		}()
		for {
			select {
			case <-ctx.Done():
				return
			case <-q.signal:
			}
			for _, c := range q.take() {
				select {
				case out <- c:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

// emitLocked hands a change to every watcher; m.mu is held for writing.
func (m *memoryStore) emitLocked(kind msglib.ServiceEvent_Kind, inst *msglib.ServiceInstance) {
	m.revision++
	for q := range m.watchers {
		q.put(&msglib.ServiceEvent{Kind: kind, Instance: inst, Revision: m.revision})
	}
}

// changeQueue is an unbounded queue of changes with a wake-up signal.
type changeQueue struct {
	mu     sync.Mutex
	queue  []*msglib.ServiceEvent
	signal chan struct{}
}

func (q *changeQueue) put(c *msglib.ServiceEvent) {
	q.mu.Lock()
	q.queue = append(q.queue, c)
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

func (q *changeQueue) take() []*msglib.ServiceEvent {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.queue
	q.queue = nil
	return out
}
