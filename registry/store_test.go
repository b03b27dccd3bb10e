package registry_test

import (
	"testing"

	"github.com/dividere-go/dividere/registry"
	"github.com/dividere-go/dividere/registry/storetest"
)

func TestMemoryStore(t *testing.T) {
	storetest.Run(t, func(*testing.T) registry.Store { return registry.NewMemoryStore() })
}
