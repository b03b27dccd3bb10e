package etcdstore

import (
	"context"
	"strings"
	"sync"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/dividere-go/dividere/msglib"
)

// WithCache answers List from memory, kept current by a watch of the
// store's prefix, instead of asking etcd each time: a name service's
// lookups then cost what they cost on the in-memory store, and etcd sees
// writes only. A List reflects every write made through this Store at
// once; a write made through another process shows once the watch
// delivers it (within milliseconds). While the watch is down, or behind
// this Store's own last write, List asks etcd as without the cache. The
// cache holds every instance under the prefix: meant for name services,
// not for every service process.
func WithCache() Option { return option(func(s *store) { s.cache = &cache{} }) }

// cache is the instances under the store's prefix as of revision rev.
type cache struct {
	mu       sync.RWMutex
	services map[string]map[string]*msglib.ServiceInstance // service -> instance id -> instance
	rev      int64                                         // revision the cache reflects
	need     int64                                         // this Store's last write: List waits for it
	watching bool                                          // a watch keeps the cache current
	cancel   context.CancelFunc
	done     chan struct{}
}

// start runs the watch that fills the cache, until stop.
func (c *cache) start(s *store) {
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel, c.done = cancel, make(chan struct{})
	go func() {
		defer close(c.done)
		rewatch(ctx, func() bool { c.sync(ctx, s); return false })
	}()
}

func (c *cache) stop() {
	c.cancel()
	<-c.done
}

// sync loads every instance, then applies the changes after it until the
// watch fails.
func (c *cache) sync(ctx context.Context, s *store) {
	gctx, cancel := s.op(ctx)
	resp, err := s.c.Get(gctx, s.prefix, clientv3.WithPrefix())
	cancel()
	if err != nil {
		return
	}
	services := map[string]map[string]*msglib.ServiceInstance{}
	for _, kv := range resp.Kvs {
		c.put(services, s.keyParts(kv.Key), kv.Value)
	}
	c.mu.Lock()
	c.services, c.rev, c.watching = services, resp.Header.Revision, true
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.watching = false
		c.mu.Unlock()
	}()
	next := resp.Header.Revision + 1
	wctx, wcancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer wcancel()
	for wr := range s.c.Watch(wctx, s.prefix, clientv3.WithPrefix(), clientv3.WithRev(next)) {
		if wr.CompactRevision != 0 || wr.Err() != nil {
			return // load again: the changes since are gone, or the member is
		}
		c.mu.Lock()
		for _, ev := range wr.Events {
			if ev.Type == mvccpb.PUT {
				c.put(c.services, s.keyParts(ev.Kv.Key), ev.Kv.Value)
			} else {
				c.delete(s.keyParts(ev.Kv.Key))
			}
			c.rev = ev.Kv.ModRevision
		}
		c.mu.Unlock()
	}
}

type keyParts struct{ service, id string }

func (s *store) keyParts(key []byte) keyParts {
	service, id, _ := strings.Cut(strings.TrimPrefix(string(key), s.prefix), "/")
	return keyParts{service, id}
}

func (c *cache) put(services map[string]map[string]*msglib.ServiceInstance, k keyParts, value []byte) {
	inst, err := decode(value)
	if err != nil {
		return
	}
	byID := services[k.service]
	if byID == nil {
		byID = map[string]*msglib.ServiceInstance{}
		services[k.service] = byID
	}
	byID[k.id] = inst
}

func (c *cache) delete(k keyParts) {
	if byID := c.services[k.service]; byID != nil {
		delete(byID, k.id)
		if len(byID) == 0 {
			delete(c.services, k.service)
		}
	}
}

// wrote records a write of this Store at revision rev: List does not use
// the cache until the watch has brought it there.
func (c *cache) wrote(rev int64) {
	c.mu.Lock()
	c.need = max(c.need, rev)
	c.mu.Unlock()
}

// list returns service's instances (every service's when "") from the
// cache, or ok false when the cache cannot answer.
func (c *cache) list(service string) (out []*msglib.ServiceInstance, ok bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if !c.watching || c.rev < c.need {
		return nil, false
	}
	if service != "" {
		for _, inst := range c.services[service] {
			out = append(out, inst)
		}
		return out, true
	}
	for _, byID := range c.services {
		for _, inst := range byID {
			out = append(out, inst)
		}
	}
	return out, true
}
