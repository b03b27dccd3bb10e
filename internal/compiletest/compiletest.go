// Package compiletest checks what the compiler accepts and refuses, so that
// a test can pin an API's compile-time guarantees: an option given to the
// wrong kind of thing is a type error, not a run-time one.
//
// Each case is a small main package laid over the module with go build's
// -overlay flag, so nothing is written into the source tree, and all cases
// build in one go command.
package compiletest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Case is one program. Src is a whole Go file of package main. With Want
// empty the program must compile; otherwise it must fail, with Want in the
// compiler's message for it.
type Case struct {
	Name string
	Src  string
	Want string
}

// Program is the frame the cases of one test share: package main, its
// imports and declarations, and a main that starts with Prelude and goes
// on with each case's body.
type Program struct {
	// Imports are import paths, each optionally preceded by a name and a
	// space ("clientv3 go.etcd.io/etcd/client/v3"). A file gets only those
	// it uses, since Go refuses an unused import.
	Imports []string
	Decls   string // declarations before main
	Prelude string // statements main starts with
}

// Case is a case of p: a program whose main runs body after p.Prelude,
// that must fail with want (or compile, with want empty).
func (p Program) Case(name, want, body string) Case {
	return Case{Name: name, Src: p.Main(body), Want: want}
}

// Main returns the file of a program whose main runs body after p.Prelude.
func (p Program) Main(body string) string {
	code := p.Decls + "\n\nfunc main() {\n" + p.Prelude + "\n" + body + "\n}\n"
	var b strings.Builder
	b.WriteString("package main\n\nimport (\n")
	for _, imp := range p.Imports {
		name, path, aliased := strings.Cut(imp, " ")
		if !aliased {
			path, name = imp, imp[strings.LastIndex(imp, "/")+1:]
		}
		if strings.Contains(code, name+".") {
			fmt.Fprintf(&b, "\t%s %q\n", name, path)
		}
	}
	b.WriteString(")\n\n")
	b.WriteString(code)
	return b.String()
}

// Check builds every case and fails t for each one that the compiler
// treats otherwise than the case says.
func Check(t testing.TB, cases ...Case) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds programs with the go command")
	}
	root := moduleRoot(t)
	tmp := t.TempDir()
	overlay := map[string]string{}
	var pkgs []string
	for i, c := range cases {
		src := filepath.Join(tmp, fmt.Sprintf("case%d.go", i))
		if err := os.WriteFile(src, []byte(c.Src), 0o644); err != nil {
			t.Fatal(err)
		}
		dir := fmt.Sprintf("internal/compiletest/zz_case%d", i)
		overlay[filepath.Join(root, dir, "main.go")] = src
		pkgs = append(pkgs, "./"+dir)
	}
	ov, _ := json.Marshal(map[string]any{"Replace": overlay})
	ovPath := filepath.Join(tmp, "overlay.json")
	if err := os.WriteFile(ovPath, ov, 0o644); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"build", "-overlay", ovPath, "-gcflags=-e", "-o", os.DevNull}, pkgs...)
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	_ = cmd.Run() // the cases that must fail make it fail; the output says which
	sections := splitByPackage(out.String())
	for i, c := range cases {
		msg, failed := sections[fmt.Sprintf("zz_case%d", i)]
		switch {
		case c.Want == "" && failed:
			t.Errorf("%s: should compile, but:\n%s", c.Name, msg)
		case c.Want != "" && !failed:
			t.Errorf("%s: compiled, but should fail with %q", c.Name, c.Want)
		case c.Want != "" && !strings.Contains(msg, c.Want):
			t.Errorf("%s: failed, but without %q:\n%s", c.Name, c.Want, msg)
		}
	}
	if t.Failed() {
		t.Logf("go %s:\n%s", strings.Join(args, " "), out.String())
	}
}

// splitByPackage maps the last element of each "# import/path" header in
// go build's output to the messages under it.
func splitByPackage(out string) map[string]string {
	m := map[string]string{}
	cur := ""
	for _, line := range strings.Split(out, "\n") {
		if p, ok := strings.CutPrefix(line, "# "); ok {
			cur = p[strings.LastIndex(p, "/")+1:]
			m[cur] += ""
			continue
		}
		if cur != "" {
			m[cur] += line + "\n"
		}
	}
	return m
}

func moduleRoot(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		t.Fatal("not inside a module")
	}
	return filepath.Dir(mod)
}
