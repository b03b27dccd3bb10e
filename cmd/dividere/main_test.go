package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/dividere-go/dividere/internal/etcdtest"
	"github.com/dividere-go/dividere/internal/testproc"
	"github.com/dividere-go/dividere/internal/testutil"
)

func TestMain(m *testing.M) {
	if os.Getenv("DIVIDERE_HELPER") != "" { // an etcd member of etcdtest.StartCluster, in a process of its own
		testproc.Main(m, map[string]testproc.Helper{etcdtest.HelperName: etcdtest.Helper})
	}
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	if code == 0 {
		if err := testutil.Leaks(); err != nil {
			fmt.Fprintln(os.Stderr, "leak check:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func TestDemo(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(t.Context(), []string{"demo", "-n", "3"}, &out, &errOut); code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errOut.String())
	}
	for _, want := range []string{
		`subscriber got "weather.city-2 12°C"`,
		`"responder 0: request `, `"responder 1: request `, // both responders serve, in whichever order they joined
		"handshake-succeeded",
		`subscriber to Heartbeat got Heartbeat{id: "worker-2"}`,
		`event handler saw RegisterService{serviceName: "orders"}`,
		"(worker 0 leaves",
		"worker 1 did job 5",
		`called it: "demo.Clock says hi"`,
		"registered: demo.Lookup",
		"demo done",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "sports.") {
		t.Error("the subscriber received a topic it did not subscribe to")
	}
}

func TestUsageErrors(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(t.Context(), []string{"no-such-command"}, &out, &errOut); code != exitUsage {
		t.Fatalf("unknown command: exit %d", code)
	}
	if !strings.Contains(errOut.String(), `unknown command "no-such-command"`) || strings.Count(errOut.String(), "\n") != 1 {
		t.Fatalf("want one clear line, got %q", errOut.String())
	}
	errOut.Reset()
	if code := run(t.Context(), []string{"demo", "-bogus"}, &out, &errOut); code != exitUsage {
		t.Fatalf("bad flag: exit %d", code)
	}
	out.Reset()
	if code := run(t.Context(), []string{"help"}, &out, &errOut); code != exitOK || !strings.Contains(out.String(), "demo") {
		t.Fatalf("help: exit %d, %q", code, out.String())
	}
}
