package registry

import (
	"context"
	"time"

	"github.com/dividere-go/dividere/msglib"
)

// directory is the name service's logic over a Store: what a registration
// stores, which instance a lookup gets. The Server answers requests with
// it; a Client on a store directly (WithStore) calls it itself, so
// both behave alike.
type directory struct {
	store      Store
	defaultTTL time.Duration // for registrations that carry none
	rr         roundRobin
}

// register stores (or renews) what m registers, owned by owner ("" when
// ownership is not kept); false when m names no service.
func (d *directory) register(ctx context.Context, m *msglib.RegisterService, owner string) (bool, error) {
	if m.ServiceName == "" {
		return false, nil
	}
	inst := instanceOf(m, d.defaultTTL, time.Now())
	inst.Owner = owner
	_, err := d.store.Put(ctx, inst)
	return err == nil, err
}

// unregister removes what m names and returns it, nil when it was not
// registered.
func (d *directory) unregister(ctx context.Context, m *msglib.UnregisterService) (*msglib.ServiceInstance, error) {
	return d.store.Delete(ctx, m.ServiceName, instanceID(m.InstanceId, m.Server, m.Port))
}

// lookup returns one live instance of service, round-robin; nil when
// there is none.
func (d *directory) lookup(ctx context.Context, service string) (*msglib.ServiceInstance, error) {
	if service == "" {
		return nil, nil
	}
	insts, err := d.list(ctx, service)
	if err != nil || len(insts) == 0 {
		return nil, err
	}
	return insts[d.rr.pick(service, len(insts))], nil
}

// list returns the live instances of service (of every service when "").
func (d *directory) list(ctx context.Context, service string) ([]*msglib.ServiceInstance, error) {
	return d.store.List(ctx, service, time.Now())
}

// instanceOf is what a registration stores: the registration's TTL, or
// defaultTTL when it gives none.
func instanceOf(m *msglib.RegisterService, defaultTTL time.Duration, now time.Time) *msglib.ServiceInstance {
	inst := &msglib.ServiceInstance{
		ServiceName: m.ServiceName, Server: m.Server, Port: m.Port,
		InstanceId: instanceID(m.InstanceId, m.Server, m.Port),
		Version:    m.Version, Metadata: m.Metadata, Stats: m.Stats,
		RegisteredUnixMs: now.UnixMilli(), RenewedUnixMs: now.UnixMilli(),
	}
	ttl := time.Duration(m.TtlMs) * time.Millisecond
	if ttl == 0 {
		ttl = defaultTTL
	}
	if ttl > 0 {
		inst.ExpiresUnixMs = now.Add(ttl).UnixMilli()
	}
	return inst
}
