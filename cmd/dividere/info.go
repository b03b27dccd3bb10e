package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/dividere-go/dividere/messaging"
	"github.com/dividere-go/dividere/msglib"
	"github.com/dividere-go/dividere/registry"
)

func init() {
	commands["info"] = command{"a service's instances, version, metadata, stats and types: info NAME", runInfo}
	commands["ping"] = command{"time round trips to a service: ping NAME", runPing}
}

// askInfo looks name up and asks the instance found for its
// ServiceInfoRep, timing the round trip.
func askInfo(ctx context.Context, e *env, f *flags, name string) (*msglib.ServiceInfoRep, string, time.Duration, error) {
	c, err := f.registryClient(e)
	if err != nil {
		return nil, "", 0, err
	}
	defer c.Close()
	in, err := lookup(ctx, c, f, name)
	if err != nil {
		return nil, "", 0, err
	}
	rep, rtt, err := infoAt(ctx, f, in.Endpoint())
	return rep, in.Endpoint(), rtt, err
}

func infoAt(ctx context.Context, f *flags, endpoint string) (*msglib.ServiceInfoRep, time.Duration, error) {
	conn, err := f.keys.clientOptions()
	if err != nil {
		return nil, 0, err
	}
	start := time.Now()
	m, err := callOnce(ctx, nil, endpoint, &msglib.ServiceInfoReq{}, *f.timeout, conn)
	if err != nil {
		return nil, 0, err
	}
	rep, err := messaging.As[*msglib.ServiceInfoRep](m)
	return rep, time.Since(start), err
}

func runInfo(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "info", "NAME", "registry", "timeout", "curve-client")
	rest, err := f.parse(args, 1, 1)
	if err != nil {
		return err
	}
	c, err := f.registryClient(e)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := lookup(ctx, c, f, rest[0]); err != nil {
		return err
	}
	list, err := c.List(ctx, rest[0])
	if err != nil && !errors.Is(err, registry.ErrOriginalNameService) {
		return err
	}
	if len(list) == 0 { // an original name service lists nothing: what a lookup found
		in, err := lookup(ctx, c, f, rest[0])
		if err != nil {
			return err
		}
		list = append(list, in)
	}
	w := tabwriter.NewWriter(e.out, 2, 4, 2, ' ', 0)
	fmt.Fprintf(w, "service\t%s\n", rest[0])
	for _, in := range list {
		rep, rtt, err := infoAt(ctx, f, in.Endpoint())
		fmt.Fprintf(w, "instance\t%s at %s\n", in.ID, in.Endpoint())
		if err != nil {
			fmt.Fprintf(w, "  info\t%s\n", once(err))
			continue
		}
		i := rep.GetInstance()
		fmt.Fprintf(w, "  version\t%s\n", or(i.GetVersion(), "-"))
		keys := make([]string, 0, len(i.GetMetadata()))
		for k := range i.GetMetadata() {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "  metadata\t%s=%s\n", k, i.GetMetadata()[k])
		}
		if st := i.GetStats(); st != nil {
			avg := "-"
			if st.Requests > 0 {
				avg = time.Duration(st.ProcessingNanos / st.Requests).String()
			}
			fmt.Fprintf(w, "  stats\t%d requests, %d errors, %s average", st.Requests, st.Errors, avg)
			if st.StartedUnixMs > 0 {
				fmt.Fprintf(w, ", up %s", time.Since(time.UnixMilli(st.StartedUnixMs)).Round(time.Second))
			}
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "  types\t%s\n", or(strings.Join(rep.GetTypes(), ", "), "-"))
		fmt.Fprintf(w, "  round trip\t%s\n", rtt.Round(time.Microsecond))
	}
	return w.Flush()
}

func runPing(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "ping", "NAME", "registry", "timeout", "curve-client")
	count := f.Int("count", 3, "round trips")
	rest, err := f.parse(args, 1, 1)
	if err != nil {
		return err
	}
	if *count < 1 {
		return usageError{"-count: at least 1"}
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
	var total time.Duration
	for i := range *count {
		_, rtt, err := infoAt(ctx, f, in.Endpoint())
		if err != nil {
			return err
		}
		total += rtt
		fmt.Fprintf(e.out, "%s (%s): seq=%d time=%s\n", rest[0], in.Endpoint(), i+1, rtt.Round(time.Microsecond))
	}
	fmt.Fprintf(e.out, "%d round trips, average %s\n", *count, (total / time.Duration(*count)).Round(time.Microsecond))
	return nil
}

// remoteTypes adds the types a service advertises (its ServiceInfoRep's
// descriptors) to t, so that call needs no local .proto.
func (t *types) addRemote(rep *msglib.ServiceInfoRep) error {
	if len(rep.GetDescriptors()) == 0 {
		return nil
	}
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(rep.GetDescriptors(), &set); err != nil {
		return fmt.Errorf("the service's descriptors: %w", err)
	}
	files, err := protodesc.NewFiles(&set)
	if err != nil {
		return fmt.Errorf("the service's descriptors: %w", err)
	}
	if t.dynamic == nil {
		t.dynamic = new(protoregistry.Types)
	}
	files.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		msgs := fd.Messages()
		for i := range msgs.Len() {
			// A type compiled in stays the compiled one (msglib's ack
			// above all, which is how a refusal is known).
			name := msgs.Get(i).FullName()
			if _, err := protoregistry.GlobalTypes.FindMessageByName(name); err == nil {
				continue
			}
			if _, err := t.dynamic.FindMessageByName(name); err != nil {
				registerAll(t.dynamic, msgs.Get(i))
			}
		}
		return true
	})
	return nil
}
