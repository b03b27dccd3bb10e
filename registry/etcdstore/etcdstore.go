// Package etcdstore keeps the name service's state in etcd: leases carry
// the TTLs, so a registration expires in etcd itself, and several name
// service processes sharing one etcd cluster see the same services. It is
// a package of its own so that programs that do not use etcd do not link
// it.
package etcdstore

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"

	"github.com/dividere-go/dividere/msglib"
	"github.com/dividere-go/dividere/registry"
)

// DefaultPrefix is where the store keeps its keys.
const DefaultPrefix = "/dividere/services/"

// Store is a registry.Store on etcd.
type Store struct {
	c      *clientv3.Client
	prefix string
}

var _ registry.Store = (*Store)(nil)

// New uses an etcd client the caller owns; prefix "" means DefaultPrefix.
func New(c *clientv3.Client, prefix string) *Store {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return &Store{c: c, prefix: prefix}
}

func (s *Store) key(service, id string) string { return s.prefix + service + "/" + id }

// Put implements registry.Store: the instance is stored under a lease of
// its TTL (rounded up to whole seconds, etcd's unit), renewed by putting
// it again with a new lease.
func (s *Store) Put(ctx context.Context, inst *msglib.ServiceInstance) (bool, error) {
	b, err := proto.Marshal(inst)
	if err != nil {
		return false, err
	}
	opts := []clientv3.OpOption{clientv3.WithPrevKV()}
	if inst.ExpiresUnixMs != 0 {
		ttl := time.Until(time.UnixMilli(inst.ExpiresUnixMs))
		secs := int64((ttl + time.Second - 1) / time.Second)
		lease, err := s.c.Grant(ctx, max(secs, 1))
		if err != nil {
			return false, fmt.Errorf("etcd lease: %w", err)
		}
		opts = append(opts, clientv3.WithLease(lease.ID))
	}
	resp, err := s.c.Put(ctx, s.key(inst.ServiceName, inst.InstanceId), string(b), opts...)
	if err != nil {
		return false, fmt.Errorf("etcd put: %w", err)
	}
	if resp.PrevKv != nil && resp.PrevKv.Lease != 0 {
		// The old lease carried only this key: let it go now.
		s.c.Revoke(ctx, clientv3.LeaseID(resp.PrevKv.Lease))
	}
	return resp.PrevKv == nil, nil
}

// Delete implements registry.Store.
func (s *Store) Delete(ctx context.Context, service, id string) (*msglib.ServiceInstance, error) {
	resp, err := s.c.Delete(ctx, s.key(service, id), clientv3.WithPrevKV())
	if err != nil {
		return nil, fmt.Errorf("etcd delete: %w", err)
	}
	if len(resp.PrevKvs) == 0 {
		return nil, nil
	}
	return decode(resp.PrevKvs[0].Value)
}

// List implements registry.Store.
func (s *Store) List(ctx context.Context, service string, now time.Time) ([]*msglib.ServiceInstance, error) {
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
		inst, err := decode(kv.Value)
		if err != nil {
			continue // written by someone else: not ours to serve
		}
		if inst.ExpiresUnixMs == 0 || now.UnixMilli() < inst.ExpiresUnixMs {
			out = append(out, inst)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].ServiceName != out[j].ServiceName {
			return out[i].ServiceName < out[j].ServiceName
		}
		return out[i].InstanceId < out[j].InstanceId
	})
	return out, nil
}

// Expire implements registry.Store. etcd expires leases itself, so there
// is nothing to do; the removals show in List at once.
func (s *Store) Expire(context.Context, time.Time) ([]*msglib.ServiceInstance, error) {
	return nil, nil
}

func decode(b []byte) (*msglib.ServiceInstance, error) {
	var inst msglib.ServiceInstance
	if err := proto.Unmarshal(b, &inst); err != nil {
		return nil, err
	}
	return &inst, nil
}

// Endpoints parses "etcd://host:port[,host:port...]" into client
// endpoints.
func Endpoints(url string) ([]string, error) {
	rest, ok := strings.CutPrefix(url, "etcd://")
	if !ok || rest == "" {
		return nil, fmt.Errorf("etcd store %q: want etcd://host:port[,host:port...]", url)
	}
	return strings.Split(rest, ","), nil
}
