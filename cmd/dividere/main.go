// Command dividere is the framework's command-line tool. Run
// `dividere help` for its subcommands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/messaging"
)

// Exit codes a script can rely on.
const (
	exitOK      = 0
	exitFailure = 1 // the command ran and failed
	exitUsage   = 2 // bad arguments or flags
)

// command is one subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, env *env, args []string) error
}

var commands = map[string]command{
	"demo": {"a tour of dividere in one process: what the main job shows", runDemo},
}

// env is what every subcommand gets: where to write and how to log.
type env struct {
	out, errOut io.Writer
	log         *slog.Logger
}

// usageError marks an error in the command line (exit code 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run runs one command line; ctx ending (Ctrl-C) stops long-running
// commands cleanly.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	global := flag.NewFlagSet("dividere", flag.ContinueOnError)
	global.SetOutput(stderr)
	verbose := global.Bool("v", false, "log socket events and debug details")
	veryVerbose := global.Bool("vv", false, "log everything, including per-message details")
	global.Usage = func() { usage(stderr) }
	if err := global.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	if *veryVerbose {
		level = slog.LevelDebug - 4
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(logger)

	rest := global.Args()
	if len(rest) == 0 || rest[0] == "help" || rest[0] == "-h" || rest[0] == "--help" {
		usage(stdout)
		return exitOK
	}
	cmd, ok := commands[rest[0]]
	if !ok {
		fmt.Fprintf(stderr, "dividere: unknown command %q (try dividere help)\n", rest[0])
		return exitUsage
	}
	if err := cmd.run(ctx, &env{out: stdout, errOut: stderr, log: logger}, rest[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		var ue usageError
		// An endpoint that cannot be used as given (malformed, a port
		// taken, a host not ours) is a command-line error too.
		if errors.As(err, &ue) || errors.Is(err, connection.ErrEndpoint) {
			fmt.Fprintf(stderr, "dividere %s: %v\n", rest[0], err)
			return exitUsage
		}
		// A refusal from the other side is said as it came: its code
		// and its reason.
		var refusal *messaging.Error
		if errors.As(err, &refusal) {
			fmt.Fprintf(stderr, "error: %v\n", refusal)
			return exitFailure
		}
		fmt.Fprintf(stderr, "dividere %s: %v\n", rest[0], err)
		return exitFailure
	}
	return exitOK
}

// parseFlags parses a subcommand's flags; a malformed command line is a
// usageError (the flag package has already said what is wrong).
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	return nil
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: dividere [-v|-vv] COMMAND [flags] [args]")
	fmt.Fprintln(w, "\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun dividere COMMAND -h for a command's flags.")
}
