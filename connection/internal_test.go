package connection

import (
	"testing"

	zmq "github.com/pebbe/zmq4"
)

// The one-call receive path depends on pebbe/zmq4's socket layout; this
// fails when an upgrade changes it (the package would still work,
// through the slower fallback).
func TestFastReceivePathActive(t *testing.T) {
	if !rawRecvOK {
		t.Fatal("pebbe/zmq4's Socket layout changed: the one-call receive path is off")
	}
	for _, typ := range []zmq.Type{zmq.SUB, zmq.REP, zmq.DEALER, zmq.ROUTER, zmq.XPUB, zmq.PAIR} {
		s, err := openSocket(typ, newConfig([]Option{WithoutMonitor()}), nil)
		if err != nil {
			t.Fatal(err)
		}
		if s.fr == nil {
			t.Errorf("%v: no fast receive path", typ)
		}
		s.Close()
	}
}
