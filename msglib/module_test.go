package msglib_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A program that imports any package of the core module pulls in only
// protobuf and golang.org/x/crypto (CURVE), and builds no cgo: etcd, the
// command and the benchmark peers live in modules of their own, and the
// libzmq engine (pebbe/zmq4, in the module graph for it) is compiled only
// with -tags libzmq. A fresh user module, one per package, counts its
// module graph with go list -m all and its compiled packages with go list
// -deps.
func TestUserModuleGraphIsLean(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build a user module: %v", err)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range []string{"connection", "messaging", "patterns", "registry", "service", "msglib"} {
		dir := t.TempDir()
		write := func(name, text string) {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		write("go.mod", "module example.com/user\n\ngo 1.26.0\n\nrequire github.com/dividere-go/dividere v0.0.0\n\nreplace github.com/dividere-go/dividere => "+root+"\n")
		write("main.go", "package main\n\nimport _ \"github.com/dividere-go/dividere/"+pkg+"\"\n\nfunc main() {}\n")
		run := func(args ...string) string {
			cmd := exec.Command(goTool, args...)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%s: go %s: %v\n%s", pkg, strings.Join(args, " "), err, out)
			}
			return string(out)
		}
		run("mod", "tidy")
		for _, dep := range strings.Split(strings.TrimSpace(run("list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}} {{len .CgoFiles}}{{end}}", ".")), "\n") {
			if path, n, _ := strings.Cut(dep, " "); n != "0" || strings.HasPrefix(path, "github.com/pebbe/") {
				t.Errorf("a program importing %s compiles %s (%s cgo files)", pkg, path, n)
			}
		}
		mods := strings.Fields(run("list", "-m", "-f", "{{.Path}}", "all"))
		t.Logf("a module importing %s: %d modules in its graph: %s", pkg, len(mods), strings.Join(mods, " "))
		for _, m := range mods[1:] {
			switch m {
			case "github.com/dividere-go/dividere", "github.com/pebbe/zmq4", "google.golang.org/protobuf",
				// protobuf's own requirements (its tests'), listed in its go.mod
				"github.com/google/go-cmp", "github.com/golang/protobuf",
				"golang.org/x/crypto",
				// x/crypto's requirements in its go.mod; of them a build
				// compiles only x/sys (CPU feature detection)
				"golang.org/x/net", "golang.org/x/sys", "golang.org/x/term", "golang.org/x/text":
			default:
				t.Errorf("a module importing %s has %s in its graph", pkg, m)
			}
		}
	}
}
