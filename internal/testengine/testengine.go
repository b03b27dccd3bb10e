// Package testengine lets a test say which ZeroMQ engine it needs.
package testengine

import (
	"testing"

	"github.com/dividere-go/dividere/connection"
)

// LibzmqOnly skips a test of what only the libzmq engine has (why says
// what), when the process runs on another (DIVIDERE_ZMQ).
func LibzmqOnly(t testing.TB, why string) {
	t.Helper()
	if connection.Engine() != "libzmq" {
		t.Skipf("libzmq engine only (%s); this run is on %q", why, connection.Engine())
	}
}
