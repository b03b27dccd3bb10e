package interop_test

import (
	"testing"
	"time"

	"github.com/dividere-go/dividere/connection"
)

// A Python peer (pyzmq with CURVE) talks to an encrypted Go server that
// allows its key.
func TestPythonCurveClient(t *testing.T) {
	server, err := connection.NewKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	client, _ := connection.NewKeyPair()
	auth, err := connection.StartAuthenticator(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer auth.Close()
	auth.SetKeys(client.Public)
	rep, err := connection.NewResponse("tcp://*:0", connection.WithCurveServer(server))
	if err != nil {
		t.Fatal(err)
	}
	defer rep.Close()
	py := startPython(t, "conn_peer.py", "curvereq", rep.Endpoint(), "5", server.Public, client.Public, client.Secret)
	ctx := tctx(t, 20*time.Second)
	for range 5 {
		m, err := rep.Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		rep.Send(ctx, append([]byte("go:"), m.Payload()...))
	}
	py.Wait(t, ctx)
	if st := auth.Stats(); st.Allowed == 0 {
		t.Fatalf("the python peer was not authenticated: %+v", st)
	}
}
