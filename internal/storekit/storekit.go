// Package storekit holds what every registry store implementation shares
// (the in-memory one in package registry, and registry/etcdstore), kept
// out of the public API.
package storekit

import (
	"sort"
	"time"

	"github.com/dividere-go/dividere/msglib"
)

// Live reports whether inst is still registered at now.
func Live(inst *msglib.ServiceInstance, now time.Time) bool {
	return inst.ExpiresUnixMs == 0 || now.UnixMilli() < inst.ExpiresUnixMs
}

// LiveSorted drops the instances whose time is up at now (in place) and
// orders the rest as Store.List must: by service name, then instance id.
func LiveSorted(insts []*msglib.ServiceInstance, now time.Time) []*msglib.ServiceInstance {
	out := insts[:0]
	for _, inst := range insts {
		if Live(inst, now) {
			out = append(out, inst)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].ServiceName != out[j].ServiceName {
			return out[i].ServiceName < out[j].ServiceName
		}
		return out[i].InstanceId < out[j].InstanceId
	})
	return out
}
