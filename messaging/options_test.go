package messaging_test

import (
	"testing"

	"github.com/dividere-go/dividere/internal/compiletest"
)

// Each option is accepted where it applies and refused by the compiler
// elsewhere.
func TestOptionScopes(t *testing.T) {
	prog := compiletest.Program{Imports: []string{"log/slog", "time",
		"github.com/dividere-go/dividere/connection", "github.com/dividere-go/dividere/messaging",
		"github.com/dividere-go/dividere/msglib"}}.Main
	compiletest.Check(t,
		compiletest.Case{Name: "each option where it applies", Src: prog(`
	log := messaging.WithLogger(slog.Default())
	conn := messaging.WithConnectionOptions(connection.WithLinger(0))
	pub, _ := messaging.NewPublisher("tcp://*:0", log, conn, messaging.WithoutSequence(),
		messaging.WithPublisherConnOptions(connection.WithSlowSubscriberWait(connection.Lossless), connection.WithSendHWM(10)))
	sub, _ := messaging.NewSubscriber(pub.Endpoint(), log, conn, messaging.WithTypes(&msglib.Text{}))
	messaging.NewRequest("tcp://localhost:1", log, conn, messaging.WithRequestConnOptions(connection.WithIdentity("a")))
	rep, _ := messaging.NewResponse("tcp://*:0", log, messaging.WithResponseConnOptions(connection.WithUserID()))
	messaging.NewDealer("tcp://localhost:1", conn, messaging.WithDealerConnOptions(connection.WithIdentity("b")))
	messaging.NewRouter("tcp://*:0", log, messaging.AnswerEveryRequest(),
		messaging.WithRouterConnOptions(connection.WithUserID(), connection.WithIdentity("c")))
	messaging.NewReactor([]messaging.Endpoint{sub, rep}, log, messaging.WithWorkers(2),
		messaging.WithHandlerTimeout(time.Second), messaging.WithShutdownFrom(sub))
	var every messaging.EndpointOption = log // an Option is an EndpointOption
	messaging.NewRequest("tcp://localhost:1", every)
	_ = messaging.OutgoingHeader`)},
		compiletest.Case{Name: "a Reactor's option to an endpoint", Want: "does not implement messaging.PublisherOption",
			Src: prog(`	messaging.NewPublisher("tcp://*:0", messaging.WithWorkers(4))`)},
		compiletest.Case{Name: "an endpoint's option to a Reactor", Want: "does not implement messaging.ReactorOption",
			Src: prog(`	messaging.NewReactor(nil, messaging.WithConnectionOptions())`)},
		compiletest.Case{Name: "WithTypes to a Publisher", Want: "does not implement messaging.PublisherOption",
			Src: prog(`	messaging.NewPublisher("tcp://*:0", messaging.WithTypes(&msglib.Text{}))`)},
		compiletest.Case{Name: "WithoutSequence to a Subscriber", Want: "does not implement messaging.SubscriberOption",
			Src: prog(`	messaging.NewSubscriber("tcp://localhost:1", messaging.WithoutSequence())`)},
		compiletest.Case{Name: "AnswerEveryRequest to a Response", Want: "does not implement messaging.ResponseOption",
			Src: prog(`	messaging.NewResponse("tcp://*:0", messaging.AnswerEveryRequest())`)},
		compiletest.Case{Name: "a Publisher's socket option through the common bridge", Want: "does not implement connection.Option",
			Src: prog(`	messaging.NewPublisher("tcp://*:0", messaging.WithConnectionOptions(connection.WithSlowSubscriberWait(0)))`)},
		compiletest.Case{Name: "a Router's socket option to a Dealer", Want: "does not implement connection.DealerOption",
			Src: prog(`	messaging.NewDealer("tcp://localhost:1", messaging.WithDealerConnOptions(connection.WithUserID()))`)},
		compiletest.Case{Name: "a Publisher's bridge to a Subscriber", Want: "does not implement messaging.SubscriberOption",
			Src: prog(`	messaging.NewSubscriber("tcp://localhost:1", messaging.WithPublisherConnOptions())`)},
	)
}
