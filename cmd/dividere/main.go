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
	"strings"
	"syscall"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/messaging"
)

// Exit codes a script can rely on (the README, under "The command").
const (
	exitOK      = 0
	exitFailure = 1 // the command ran and failed: no answer, a refusal, nothing found
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

// env is what every subcommand gets: where to read and write, and how to
// log.
type env struct {
	in          io.Reader // a JSON body given as "-" is read from here
	out, errOut io.Writer
	log         *slog.Logger
}

// stdin is the process's standard input; tests may replace it.
var stdin io.Reader = os.Stdin

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
	errOut := stderr
	if len(rest) == 2 && rest[0] == "help" {
		rest = []string{rest[1], "-h"} // help CMD: that command's help, on standard output as asked for
		errOut = stdout
	}
	if len(rest) == 0 || rest[0] == "help" || rest[0] == "-h" || rest[0] == "--help" {
		usage(stdout)
		return exitOK
	}
	cmd, ok := commands[rest[0]]
	if !ok {
		fmt.Fprintf(stderr, "dividere: unknown command %q%s (try dividere help)\n", rest[0], suggest(rest[0], commandNames()))
		return exitUsage
	}
	if err := cmd.run(ctx, &env{in: stdin, out: stdout, errOut: errOut, log: logger}, rest[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		var ue usageError
		// An endpoint that cannot be used as given (malformed, a port
		// taken, a host not ours) is a command-line error too.
		if errors.As(err, &ue) || errors.Is(err, connection.ErrEndpoint) {
			fmt.Fprintf(stderr, "dividere %s: %s\n", rest[0], once(err))
			return exitUsage
		}
		// A refusal from the other side is said as it came: its code
		// and its reason.
		var refusal *messaging.Error
		if errors.As(err, &refusal) {
			fmt.Fprintf(stderr, "error: %v\n", refusal)
			return exitFailure
		}
		fmt.Fprintf(stderr, "dividere %s: %s\n", rest[0], once(err))
		return exitFailure
	}
	return exitOK
}

// once is err's text with the library's "dividere: " prefixes taken out:
// the line already starts with the program's name.
func once(err error) string {
	return strings.ReplaceAll(err.Error(), "dividere: ", "")
}

// parseFlags parses a subcommand's flags, which may come before, between
// or after its arguments (as most tools take them; "--" ends the flags);
// a malformed command line is a usageError (the flag package has already
// said what is wrong). fs.Args() then holds the arguments, in order.
func parseFlags(fs *flag.FlagSet, args []string) error {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return usageError{err.Error()}
		}
		rest := fs.Args()
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			positional = append(positional, rest...) // after "--": arguments all
			break
		}
		if len(rest) == 0 {
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	return fs.Parse(append([]string{"--"}, positional...)) // leaves fs.Args() the arguments
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: dividere [-v|-vv] COMMAND [flags] [args]")
	fmt.Fprintln(w, "\ncommands:")
	for _, n := range commandNames() {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun dividere help COMMAND (or dividere COMMAND -h) for a command's flags.")
}

func commandNames() []string {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// suggest returns `: did you mean "X"?` for the candidates closest to
// word (by edit distance, or one containing the other), or "".
func suggest(word string, candidates []string) string {
	var close []string
	for _, c := range candidates {
		lw, lc := strings.ToLower(word), strings.ToLower(c)
		short := lc[strings.LastIndexByte(lc, '.')+1:] // a type's name without its package
		if lw == short || distance(lw, lc) <= max(1, len(lw)/4) || distance(lw, short) <= max(1, len(lw)/4) ||
			(len(lw) >= 4 && strings.Contains(lc, lw)) {
			close = append(close, c)
		}
	}
	switch {
	case len(close) == 0:
		return ""
	case len(close) > 5:
		close = close[:5]
	}
	return fmt.Sprintf(`: did you mean "%s"?`, strings.Join(close, `" or "`))
}

// distance is the Levenshtein distance of a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
