package connection

import (
	"sync"

	zmq "github.com/pebbe/zmq4"
)

// MaxSockets is how many sockets the process may have open at once (every
// facade uses two: its own and its monitor's). libzmq's default of 1023
// is reached by a hundred services in one process; the limit costs
// nothing until used. File descriptors are the other limit (about eight
// per connected socket): Go raises the soft RLIMIT_NOFILE to the hard one
// at start.
const MaxSockets = 65535

var contextOnce sync.Once

// setupContext sizes libzmq's default context before its first socket.
func setupContext() {
	contextOnce.Do(func() { zmq.SetMaxSockets(MaxSockets) })
}
