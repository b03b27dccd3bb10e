package patterns_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/messaging"
	"github.com/dividere-go/dividere/patterns"
)

// What Option's doc promises, for every option and every kind: the
// options for all kinds are taken by each, and a kind-specific option
// given to another kind fails its constructor with connection.ErrOption
// naming the option, instead of being ignored.
func TestOptionsTakenOrRefusedAsDocumented(t *testing.T) {
	all := []string{"Broker", "Worker", "MsgWorker", "Client", "MsgClient"}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tc := range []struct {
		name  string
		opt   patterns.Option
		kinds []string
	}{
		{"WithLogger", patterns.WithLogger(quiet), all},
		{"WithConnectionOptions", patterns.WithConnectionOptions(), all},
		{"WithHeartbeat", patterns.WithHeartbeat(time.Second, 3*time.Second), []string{"Broker", "Worker", "MsgWorker"}},
		{"WithQueue", patterns.WithQueue(10, time.Second), []string{"Broker"}},
		{"WithQueueBytes", patterns.WithQueueBytes(1 << 20), []string{"Broker"}},
		{"WithCapacity", patterns.WithCapacity(2), []string{"Worker", "MsgWorker"}},
		{"WithRetry", patterns.WithRetry(time.Second, 1, 0), []string{"Broker", "Client", "MsgClient"}},
		{"WithReactorOptions", patterns.WithReactorOptions(), []string{"MsgWorker", "MsgClient"}},
		{"WithForwardHook", patterns.WithForwardHook(func(context.Context, *messaging.Header) {}), []string{"Broker"}},
		{"WithIdentity", patterns.WithIdentity("opt-test"), []string{"Worker", "MsgWorker", "Client", "MsgClient"}},
		{"WithReconnectBackoffMax", patterns.WithReconnectBackoffMax(time.Second), []string{"Worker", "MsgWorker"}},
		{"WithDedup", patterns.WithDedup(10, time.Second), []string{"Worker", "MsgWorker"}},
		{"WithDedupBytes", patterns.WithDedupBytes(1 << 20), []string{"Worker", "MsgWorker"}},
	} {
		for _, kind := range all {
			opts := []patterns.Option{patterns.WithLogger(quiet), tc.opt}
			var c io.Closer
			var err error
			switch kind {
			case "Broker":
				c, err = patterns.NewBroker("tcp://127.0.0.1:0", "tcp://127.0.0.1:0", opts...)
			case "Worker":
				c, err = patterns.NewWorker("tcp://127.0.0.1:1", echo("w"), opts...)
			case "MsgWorker":
				c, err = patterns.NewMsgWorker("tcp://127.0.0.1:1", opts...)
			case "Client":
				c, err = patterns.NewClient("tcp://127.0.0.1:1", opts...)
			case "MsgClient":
				c, err = patterns.NewMsgClient("tcp://127.0.0.1:1", opts...)
			}
			if err == nil {
				c.Close()
			}
			switch takes := slices.Contains(tc.kinds, kind); {
			case takes && err != nil:
				t.Errorf("%s to a %s: %v; it is for a %s", tc.name, kind, err, kind)
			case !takes && !errors.Is(err, connection.ErrOption):
				t.Errorf("%s to a %s: %v; want connection.ErrOption", tc.name, kind, err)
			case !takes && !strings.Contains(err.Error(), "patterns."+tc.name+" to a "+kind):
				t.Errorf("%s to a %s: %q does not name the option and the kind", tc.name, kind, err)
			}
		}
	}
}
