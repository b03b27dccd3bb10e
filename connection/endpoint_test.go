package connection_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/internal/compiletest"
)

// A server socket given an explicit host binds it: it used to connect to
// port 0 and report no endpoint.
func TestServerSocketsBindExplicitHosts(t *testing.T) {
	rep := ok(connection.NewResponse("tcp://127.0.0.1:0"))(t)
	closeAll(t, rep)
	if rep.Port() == 0 || rep.Endpoint() != fmt.Sprintf("tcp://127.0.0.1:%d", rep.Port()) {
		t.Fatalf("endpoint %q", rep.Endpoint())
	}
	req := ok(connection.NewRequest(rep.Endpoint()))(t)
	closeAll(t, req)
	ctx := tctx(t, 10*time.Second)
	go func() {
		if m, err := rep.Recv(ctx); err == nil {
			rep.Send(ctx, m...)
		}
	}()
	if m, err := req.Call(ctx, []byte("hi")); err != nil || string(m[0]) != "hi" {
		t.Fatalf("%v %v", m, err)
	}
}

func TestBadEndpointConstructors(t *testing.T) {
	if _, err := connection.NewPublisher("tcp://256.1.1.1:notaport"); !errors.Is(err, connection.ErrEndpoint) {
		t.Fatalf("got %v", err)
	}
	p := ok(connection.NewPublisher("tcp://*:0"))(t)
	closeAll(t, p)
	// The port is taken: the bind fails with a clear error, no leak.
	if _, err := connection.NewPublisher(p.Endpoints()[0]); !errors.Is(err, connection.ErrEndpoint) {
		t.Fatalf("second bind: %v", err)
	}
}

func TestMessageRoute(t *testing.T) {
	m := connection.Message{[]byte("id1"), []byte("id2"), {}, []byte("payload")}
	if string(m.Payload()) != "payload" || len(m.Route()) != 3 {
		t.Fatalf("payload %q route %q", m.Payload(), m.Route())
	}
	r := m.Reply([]byte("answer"))
	if len(r) != 4 || string(r[0]) != "id1" || string(r[3]) != "answer" || string(m[3]) != "payload" {
		t.Fatalf("reply %q, original %q", r, m)
	}
	var empty connection.Message
	if empty.Payload() != nil || empty.Route() != nil {
		t.Fatal("empty message")
	}
}

// A closed socket's port can be bound again at once: Close waits for
// libzmq to close its listeners (tcp and inproc alike).
func TestRebindRightAfterClose(t *testing.T) {
	p := ok(connection.NewPublisher("tcp://*:0"))(t)
	ep := p.Endpoints()[0]
	for range 20 {
		p.Close()
		p = ok(connection.NewPublisher(ep))(t)
	}
	p.Close()
	for range 20 {
		a, err := connection.StartAuthenticator(nil)
		if err != nil {
			t.Fatal(err)
		}
		a.Close()
	}
}

// An option given to a kind of socket it does not apply to is a compile
// error, not a setting silently ignored.
func TestOptionScopes(t *testing.T) {
	prog := compiletest.Program{Imports: []string{"time", "github.com/dividere-go/dividere/connection"}}.Main
	const refused = "does not implement"
	compiletest.Check(t,
		compiletest.Case{Name: "options where they apply", Src: prog(`connection.NewPublisher("tcp://127.0.0.1:0", connection.WithHWM(1), connection.WithSlowSubscriberWait(time.Second))
	connection.NewSubscriber("tcp://127.0.0.1:1", connection.WithTopics("x"), connection.WithLinger(0))
	connection.NewDealer("tcp://127.0.0.1:1", connection.WithIdentity("me"))
	connection.NewRouter("tcp://127.0.0.1:0", connection.WithIdentity("me"), connection.WithUserID())
	connection.NewResponse("tcp://127.0.0.1:0", connection.WithUserID())
	connection.NewRequest("tcp://127.0.0.1:1", connection.WithIdentity("me"))`)},
		compiletest.Case{Name: "topics on a publisher", Src: prog(`connection.NewPublisher("tcp://127.0.0.1:0", connection.WithTopics("x"))`), Want: refused},
		compiletest.Case{Name: "slow-subscriber wait on a subscriber", Src: prog(`connection.NewSubscriber("tcp://127.0.0.1:1", connection.WithSlowSubscriberWait(time.Second))`), Want: refused},
		compiletest.Case{Name: "user id on a dealer", Src: prog(`connection.NewDealer("tcp://127.0.0.1:1", connection.WithUserID())`), Want: refused},
		compiletest.Case{Name: "identity on a publisher", Src: prog(`connection.NewPublisher("tcp://127.0.0.1:0", connection.WithIdentity("me"))`), Want: refused},
		compiletest.Case{Name: "a subscriber's option as a common one", Src: prog(`_ = []connection.Option{connection.WithTopics("x")}`), Want: refused},
	)
}
