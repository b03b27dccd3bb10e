package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/internal/etcdtest"
	"github.com/dividere-go/dividere/internal/testpb"
	"github.com/dividere-go/dividere/internal/testutil"
	"github.com/dividere-go/dividere/messaging"
	"github.com/dividere-go/dividere/registry"
	"github.com/dividere-go/dividere/registry/etcdstore"
	"github.com/dividere-go/dividere/service"
)

// syncBuffer is testutil.Buffer.
type syncBuffer = testutil.Buffer

// cli runs one command line to its end.
func cli(t *testing.T, args ...string) (code int, out, errOut string) {
	t.Helper()
	var o, e syncBuffer
	code = run(t.Context(), args, &o, &e)
	return code, o.String(), e.String()
}

// background runs a long-running command until the test ends.
func background(t *testing.T, args ...string) *syncBuffer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var o, e syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, &o, &e) }()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != exitOK {
			t.Errorf("%v: exit %d: %s", args, code, e.String())
		}
	})
	return &o
}

// waitOutput waits until the command has printed want.
func waitOutput(t *testing.T, b *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(b.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in %q", want, b.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRegistryLsLookupCall(t *testing.T) {
	rport := testutil.Port(t)
	nport := testutil.Port(t)
	addr := "127.0.0.1:" + itoa(rport)
	out := background(t, "registry", "-requests", "@tcp://127.0.0.1:"+itoa(rport), "-notices", "@tcp://127.0.0.1:"+itoa(nport), "-watch", "tcp://127.0.0.1:0")
	waitOutput(t, out, "name service: requests on")

	svc, err := service.New(nil, service.WithName("cli.Echo"), service.WithHost("127.0.0.1"), service.WithVersion("3.1"),
		service.WithRegistry(registry.WithEndpoints(addr, "127.0.0.1:"+itoa(nport), "")))
	if err != nil {
		t.Fatal(err)
	}
	messaging.Handle(svc, func(ctx context.Context, m *testpb.StringMsg, _ messaging.Peer) (*testpb.StringMsg, error) {
		return &testpb.StringMsg{Value: "echo " + m.Value}, nil
	})
	messaging.HandleMessage(svc, func(ctx context.Context, m *testpb.BoolMsg, from messaging.Peer) error {
		return messaging.Errorf(messaging.NotFound, "nothing here")
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); svc.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(10 * time.Second)
	for svc.Registrations() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}

	code, o, e := cli(t, "lookup", "-registry", addr, "cli.Echo")
	if code != exitOK || strings.TrimSpace(o) != svc.Instance().Endpoint() {
		t.Fatalf("lookup: %d %q %q (want %s)", code, o, e, svc.Instance().Endpoint())
	}
	code, o, e = cli(t, "call", "-registry", addr, "cli.Echo", "StringMsg", `{"value": "hi"}`)
	if code != exitOK || strings.TrimSpace(o) != `{"type":"StringMsg","msg":{"value":"echo hi"}}` {
		t.Fatalf("call: %d %q %q", code, o, e)
	}
	code, o, e = cli(t, "ls", "-registry", addr)
	if code != exitOK || !strings.Contains(o, "cli.Echo") || !strings.Contains(o, "3.1") {
		t.Fatalf("ls: %d %q %q", code, o, e)
	}
	// Bad input: one clear line, a code a script can rely on.
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"lookup", "-registry", addr, "nobody"}, exitFailure, "service not found"},
		// A refusal is said as it came: "error: CODE: message", exit 1.
		{[]string{"call", "-registry", addr, "cli.Echo", "BoolMsg", "{}"}, exitFailure, "error: NOT_FOUND: nothing here\n"},
		{[]string{"call", "-registry", addr, "cli.Echo", "Int64Msg", "{}"}, exitFailure, "error: UNIMPLEMENTED: "},
		{[]string{"call", "-registry", addr, "cli.Echo", "NoSuchType", "{}"}, exitUsage, "unknown message type"},
		{[]string{"call", "-registry", addr, "cli.Echo", "StringMsg", "{not json"}, exitUsage, "invalid JSON"},
		{[]string{"req", "-timeout", "200ms", "tcp://127.0.0.1:1", "StringMsg", "{}"}, exitFailure, "no reply from"},
		{[]string{"req", "not-an-endpoint", "StringMsg", "{}"}, exitUsage, "bad endpoint"},
		{[]string{"lookup"}, exitUsage, "wrong number of arguments"},
	} {
		code, _, e := cli(t, tc.args...)
		if code != tc.code || !strings.Contains(e, tc.want) || strings.Contains(e, "goroutine") {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", tc.args, code, e, tc.code, tc.want)
		}
	}
}

func TestPubSub(t *testing.T) {
	port := testutil.Port(t)
	ep := "tcp://127.0.0.1:" + itoa(port)
	var o, e syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(t.Context(), []string{"sub", "-count", "2", ep, "Int32Msg"}, &o, &e) }()
	// The subscriber takes Int32Msg only; pub waits for its subscription.
	if code, _, pe := cli(t, "pub", "-timeout", "10s", "@"+ep, "Int32Msg", `{"value": 1}`, `{"value": 2}`); code != exitOK {
		t.Fatalf("pub: %d %s", code, pe)
	}
	if code := <-done; code != exitOK {
		t.Fatalf("sub: exit %d %s", code, e.String())
	}
	if got := o.String(); got != "{\"type\":\"Int32Msg\",\"msg\":{\"value\":1}}\n{\"type\":\"Int32Msg\",\"msg\":{\"value\":2}}\n" {
		t.Fatalf("sub printed %q", got)
	}
}

// A type known only from a descriptor set file.
func TestDescriptorSet(t *testing.T) {
	fd := &descriptorpb.FileDescriptorProto{
		Name:    proto.String("geo.proto"),
		Package: proto.String("geo"),
		Syntax:  proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{{
			Name: proto.String("Point"),
			Field: []*descriptorpb.FieldDescriptorProto{
				{Name: proto.String("x"), JsonName: proto.String("x"), Number: proto.Int32(1), Type: descriptorpb.FieldDescriptorProto_TYPE_INT32.Enum(), Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum()},
				{Name: proto.String("y"), JsonName: proto.String("y"), Number: proto.Int32(2), Type: descriptorpb.FieldDescriptorProto_TYPE_INT32.Enum(), Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum()},
			},
		}},
	}
	b, _ := proto.Marshal(&descriptorpb.FileDescriptorSet{File: []*descriptorpb.FileDescriptorProto{fd}})
	file := filepath.Join(t.TempDir(), "geo.pb")
	os.WriteFile(file, b, 0o644)
	// An echo at the byte level: it knows nothing of geo.Point.
	rep, err := connection.NewResponse("tcp://*:0")
	if err != nil {
		t.Fatal(err)
	}
	defer rep.Close()
	go func() {
		for {
			m, err := rep.Recv(context.Background())
			if err != nil {
				return
			}
			rep.Send(context.Background(), m...)
		}
	}()
	code, o, e := cli(t, "req", "-descriptors", file, rep.Endpoint(), "geo.Point", `{"x": 3, "y": -4}`)
	if code != exitOK || strings.TrimSpace(o) != `{"type":"geo.Point","msg":{"x":3,"y":-4}}` {
		t.Fatalf("req: %d %q %q", code, o, e)
	}
	code, _, e = cli(t, "req", "-descriptors", "/no/such/file", rep.Endpoint(), "geo.Point", `{}`)
	if code != exitUsage || !strings.Contains(e, "descriptors") {
		t.Fatalf("missing descriptor file: %d %q", code, e)
	}
}

func TestProxyBrokerMonitor(t *testing.T) {
	p1 := testutil.Port(t)
	p2 := testutil.Port(t)
	proxy := background(t, "proxy", "@tcp://127.0.0.1:"+itoa(p1), "@tcp://127.0.0.1:"+itoa(p2))
	waitOutput(t, proxy, "proxy: front end")
	b := background(t, "broker", "@tcp://127.0.0.1:0", "@tcp://127.0.0.1:0")
	waitOutput(t, b, "broker: clients on")
	mon := background(t, "monitor", "tcp://127.0.0.1:"+itoa(p1))
	waitOutput(t, mon, "connect")
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestCurveFlags(t *testing.T) {
	dir := t.TempDir()
	server, client := filepath.Join(dir, "server.key"), filepath.Join(dir, "client.key")
	for _, f := range []string{server, client} {
		if code, o, e := cli(t, "keygen", "-o", f); code != exitOK || !strings.Contains(o, "public-key") {
			t.Fatalf("keygen: %d %q %q", code, o, e)
		}
	}
	if info, err := os.Stat(server); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", info, err)
	}
	rport := testutil.Port(t)
	nport := testutil.Port(t)
	addr := "127.0.0.1:" + itoa(rport)
	out := background(t, "registry", "-requests", "@tcp://"+addr, "-notices", "@tcp://127.0.0.1:"+itoa(nport), "-watch", "tcp://127.0.0.1:0",
		"-curve-server", server, "-curve-allow", client)
	waitOutput(t, out, "name service: requests on")
	code, o, e := cli(t, "ls", "-registry", addr, "-curve-key", client, "-curve-server-key", server)
	if code != exitOK || !strings.Contains(o, "SERVICE") {
		t.Fatalf("ls with keys: %d %q %q", code, o, e)
	}
	// A fresh key (not allowed) and no key at all get nothing.
	for _, args := range [][]string{
		{"ls", "-registry", addr, "-timeout", "300ms", "-curve-server-key", server},
		{"ls", "-registry", addr, "-timeout", "300ms"},
	} {
		if code, _, e := cli(t, args...); code != exitFailure || !strings.Contains(e, "timed out") {
			t.Fatalf("%v: %d %q", args, code, e)
		}
	}
	if code, _, e := cli(t, "ls", "-curve-key", client); code != exitUsage || !strings.Contains(e, "-curve-key needs -curve-server-key") {
		t.Fatalf("bad flags: %d %q", code, e)
	}
}

// Two `dividere registry -store etcd://` instances share one etcd; a
// service registered on etcd directly is found through both, and the
// client commands also work on etcd directly (-registry etcd://).
func TestEtcdRegistry(t *testing.T) {
	url := etcdtest.Start(t)
	var addrs []string
	for range 2 {
		rport := testutil.Port(t)
		nport := testutil.Port(t)
		out := background(t, "registry", "-store", url, "-requests", "@tcp://127.0.0.1:"+itoa(rport), "-notices", "@tcp://127.0.0.1:"+itoa(nport), "-watch", "tcp://127.0.0.1:0")
		waitOutput(t, out, "name service: requests on")
		addrs = append(addrs, "127.0.0.1:"+itoa(rport))
	}
	st, err := etcdstore.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc, err := service.New(nil, service.WithName("etcd.Echo"), service.WithHost("127.0.0.1"),
		service.WithRegistry(registry.WithStore(st)))
	if err != nil {
		t.Fatal(err)
	}
	messaging.Handle(svc, func(ctx context.Context, m *testpb.StringMsg, _ messaging.Peer) (*testpb.StringMsg, error) {
		return &testpb.StringMsg{Value: "etcd " + m.Value}, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); svc.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	testutil.Eventually(t, 10*time.Second, "registered", func() bool { return svc.Registrations() > 0 })

	for _, where := range []string{url, addrs[0], addrs[1], strings.Join(addrs, ",")} {
		testutil.Eventually(t, 5*time.Second, "lookup through "+where, func() bool {
			code, o, _ := cli(t, "lookup", "-registry", where, "etcd.Echo")
			return code == exitOK && strings.TrimSpace(o) == svc.Instance().Endpoint()
		})
	}
	code, o, e := cli(t, "call", "-registry", url, "etcd.Echo", "StringMsg", `{"value": "hi"}`)
	if code != exitOK || strings.TrimSpace(o) != `{"type":"StringMsg","msg":{"value":"etcd hi"}}` {
		t.Fatalf("call: %d %q %q", code, o, e)
	}
	code, o, e = cli(t, "ls", "-registry", url)
	if code != exitOK || !strings.Contains(o, "etcd.Echo") {
		t.Fatalf("ls: %d %q %q", code, o, e)
	}
	for _, args := range [][]string{{"lookup", "-registry", "etcd://", "x"}, {"registry", "-store", "etcd:/bad"}} {
		if code, _, e := cli(t, args...); code != exitUsage || !strings.Contains(e, "etcd") {
			t.Errorf("%v: exit %d, stderr %q; want a usage error", args, code, e)
		}
	}
}
