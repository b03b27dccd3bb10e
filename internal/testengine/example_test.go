package testengine_test

import (
	"fmt"

	"github.com/dividere-go/dividere/connection"
)

// A test that needs libzmq calls LibzmqOnly first; this shows which
// engine a run is on.
func Example() {
	e := connection.Engine()
	fmt.Println(e == "go" || e == "libzmq")
	// Output: true
}
