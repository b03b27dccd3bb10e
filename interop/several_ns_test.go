package interop_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dividere-go/dividere/internal/testpb"
	"github.com/dividere-go/dividere/internal/testutil"
	"github.com/dividere-go/dividere/messaging"
	"github.com/dividere-go/dividere/registry"
)

// Python peers that know only the original messages list two
// name-service instances sharing one store (as they would share etcd;
// registry/etcdstore's own tests run that on a real etcd): a Python service registers
// through the pair and is found through either; a Python client keeps
// looking up when one instance goes away.
func TestPythonListsSeveralNameServices(t *testing.T) {
	st := registry.NewMemoryStore()
	var servers []*registry.Server
	var reqs []string
	for range 2 {
		s := testutil.OK(registry.NewServer(registry.WithEndpoints("@tcp://127.0.0.1:0", "@tcp://127.0.0.1:0", ""), registry.WithStore(st)))(t)
		testutil.Serve(t, s)
		req, _, _ := s.Endpoints()
		servers, reqs = append(servers, s), append(reqs, req)
	}
	both := strings.Join(reqs, ",")
	ctx := tctx(t, 60*time.Second)
	svc := startPython(t, "msg_peer.py", "service", both, "py.Shared", "1")
	for _, ep := range reqs {
		c := testutil.OK(registry.NewClient(registry.WithAddress(ep)))(t)
		testutil.CloseAll(t, c)
		if in, err := c.Lookup(ctx, "py.Shared"); err != nil || in.Endpoint() != svc.Endpoint {
			t.Fatalf("lookup through %s: %+v %v (python serves on %s)", ep, in, err, svc.Endpoint)
		}
	}
	const n = 20
	py := startPython(t, "msg_peer.py", "lookups", both, "py.Shared", "20")
	if l := <-py.Lines; l != "HALF" {
		t.Fatalf("python client: %q", l)
	}
	servers[0].Close()
	py.Stdin.Write([]byte("go on\n"))
	py.Wait(t, ctx)
	var found, retries int
	for l := range py.Lines {
		if strings.HasPrefix(l, "OK") {
			parseInts(t, l, &found, &retries)
		}
	}
	if found != 2*n || retries > 1 {
		t.Fatalf("python client: %d of %d lookups, %d retries", found, 2*n, retries)
	}
	t.Logf("python client: %d lookups, %d retried after an instance went away", found, retries)
	// The Python service is called once, then unregisters through the
	// instance that is left.
	req := testutil.OK(messaging.NewRequest(svc.Endpoint))(t)
	defer req.Close()
	if rep, err := messaging.Call[*testpb.StringMsg](ctx, req, &testpb.StringMsg{Value: "x"}); err != nil || rep.Value != "py-service:x" {
		t.Fatalf("call: %v %v", rep, err)
	}
	svc.Wait(t, ctx)
	c := testutil.OK(registry.NewClient(registry.WithAddress(reqs[1])))(t)
	defer c.Close()
	if _, err := c.Lookup(ctx, "py.Shared"); err == nil {
		t.Fatal("still registered after the python service unregistered")
	}
}

func parseInts(t *testing.T, line string, into ...*int) {
	t.Helper()
	f := strings.Fields(line)[1:]
	if len(f) != len(into) {
		t.Fatalf("line %q", line)
	}
	for i, p := range into {
		n, err := strconv.Atoi(f[i])
		if err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		*p = n
	}
}
