package tracing_test

import (
	"context"
	"fmt"
	"sort"

	"github.com/dividere-go/dividere/messaging"
	"github.com/dividere-go/dividere/msglib"
	"github.com/dividere-go/dividere/tracing"
)

// A request and its handling, traced: the handler's span is the child of
// the send's, which is the caller's.
func Example() {
	tp, exp := provider()
	rep, _ := messaging.NewResponse("@tcp://127.0.0.1:0")
	defer rep.Close()
	req, _ := messaging.NewRequest(rep.Endpoint(), tracing.Outgoing(tp))
	defer req.Close()
	r := messaging.NewReactor([]messaging.Endpoint{rep}, tracing.Middleware(tp))
	messaging.Handle(r, echoText)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Serve(ctx) }()

	root, span := tp.Tracer("example").Start(ctx, "caller")
	messaging.Call[*msglib.Text](root, req, &msglib.Text{Text: "hi"})
	span.End()
	// The reply can arrive before the handler's span has ended; Serve
	// returns once its handlers have, and so their spans.
	stop()
	<-done
	byID := map[string]string{}
	spans := spansOf(exp, "example")
	for _, s := range spans {
		byID[s.ID] = s.Name
	}
	var lines []string
	for _, s := range spans {
		lines = append(lines, fmt.Sprintf("%s (parent: %s)", s.Name, byID[s.Parent]))
	}
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Println(l)
	}
	// Output:
	// caller (parent: )
	// handle dividere.Text (parent: send dividere.Text)
	// send dividere.Text (parent: caller)
}
