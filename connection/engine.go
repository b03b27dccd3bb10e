package connection

import (
	"errors"
	"fmt"
	"os"

	"github.com/dividere-go/dividere/internal/zmtp"
)

// The ZeroMQ engines a socket can run on.
const (
	// engineGo is dividere's own ZeroMQ engine, in pure Go: it needs no
	// C library and works in a CGO_ENABLED=0 build.
	engineGo = "go"
	// engineLibzmq is libzmq, through cgo (github.com/pebbe/zmq4). It is
	// there only in a program built with -tags libzmq and cgo, for what
	// only libzmq has (WithContext: sharing a libzmq context, and its
	// inproc endpoints, with other libzmq code in the process).
	engineLibzmq = "libzmq"
)

// defaultEngine is the engine of a process whose DIVIDERE_ZMQ is unset:
// the Go engine, in every build.
const defaultEngine = engineGo

// engineEnv is the environment variable that chooses the engine of every
// socket in the process when it starts: engineGo or engineLibzmq. It
// holds for the library, the dividere command, the examples and the
// benchmarks alike, so that a program built with -tags libzmq switches
// engines without being rebuilt. Unset, it is defaultEngine.
const engineEnv = "DIVIDERE_ZMQ"

// ErrEngine is returned by every constructor when DIVIDERE_ZMQ names an
// engine this build does not have (libzmq in a build without -tags
// libzmq and cgo) or none at all.
var ErrEngine = errors.New("dividere: ZeroMQ engine not available")

// processEngine is the engine chosen at start, or why none could be.
var processEngine, processEngineErr = chooseEngine(os.Getenv(engineEnv))

func chooseEngine(v string) (string, error) {
	switch v {
	case "":
		return defaultEngine, nil
	case engineGo:
		return engineGo, nil
	case engineLibzmq:
		if !haveLibzmq {
			return "", fmt.Errorf("%w: %s=%s, but this program was built without -tags libzmq (and cgo), so it has only the %q engine",
				ErrEngine, engineEnv, v, engineGo)
		}
		return engineLibzmq, nil
	}
	return "", fmt.Errorf("%w: %s=%q (want %q or %q)", ErrEngine, engineEnv, v, engineGo, engineLibzmq)
}

// Engine returns the engine the process's sockets run on: "go", dividere's
// own pure-Go engine and the default, or "libzmq", in a program built with
// -tags libzmq and cgo. The environment variable DIVIDERE_ZMQ chooses it
// when the process starts, for the library, the command, the examples and
// the benchmarks alike. Engine returns "" when DIVIDERE_ZMQ named none this
// build has (constructors then fail with ErrEngine).
func Engine() string { return processEngine }

// kind is what a constructor asks of its socket beyond the shared
// options: its ZeroMQ type and the type's own settings, which each engine
// applies before the socket binds or connects.
type kind struct {
	typ zmtp.Type
	// XPUB: report every subscription, not only the first per topic.
	xpubVerbose bool
	// XPUB: a full subscriber queue makes a send wait instead of drop.
	xpubNoDrop bool
	// ROUTER: a send to an unknown peer fails; a reconnecting peer takes
	// its identity over.
	routerMandatory, routerHandover bool
	// SUB: the topics subscribed to before connecting.
	topics []string
}
