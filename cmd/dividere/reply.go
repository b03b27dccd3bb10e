package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/messaging"
	"github.com/dividere-go/dividere/metrics"
	"github.com/dividere-go/dividere/registry"
	"github.com/dividere-go/dividere/service"
)

func init() {
	commands["reply"] = command{"answer requests without writing Go: reply [-json TYPE BODY | -error CODE:MESSAGE | -exec CMD] [-register NAME] [ENDPOINT]", runReply}
}

// runReply stands a responder up: it echoes every request, or answers
// with a fixed message, or refuses with a code, or runs a shell command
// per request. With -register it is a Service registered under a name.
func runReply(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "reply", "[ENDPOINT] (default tcp://*:0: a port the system picks)", "registry", "descriptors", "curve-server")
	fixedType := f.String("type", "", "with -json: the reply's type")
	fixed := f.String("json", "", "answer every request with this message (JSON, of -type; - reads it from standard input)")
	refuse := f.String("error", "", "refuse every request with this code and message, e.g. NOT_FOUND:no such order (a code name or number)")
	command := f.String("exec", "", "run this shell command per request: the request as a JSON line on its standard input, its standard output the reply (JSON of -type, or {\"type\":...,\"msg\":...})")
	name := f.String("register", "", "register with the name service under this name (a Service: it renews, and answers ServiceInfoReq)")
	count := f.Int("count", 0, "exit after answering this many requests (0: run until Ctrl-C)")
	quiet := f.Bool("q", false, "do not print each request")
	httpAddr := f.httpFlag()
	only := f.String("types", "", "answer only these request types (comma-separated), which a registered service advertises; others are refused UNIMPLEMENTED (default: every type)")
	rest, err := f.parse(args, 0, 1)
	if err != nil {
		return err
	}
	modes := 0
	for _, s := range []string{*fixed, *refuse, *command} {
		if s != "" {
			modes++
		}
	}
	if modes > 1 {
		return usageError{"-json, -error and -exec: one at most (none: echo)"}
	}
	if (*fixed != "") != (*fixedType != "") && *command == "" {
		return usageError{"-json needs -type, and -type goes with -json or -exec"}
	}
	t, err := loadTypes(*f.descriptors)
	if err != nil {
		return err
	}
	t.global() // a Service decodes by the process's registry
	answer, err := replyMode(e, t, *fixedType, *fixed, *refuse, *command)
	if err != nil {
		return err
	}
	endpoint := "tcp://*:0"
	if len(rest) == 1 {
		endpoint = rest[0]
		if err := listening("ENDPOINT", endpoint); err != nil {
			return err
		}
	}
	conn, stop, err := f.keys.serverOptions(e)
	if err != nil {
		return err
	}
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var answered atomic.Int64
	handler := func(ctx context.Context, m proto.Message, _ messaging.Peer) (proto.Message, error) {
		if !*quiet {
			fmt.Fprintln(e.out, t.toJSON(m))
		}
		rep, err := answer(ctx, m)
		if n := answered.Add(1); *count > 0 && n >= int64(*count) {
			defer cancel() // after this reply has gone
		}
		return rep, err
	}
	if *name != "" {
		regOpts := []registry.ClientOption{registry.WithLogger(e.log)}
		if *f.registry != "" {
			regOpts = append(regOpts, registry.WithAddress(*f.registry))
		}
		m := metrics.New(nil)
		svcOpts := []service.Option{service.WithName(*name), service.WithEndpoint(endpoint), service.WithLogger(e.log),
			service.WithRegistry(regOpts...), service.WithConnectionOptions(responseOptions(conn)...), service.WithReactorOptions(messaging.WithObserver(m.Observe))}
		if *httpAddr != "" {
			svcOpts = append(svcOpts, service.WithHTTP(*httpAddr, m.Handler(nil)))
		}
		svc, err := service.New(nil, svcOpts...)
		if err != nil {
			return usageError{err.Error()}
		}
		metrics.Add(m, svc.Instance().Service, svc.Stats)
		if *httpAddr != "" {
			fmt.Fprintf(e.errOut, "http: metrics, health and readiness (once registered) on http://%s\n", svc.HTTPAddr())
		}
		if err := handle(svc, t, *only, handler); err != nil {
			return err
		}
		fmt.Fprintf(e.errOut, "reply: %s answering on %s, registering with the name service (Ctrl-C stops)\n", *name, svc.Instance().Endpoint())
		if err := svc.Serve(ctx); ctx.Err() == nil {
			return err
		}
		return nil
	}
	resp, err := messaging.NewResponse(endpoint, messaging.WithResolver(t), messaging.WithConnectionOptions(conn...))
	if err != nil {
		return usageError{err.Error()}
	}
	defer resp.Close()
	m := metrics.New(nil)
	metrics.Add(m, resp.Name(), resp.Stats)
	metrics.Add(m, resp.Name(), resp.MessageStats)
	r := messaging.NewReactor([]messaging.Endpoint{resp}, messaging.WithLogger(e.log), messaging.WithObserver(m.Observe))
	metrics.Add(m, "reply", r.Stats)
	stopHTTP, err := serveHTTP(e, *httpAddr, m.Handler(nil))
	if err != nil {
		return err
	}
	defer stopHTTP()
	if err := handle(r, t, *only, handler); err != nil {
		return err
	}
	fmt.Fprintf(e.errOut, "reply: answering on %s (Ctrl-C stops)\n", resp.Endpoint())
	if err := r.Serve(ctx); ctx.Err() == nil && !errors.Is(err, connection.ErrServerClosed) {
		return err
	}
	return nil
}

// handle registers h for the listed types (comma-separated), or for every
// type when there is no list.
func handle(hs messaging.Handlers, t *types, list string, h func(context.Context, proto.Message, messaging.Peer) (proto.Message, error)) error {
	if list == "" {
		messaging.HandleNamed(hs, "", h)
		return nil
	}
	for _, name := range strings.Split(list, ",") {
		m, err := t.fromJSON(strings.TrimSpace(name), "{}")
		if err != nil {
			return err
		}
		messaging.HandleNamed(hs, m.ProtoReflect().Descriptor().FullName(), h)
	}
	return nil
}

// replyMode returns how each request is answered.
func replyMode(e *env, t *types, typ, fixed, refuse, command string) (func(context.Context, proto.Message) (proto.Message, error), error) {
	switch {
	case fixed != "":
		m, err := t.fromJSON(typ, body(e, fixed))
		if err != nil {
			return nil, err
		}
		return func(context.Context, proto.Message) (proto.Message, error) { return m, nil }, nil
	case refuse != "":
		code, msg, err := parseRefusal(refuse)
		if err != nil {
			return nil, err
		}
		return func(context.Context, proto.Message) (proto.Message, error) {
			return nil, messaging.Errorf(code, "%s", msg)
		}, nil
	case command != "":
		if typ != "" {
			if _, err := t.fromJSON(typ, "{}"); err != nil {
				return nil, err
			}
		}
		return func(ctx context.Context, m proto.Message) (proto.Message, error) {
			cmd := exec.CommandContext(ctx, "sh", "-c", command)
			cmd.Stdin = strings.NewReader(t.toJSON(m) + "\n")
			var out, errOut bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errOut
			if err := cmd.Run(); err != nil {
				return nil, messaging.Errorf(messaging.Internal, "the command failed: %v: %s", err, strings.TrimSpace(errOut.String()))
			}
			return t.replyFromJSON(typ, m.ProtoReflect().Descriptor().FullName(), out.String())
		}, nil
	}
	return func(_ context.Context, m proto.Message) (proto.Message, error) { return m, nil }, nil // echo
}

// parseRefusal reads CODE:MESSAGE, CODE a google.rpc name or number.
func parseRefusal(s string) (messaging.Code, string, error) {
	name, msg, _ := strings.Cut(s, ":")
	name = strings.TrimSpace(strings.ToUpper(name))
	if n, err := strconv.Atoi(name); err == nil && n > 0 {
		return messaging.Code(n), strings.TrimSpace(msg), nil
	}
	for c := messaging.Canceled; c <= messaging.Unauthenticated; c++ {
		if c.String() == name || (name == "CANCELED" && c == messaging.Canceled) {
			return c, strings.TrimSpace(msg), nil
		}
	}
	return 0, "", usageError{fmt.Sprintf("-error %q: CODE:MESSAGE, CODE a name such as NOT_FOUND or INVALID_ARGUMENT, or a number from 1 to 16", s)}
}

// replyFromJSON reads a command's reply: {"type": T, "msg": {...}} as sub
// prints, or the fields alone, of typ (or of the request's type).
func (t *types) replyFromJSON(typ string, reqType protoreflect.FullName, text string) (proto.Message, error) {
	text = strings.TrimSpace(text)
	if typ == "" {
		typ = string(reqType)
	}
	if m, ok := t.envelopeJSON(text); ok {
		return m, nil
	}
	m, err := t.fromJSON(typ, text)
	if err != nil {
		return nil, messaging.Errorf(messaging.Internal, "the command's output: %v", err)
	}
	return m, nil
}

// responseOptions are socket options for a Response (a Service's socket).
func responseOptions(opts []connection.Option) []connection.ResponseOption {
	out := make([]connection.ResponseOption, len(opts))
	for i, o := range opts {
		out[i] = o
	}
	return out
}
