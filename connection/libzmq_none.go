//go:build !libzmq || !cgo

package connection

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dividere-go/dividere/internal/endpoint"
)

// A build without the libzmq tag (the default), or without cgo, has the
// Go engine only. These are the libzmq engine's entry points, which such
// a build never reaches: openSocket refuses engineLibzmq first (see
// chooseEngine).

// haveLibzmq says this build has the libzmq engine.
const haveLibzmq = false

type (
	zside   struct{}
	zconfig struct{}
	proxyZ  struct{}
	authZ   struct{}
)

var errNoLibzmq = errors.New("dividere: libzmq is not in this build (it needs -tags libzmq and cgo)")

func (s *Socket) openLibzmq(kind) error                              { return errNoLibzmq }
func (s *Socket) startLibzmq()                                       {}
func (s *Socket) attachLibzmq(endpoint.Endpoint) error               { return errNoLibzmq }
func (s *Socket) closeLibzmq() error                                 { return nil }
func (s *Socket) lockedLibzmq(func()) error                          { return errNoLibzmq }
func (s *Socket) doLibzmq(context.Context, bool, func() error) error { return errNoLibzmq }
func (s *Socket) wakeReaderLibzmq()                                  {}
func (s *Socket) sendLibzmq(context.Context, [][]byte, func()) error { return errNoLibzmq }
func (s *Socket) recvLibzmq(context.Context) (Message, error)        { return nil, errNoLibzmq }
func (s *Socket) recvUserLibzmq(context.Context) (Message, string, error) {
	return nil, "", errNoLibzmq
}
func recvViewLibzmq[T any](*Socket, context.Context, func(Message) (T, error)) (v T, derr, err error) {
	return v, nil, errNoLibzmq
}
func (s *Socket) waitReadableLibzmq(context.Context) error { return errNoLibzmq }
func (s *Socket) subscribeLibzmq(bool, []string) error     { return errNoLibzmq }
func (s *Socket) tryNoticeLibzmq() ([]byte, bool)          { return nil, false }
func (s *Socket) setNoDropLibzmq(bool)                     {}
func (m *monitor) stopLibzmq(time.Duration)                {}

func zmqErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", op, err)
}

func isLibzmqAgain(error) bool { return false }

func waitAnyLibzmq(context.Context, []*Socket) (int, error) { return -1, errNoLibzmq }

func (p *Proxy) openControl(config) error          { return errNoLibzmq }
func (p *Proxy) closeControl()                     {}
func (p *Proxy) serveLibzmq(context.Context) error { return errNoLibzmq }
func (a *Authenticator) start([]Option) error      { return a.startGo() }
func (a *Authenticator) stop() error               { return a.stopGo() }
