package layers

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/dividere-go/dividere"

// rank is every package of dividere's modules, by layer: a package may
// import packages of its own layer or of lower ones, never of a higher
// one. That is what lets each layer be used, read and tested on its own
// (docs/guide.md: "lower layers know nothing of upper ones"), and what
// makes a lower layer that needs something of a higher one say so in a
// type of its own, which the higher one implements, rather than import
// it. The internal helpers are at the bottom unless they belong to one
// layer (the engine's parts, the tests' engine switch): anyone above may
// use them, and they import nothing above themselves. A package missing
// here fails the test, so that a new package is given its place.
var rank = map[string]int{
	// helpers of every layer, and the generated schema
	"msglib":               0,
	"internal/benchkit":    0,
	"internal/compiletest": 0,
	"internal/apisize":     0,
	"internal/endpoint":    0, // endpoint strings, identities, free ports: below connection
	"internal/etcdtest":    0, // a module of its own: real etcd servers for tests
	"internal/httpserve":   0,
	"internal/lifecycle":   0,
	"internal/msgserve":    0,
	"internal/ratelog":     0,
	"internal/rawzmq":      0,
	"internal/readmepb":    0,
	"internal/regbridge":   0,
	"internal/retry":       0,
	"internal/storekit":    0,
	"internal/testpb":      0,
	"internal/testproc":    0,
	"internal/testutil":    0,
	"internal/z85":         0,
	"internal/zmtptest":    0,
	"internal/layers":      0,

	// the engine: frames, then mechanisms, then sockets
	"internal/zmtp/wire": 1,
	"internal/zmtp/mech": 2,
	"internal/zmtp":      3,

	// layer 1: sockets over bytes
	"connection":          4,
	"internal/testengine": 4, // picks connection's engine for a test

	// layer 2: typed messages, and the reliable patterns over them
	"messaging": 5,
	"patterns":  5,

	// layer 3: the name service, its stores, then the Service base
	"registry":           6,
	"registry/storetest": 6,
	"registry/etcdstore": 6,
	"service":            7,
	"metrics":            7, // observes every layer up to registry
	"tracing":            7,

	// programs, and tests across every layer
	"cmd/dividere":             8,
	"examples/greeter":         8,
	"examples/greeter/greetpb": 8,
	"examples/loadbalancing":   8,
	"examples/msgreactor":      8,
	"examples/nameservice":     8,
	"examples/simplepubsub":    8,
	"interop":                  8,
	"clients/node":             8,
	"internal/readme":          8,
}

// modules are the directories of the modules checked, relative to the
// root (bench, a comparison suite that is not released, is not).
var modules = []string{".", "internal/etcdtest", "registry/etcdstore", "metrics", "tracing", "cmd/dividere"}

// No package imports one of a higher layer, in the default build or with
// the libzmq engine. Test files are not checked: a test of one layer may
// drive it from above.
func TestImportsRunDownward(t *testing.T) {
	seen := map[string]bool{}
	for _, tags := range []string{"", "libzmq"} {
		for _, dir := range modules {
			args := []string{"list", "-deps", "-f", "{{.ImportPath}} {{join .Imports \" \"}}"}
			if tags != "" {
				args = append(args, "-tags", tags)
			}
			cmd := exec.Command("go", append(args, "./...")...)
			cmd.Dir = filepath.Join("..", "..", dir)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("go %s in %s: %v\n%s", strings.Join(args, " "), dir, err, out)
			}
			for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				fields := strings.Fields(line)
				from, ok := local(fields[0])
				if !ok || seen[tags+" "+from] {
					continue
				}
				seen[tags+" "+from] = true
				r, known := rank[from]
				if !known {
					t.Errorf("%s has no layer: give it one in rank", from)
					continue
				}
				for _, imp := range fields[1:] {
					to, ok := local(imp)
					if !ok {
						continue
					}
					if rt, known := rank[to]; known && rt > r {
						t.Errorf("%s (layer %d) imports %s (layer %d), a higher layer", from, r, to, rt)
					}
				}
			}
		}
	}
	for p := range rank {
		if !seen[" "+p] && !seen["libzmq "+p] {
			t.Errorf("rank lists %s, which no module has", p)
		}
	}
}

// local returns path within dividere's modules, or false for a package
// of another module or of the standard library.
func local(path string) (string, bool) {
	rest, ok := strings.CutPrefix(path, module+"/")
	return rest, ok
}
