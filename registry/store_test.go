package registry_test

import (
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/dividere-go/dividere/registry"
	"github.com/dividere-go/dividere/registry/storetest"
)

func TestMemoryStore(t *testing.T) {
	storetest.Run(t, func(*testing.T) registry.Store { return registry.NewMemoryStore() })
}

// A store URL whose package is not linked in is a clear error.
func TestStoreNotLinked(t *testing.T) {
	for _, addr := range []string{"etcd://127.0.0.1:2379", "consul://x:1"} {
		if _, err := registry.NewClient(registry.WithAddress(addr)); !errors.Is(err, registry.ErrNoStore) {
			t.Errorf("%s: %v, want ErrNoStore", addr, err)
		}
	}
	t.Setenv("DIVIDERE_REGISTRY", "etcd://127.0.0.1:2379")
	if _, err := registry.NewClient(); !errors.Is(err, registry.ErrNoStore) {
		t.Errorf("$DIVIDERE_REGISTRY: %v, want ErrNoStore", err)
	}
}

// Programs that do not use etcd do not link it: only registry/etcdstore
// (and the command-line tool) import it.
func TestCoreDoesNotImportEtcd(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list imports: %v", err)
	}
	pkgs := []string{"connection", "messaging", "patterns", "registry", "service"}
	args := []string{"list", "-deps"}
	for _, p := range pkgs {
		args = append(args, "github.com/dividere-go/dividere/"+p)
	}
	out, err := exec.Command(goTool, args...).Output()
	if err != nil {
		t.Fatal(err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 20 {
		t.Fatalf("go list gave %d packages: %q", len(deps), out)
	}
	for _, d := range deps {
		if strings.Contains(d, "etcd") {
			t.Errorf("the core packages depend on %s", d)
		}
	}
}
