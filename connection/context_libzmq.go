//go:build libzmq && cgo

package connection

import (
	"sync"

	zmq "github.com/pebbe/zmq4"
)

// maxSockets is how many sockets dividere's libzmq context may have open
// at once (every facade uses two: its own and its monitor's). libzmq's
// default of 1023 is reached by a hundred services in one process; the
// limit costs nothing until used. File descriptors are the other limit
// (about eight per connected socket): Go raises the soft RLIMIT_NOFILE to
// the hard one at start.
const maxSockets = 65535

// dividere's sockets live in a libzmq context of its own, made at the
// first socket: pebbe's default context belongs to the program (pebbe
// asks packages to leave it alone), and nothing of dividere changes its
// settings. WithContext puts a socket in another one.
var shared struct {
	once sync.Once
	ctx  *zmq.Context
	err  error
}

// zmqContext returns the context a socket of cfg is made in.
func zmqContext(cfg config) (*zmq.Context, error) {
	if cfg.zctx != nil {
		return cfg.zctx, nil
	}
	shared.once.Do(func() {
		shared.ctx, shared.err = zmq.NewContext()
		if shared.err == nil {
			shared.err = shared.ctx.SetMaxSockets(maxSockets)
		}
	})
	return shared.ctx, shared.err
}

// WithContext makes the socket in libzmq context c instead of dividere's
// own: for a program that runs sockets of its own on c and wants them to
// reach dividere's over inproc://, which works only within one context.
// An Authenticator serves the CURVE servers of the context it was started
// in (StartAuthenticator takes the same option).
func WithContext(c *zmq.Context) Option { return option(func(cfg *config) { cfg.zctx = c }) }
