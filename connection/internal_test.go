//go:build libzmq && cgo

package connection

import (
	"testing"

	"github.com/dividere-go/dividere/internal/zmtp"
)

// The one-call receive path depends on pebbe/zmq4's socket layout; this
// fails when an upgrade changes it (the package would still work,
// through the slower fallback).
func TestFastReceivePathActive(t *testing.T) {
	if !rawRecvOK {
		t.Fatal("pebbe/zmq4's Socket layout changed: the one-call receive path is off")
	}
	if processEngine != engineLibzmq {
		t.Skip("the libzmq engine's receive path")
	}
	for _, typ := range []zmtp.Type{zmtp.SUB, zmtp.REP, zmtp.DEALER, zmtp.ROUTER, zmtp.XPUB, zmtp.PAIR} {
		s, err := openSocket(kind{typ: typ}, newConfig([]Option{WithoutMonitor()}, Option.apply))
		if err != nil {
			t.Fatal(err)
		}
		if s.fr == nil {
			t.Errorf("%v: no fast receive path", typ)
		}
		s.Close()
	}
}
