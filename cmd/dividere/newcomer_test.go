package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The commands of a newcomer's first hour, each run as the real binary.

// shopDescriptors compiles a .proto the binary knows nothing of into a
// descriptor set, as a user would with protoc.
func shopDescriptors(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "shop.proto")
	os.WriteFile(src, []byte(`syntax = "proto3";
package shop;
message PlaceOrder { string item = 1; int32 qty = 2; }
message OrderPlaced { string id = 1; }
`), 0o644)
	out := filepath.Join(dir, "shop.pb")
	if b, err := exec.Command("protoc", "--proto_path="+dir, "--include_imports", "--descriptor_set_out="+out, src).CombinedOutput(); err != nil {
		t.Fatalf("protoc (make test installs protobuf-compiler): %v: %s", err, b)
	}
	return out
}

// startRegistry runs `dividere registry` on free ports and returns its
// request address.
func startRegistry(t *testing.T) string {
	t.Helper()
	addr := freeAddr(t)
	reg := start(t, "registry", "-requests", "tcp://"+addr, "-notices", "tcp://"+freeAddr(t), "-watch", "tcp://"+freeAddr(t))
	waitOutput(t, reg.out, "name service: requests on")
	return addr
}

// A responder stood up without Go (reply -register, from a descriptor
// set), found with ls, info, ping, types and describe, and called by name
// by a dividere that has neither its .proto nor -descriptors. Flags may
// follow the arguments, and "-" reads the body from standard input.
func TestReplyRegisteredAndDiscovered(t *testing.T) {
	reg := startRegistry(t)
	shop := shopDescriptors(t)
	r := start(t, "reply", "-registry", reg, "-register", "shop", "-descriptors", shop,
		"-types", "shop.PlaceOrder", "-type", "shop.OrderPlaced", "-json", `{"id": "o-1"}`)
	waitOutput(t, r.err, "registering with the name service")
	var code int
	var o, e string
	deadline := time.Now().Add(15 * time.Second)
	for {
		if code, o, e = runBin(t, "ls", "-json", "-registry", reg); code == exitOK && strings.Contains(o, `"service":"shop"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ls -json never showed shop: %d %q %q", code, o, e)
		}
	}
	var inst map[string]any
	if err := json.Unmarshal([]byte(strings.Split(strings.TrimSpace(o), "\n")[0]), &inst); err != nil || inst["endpoint"] == nil {
		t.Fatalf("ls -json: %q %v", o, err)
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"info", "shop", "-registry", reg}, []string{"service", "shop", "types", "shop.PlaceOrder", "round trip"}},
		{[]string{"ping", "-count", "2", "shop", "-registry", reg}, []string{"seq=1", "seq=2", "2 round trips, average"}},
		{[]string{"types", "shop", "-registry", reg}, []string{"shop.PlaceOrder\n"}},
		{[]string{"describe", "shop", "shop.PlaceOrder", "-registry", reg}, []string{"message PlaceOrder {", "string item = 1;", "int32 qty = 2;"}},
		// No -descriptors: the service's own descriptors make the call.
		{[]string{"call", "shop", "shop.PlaceOrder", `{"item": "tea", "qty": 2}`, "-registry", reg}, []string{`{"type":"shop.OrderPlaced","msg":{"id":"o-1"}}`}},
	} {
		code, o, e := runBin(t, tc.args...)
		for _, w := range tc.want {
			if code != exitOK || !strings.Contains(o, w) {
				t.Errorf("%v: exit %d, %q %q; want %q", tc.args, code, o, e, w)
			}
		}
	}
	// The body from standard input.
	p := exec.Command(dividereBinary(t), "call", "shop", "shop.PlaceOrder", "-", "-registry", reg)
	p.Stdin = strings.NewReader(`{"item": "milk"}`)
	if b, err := p.Output(); err != nil || !strings.Contains(string(b), "o-1") {
		t.Fatalf("call with the body on stdin: %q %v", b, err)
	}
	waitOutput(t, r.out, `{"type":"shop.PlaceOrder","msg":{"item":"milk"}}`)
	// A short name finds its packaged type among the service's.
	code, _, e = runBin(t, "call", "shop", "PlaceOrder", "{}", "-registry", reg)
	if code != exitUsage || !strings.Contains(e, `did you mean "shop.PlaceOrder"?`) || !strings.Contains(e, "dividere types") {
		t.Fatalf("a close type name: exit %d %q", code, e)
	}
	// "dividere" is said once.
	code, _, e = runBin(t, "lookup", "nobody", "-registry", reg)
	if code != exitFailure || !strings.HasPrefix(e, "dividere lookup: service not found") || strings.Count(e, "dividere") != 1 {
		t.Fatalf("lookup nobody: exit %d %q", code, e)
	}
}

// reply's ways of answering: echo, a refusal with a code, a command per
// request; each exits after -count requests.
func TestReplyModes(t *testing.T) {
	for _, tc := range []struct {
		flags    []string
		req      string
		code     int
		out, err string
	}{
		{nil, `{"text": "hi"}`, exitOK, `{"type":"dividere.Text","msg":{"text":"hi"}}`, ""},
		{[]string{"-error", "NOT_FOUND:no such order"}, `{}`, exitFailure, "", "error: NOT_FOUND: no such order\n"},
		{[]string{"-exec", `sed s/loud/LOUD/`}, `{"text": "loud"}`, exitOK, `{"type":"dividere.Text","msg":{"text":"LOUD"}}`, ""},
		{[]string{"-exec", `exit 3`}, `{}`, exitFailure, "", "error: INTERNAL: the command failed"},
		{[]string{"-type", "dividere.Text", "-json", `{"text": "fixed"}`}, `{}`, exitOK, `{"type":"dividere.Text","msg":{"text":"fixed"}}`, ""},
	} {
		ep := "tcp://" + freeAddr(t)
		r := start(t, append(append([]string{"reply", "-q", "-count", "1"}, tc.flags...), ep)...)
		waitOutput(t, r.err, "answering on")
		code, o, e := runBin(t, "req", ep, "dividere.Text", tc.req)
		if code != tc.code || !strings.Contains(o, tc.out) || !strings.HasPrefix(e, tc.err) {
			t.Errorf("reply %v: exit %d %q %q; want %d %q %q", tc.flags, code, o, e, tc.code, tc.out, tc.err)
		}
		if code := r.wait(t, 10*time.Second); code != exitOK {
			t.Errorf("reply %v -count 1: exit %d %q", tc.flags, code, r.err.String())
		}
	}
	if code, _, e := runBin(t, "reply", "-error", "NOPE:x"); code != exitUsage || !strings.Contains(e, "CODE:MESSAGE") {
		t.Fatalf("a bad code: %d %q", code, e)
	}
}

// pub -count -rate with a templated body, to sub -count -o short.
func TestPubCountRateTemplateSubShort(t *testing.T) {
	ep := "tcp://" + freeAddr(t)
	pub := start(t, "pub", "-count", "5", "-rate", "200", ep, "dividere.Text", `{"text": "n={{.N}}"}`)
	sub := start(t, "sub", "-count", "5", "-o", "short", ep)
	if code := sub.wait(t, 20*time.Second); code != exitOK {
		t.Fatalf("sub: exit %d %q", code, sub.err.String())
	}
	if code := pub.wait(t, 20*time.Second); code != exitOK {
		t.Fatalf("pub: exit %d %q", code, pub.err.String())
	}
	lines := strings.Split(strings.TrimSpace(sub.out.String()), "\n")
	if len(lines) != 5 {
		t.Fatalf("sub printed %q", sub.out.String())
	}
	for i, l := range lines {
		if !strings.HasSuffix(l, ` Text {"text":"n=`+itoa(i+1)+`"}`) {
			t.Fatalf("line %d: %q", i, l)
		}
	}
}

// What a newcomer hits: no name service (said within about a second), a
// subscriber with nobody to connect to (said after a few seconds), a
// publisher that connects instead of listening (said at once).
func TestNewcomerErrors(t *testing.T) {
	addr := freeAddr(t)
	began := time.Now()
	code, _, e := runBin(t, "ls", "-registry", addr)
	if took := time.Since(began); code != exitFailure || took > 4*time.Second ||
		e != "dividere ls: no name service at "+addr+" (is \"dividere registry\" running?)\n" {
		t.Fatalf("ls with no name service: exit %d after %v: %q", code, took, e)
	}
	sub := start(t, "sub", "tcp://"+freeAddr(t))
	waitOutput(t, sub.err, "still not connected to tcp://")
	waitOutput(t, sub.err, "connection refused")
	pub := start(t, "pub", "-subscribers", "0", ">tcp://"+freeAddr(t), "dividere.Text", "{}")
	waitOutput(t, pub.err, "connecting to tcp://")
}

// version, completion, help COMMAND, and only the flags that apply.
func TestVersionCompletionHelp(t *testing.T) {
	if code, o, _ := runBin(t, "version"); code != exitOK || !strings.HasPrefix(o, "dividere ") || !strings.Contains(o, "go1.") {
		t.Fatalf("version: %d %q", code, o)
	}
	for _, sh := range []string{"bash", "zsh", "fish"} {
		code, o, e := runBin(t, "completion", sh)
		if code != exitOK || !strings.Contains(o, "dividere") || !strings.Contains(o, "reply") || !strings.Contains(o, "registry") {
			t.Fatalf("completion %s: %d %q %q", sh, code, o, e)
		}
	}
	if code, _, _ := runBin(t, "completion", "tcsh"); code != exitUsage {
		t.Fatalf("completion tcsh: exit %d", code)
	}
	code, o, _ := runBin(t, "help", "call")
	if code != exitOK || !strings.Contains(o, "usage: dividere call") {
		t.Fatalf("help call: %d %q", code, o)
	}
	if _, o, _ := runBin(t, "help", "keygen"); strings.Contains(o, "curve") || !strings.Contains(o, "-o") {
		t.Fatalf("keygen lists CURVE flags: %q", o)
	}
	if _, o, _ := runBin(t, "help", "sub"); strings.Contains(o, "-curve-server ") || !strings.Contains(o, "-curve-server-key") {
		t.Fatalf("sub lists the server's CURVE flags: %q", o)
	}
	if code, _, e := runBin(t, "pubb"); code != exitUsage || !strings.Contains(e, `did you mean "pub"?`) {
		t.Fatalf("a close command name: %d %q", code, e)
	}
}

// The README's walkthrough, as a newcomer follows it: a name service, the
// greeter example built from its .proto and run, dividere ls, and
// dividere call with nothing of the greeter's .proto at hand.
func TestWalkthrough(t *testing.T) {
	greeter := filepath.Join(t.TempDir(), "greeter")
	// Built as the Dockerfile builds it (CGO_ENABLED=0): its runtime image
	// adds no library, so the binary must need none (this machine has no
	// Docker engine to build the image).
	build := exec.Command("go", "build", "-o", greeter, "github.com/dividere-go/dividere/examples/greeter")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build the greeter: %v: %s", err, b)
	}
	assertStatic(t, greeter)
	reg := startRegistry(t)
	g := exec.Command(greeter, "-registry", reg)
	var gout syncBuffer
	g.Stdout, g.Stderr = &gout, &gout
	if err := g.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Process.Kill(); g.Wait() })
	waitOutput(t, &gout, "greeter: answering on")
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, o, e := runBin(t, "ls", "-registry", reg)
		if code == exitOK && strings.Contains(o, "greeter") && strings.Contains(o, "1.0") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ls never showed the greeter: %d %q %q", code, o, e)
		}
	}
	code, o, e := runBin(t, "call", "-registry", reg, "greeter", "greet.Hello", `{"name": "ann"}`)
	if code != exitOK || strings.TrimSpace(o) != `{"type":"greet.Greeting","msg":{"text":"hello, ann"}}` {
		t.Fatalf("call greeter: %d %q %q", code, o, e)
	}
	code, _, e = runBin(t, "call", "-registry", reg, "greeter", "greet.Hello", `{}`)
	if code != exitFailure || e != "error: INVALID_ARGUMENT: a Hello needs a name\n" {
		t.Fatalf("call greeter with no name: %d %q", code, e)
	}
}

// demo and monitor, as the built binary; and the bash completion script
// loads in bash.
func TestDemoMonitorCompletionInShell(t *testing.T) {
	if code, o, e := runBin(t, "demo", "-n", "2"); code != exitOK || !strings.Contains(o, "== connection layer") {
		t.Fatalf("demo: %d %q %q", code, o, e)
	}
	reg := startRegistry(t)
	m := start(t, "monitor", "tcp://"+reg)
	waitOutput(t, m.out, "connected")
	bin := dividereBinary(t)
	// zsh and fish: make test installs them (scripts/deps.sh test).
	if out, err := exec.Command("zsh", "-c", `autoload -U compinit && compinit -u -D && source <(`+bin+` completion zsh) && print -r -- ${_comps[dividere]}`).CombinedOutput(); err != nil ||
		strings.TrimSpace(string(out)) != "_dividere" {
		t.Errorf("zsh completion: %v: %s", err, out)
	}
	if out, err := exec.Command("fish", "-c", bin+` completion fish | source; complete -C "dividere rep"; complete -C "dividere sub -co"`).CombinedOutput(); err != nil ||
		!strings.Contains(string(out), "reply") || !strings.Contains(string(out), "-count") {
		t.Errorf("fish completion: %v: %s", err, out)
	}
	if _, err := exec.LookPath("bash"); err == nil {
		script := `source <(` + dividereBinary(t) + ` completion bash); complete -p dividere; COMP_WORDS=(dividere rep); COMP_CWORD=1; _dividere; echo "[${COMPREPLY[*]}]"; COMP_WORDS=(dividere sub -co); COMP_CWORD=2; _dividere; echo "[${COMPREPLY[*]}]"`
		out, err := exec.Command("bash", "-c", script).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "complete -o default -F _dividere dividere") || !strings.Contains(string(out), "[reply]") ||
			!strings.Contains(string(out), "[-count]") {
			t.Fatalf("bash completion: %v: %s", err, out)
		}
	}
}
