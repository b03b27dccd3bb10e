package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"sort"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

func init() {
	commands["version"] = command{"print the version and build details", runVersion}
	commands["completion"] = command{"print a shell completion script: completion bash|zsh|fish", runCompletion}
	commands["types"] = command{"list the message types known here, or those a service handles: types [NAME]", runTypes}
	commands["describe"] = command{"print a message type's definition, known here or to a service: describe [NAME] TYPE", runDescribe}
}

func runVersion(_ context.Context, e *env, args []string) error {
	f := newFlags(e, "version", "")
	if _, err := f.parse(args, 0, 0); err != nil {
		return err
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		fmt.Fprintln(e.out, "dividere (no build information)")
		return nil
	}
	fmt.Fprintf(e.out, "dividere %s\n", bi.Main.Version)
	fmt.Fprintf(e.out, "  go        %s\n", bi.GoVersion)
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision", "vcs.time", "vcs.modified", "GOOS", "GOARCH", "CGO_ENABLED":
			fmt.Fprintf(e.out, "  %-9s %s\n", strings.TrimPrefix(s.Key, "vcs."), s.Value)
		}
	}
	for _, d := range bi.Deps {
		// Every dividere module the binary was built from: a release's
		// must all say its version (RELEASING.md).
		if strings.HasPrefix(d.Path, "github.com/dividere-go/dividere") || d.Path == "google.golang.org/protobuf" {
			fmt.Fprintf(e.out, "  %s %s\n", d.Path, d.Version)
		}
	}
	return nil
}

func runTypes(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "types", "[NAME]", "registry", "descriptors", "timeout", "curve-client")
	rest, err := f.parse(args, 0, 1)
	if err != nil {
		return err
	}
	t, err := loadTypes(*f.descriptors)
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		for _, n := range t.names() {
			fmt.Fprintln(e.out, n)
		}
		return nil
	}
	rep, _, _, err := askInfo(ctx, e, f, rest[0])
	if err != nil {
		return err
	}
	for _, n := range rep.GetTypes() {
		fmt.Fprintln(e.out, n)
	}
	return nil
}

func runDescribe(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "describe", "[NAME] TYPE (with NAME: as the service NAME describes it)", "registry", "descriptors", "timeout", "curve-client")
	rest, err := f.parse(args, 1, 2)
	if err != nil {
		return err
	}
	t, err := loadTypes(*f.descriptors)
	if err != nil {
		return err
	}
	typ := rest[len(rest)-1]
	if len(rest) == 2 {
		rep, _, _, err := askInfo(ctx, e, f, rest[0])
		if err != nil {
			return err
		}
		t = &types{}
		if err := t.addRemote(rep); err != nil {
			return err
		}
	}
	mt, err := t.FindMessageByName(protoreflect.FullName(typ))
	if err != nil {
		return usageError{fmt.Sprintf("unknown message type %q%s (dividere types lists the known ones)", typ, suggest(typ, t.names()))}
	}
	fmt.Fprint(e.out, describe(mt.Descriptor()))
	return nil
}

// describe renders a message's definition in .proto syntax, as grpcurl
// describe does.
func describe(md protoreflect.MessageDescriptor) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s is a message (in %s):\n", md.FullName(), md.ParentFile().Path())
	writeMessage(&b, md, "")
	return b.String()
}

func writeMessage(b *strings.Builder, md protoreflect.MessageDescriptor, indent string) {
	fmt.Fprintf(b, "%smessage %s {\n", indent, md.Name())
	nested := md.Messages()
	for i := range nested.Len() {
		if !nested.Get(i).IsMapEntry() {
			writeMessage(b, nested.Get(i), indent+"  ")
		}
	}
	enums := md.Enums()
	for i := range enums.Len() {
		en := enums.Get(i)
		fmt.Fprintf(b, "%s  enum %s {\n", indent, en.Name())
		for j := range en.Values().Len() {
			v := en.Values().Get(j)
			fmt.Fprintf(b, "%s    %s = %d;\n", indent, v.Name(), v.Number())
		}
		fmt.Fprintf(b, "%s  }\n", indent)
	}
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		fmt.Fprintf(b, "%s  %s%s %s = %d;\n", indent, label(fd), fieldType(fd), fd.Name(), fd.Number())
	}
	fmt.Fprintf(b, "%s}\n", indent)
}

func label(fd protoreflect.FieldDescriptor) string {
	switch {
	case fd.IsMap():
		return ""
	case fd.Cardinality() == protoreflect.Repeated:
		return "repeated "
	case fd.HasOptionalKeyword():
		return "optional "
	}
	return ""
}

func fieldType(fd protoreflect.FieldDescriptor) string {
	switch {
	case fd.IsMap():
		return fmt.Sprintf("map<%s, %s>", fieldType(fd.MapKey()), fieldType(fd.MapValue()))
	case fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind:
		return "." + string(fd.Message().FullName())
	case fd.Kind() == protoreflect.EnumKind:
		return "." + string(fd.Enum().FullName())
	}
	return fd.Kind().String()
}

// discardLogger logs nothing.
var discardLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

func runCompletion(_ context.Context, e *env, args []string) error {
	f := newFlags(e, "completion", "bash|zsh|fish")
	rest, err := f.parse(args, 1, 1)
	if err != nil {
		return err
	}
	cmds := commandNames()
	// Each command's flags, as its flag set has them.
	flagsOf := map[string][]string{}
	for _, c := range cmds {
		flagsOf[c] = commandFlags(c)
	}
	switch rest[0] {
	case "bash":
		fmt.Fprintf(e.out, `# dividere completion for bash: source <(dividere completion bash)
_dividere() {
  local cur=${COMP_WORDS[COMP_CWORD]} cmd=${COMP_WORDS[1]}
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "%s help" -- "$cur")); return
  fi
  case "$cmd" in
`, strings.Join(cmds, " "))
		for _, c := range cmds {
			fmt.Fprintf(e.out, "    %s) COMPREPLY=($(compgen -W \"%s\" -- \"$cur\")) ;;\n", c, strings.Join(flagsOf[c], " "))
		}
		fmt.Fprint(e.out, "    help) COMPREPLY=($(compgen -W \""+strings.Join(cmds, " ")+"\" -- \"$cur\")) ;;\n  esac\n}\ncomplete -o default -F _dividere dividere\n")
	case "zsh":
		fmt.Fprint(e.out, "#compdef dividere\n# dividere completion for zsh: source <(dividere completion zsh)\n_dividere() {\n  if (( CURRENT == 2 )); then\n    compadd "+strings.Join(cmds, " ")+" help; return\n  fi\n  case $words[2] in\n")
		for _, c := range cmds {
			fmt.Fprintf(e.out, "    %s) compadd -- %s ;;\n", c, strings.Join(flagsOf[c], " "))
		}
		fmt.Fprint(e.out, "    help) compadd "+strings.Join(cmds, " ")+" ;;\n  esac\n}\ncompdef _dividere dividere\n")
	case "fish":
		fmt.Fprintln(e.out, "# dividere completion for fish: dividere completion fish | source")
		fmt.Fprintf(e.out, "complete -c dividere -f -n '__fish_use_subcommand' -a '%s help'\n", strings.Join(cmds, " "))
		for _, c := range cmds {
			for _, fl := range flagsOf[c] {
				fmt.Fprintf(e.out, "complete -c dividere -n '__fish_seen_subcommand_from %s' -o %s\n", c, strings.TrimPrefix(fl, "-"))
			}
		}
	default:
		return usageError{fmt.Sprintf("completion %q: bash, zsh or fish", rest[0])}
	}
	return nil
}

// commandFlags returns a command's flags ("-name"), found by asking the
// command for its help with its output captured.
func commandFlags(name string) []string {
	var help strings.Builder
	e := &env{in: strings.NewReader(""), out: &help, errOut: &help, log: discardLogger}
	commands[name].run(context.Background(), e, []string{"-h"})
	var out []string
	for _, line := range strings.Split(help.String(), "\n") {
		l := strings.TrimSpace(line)
		if strings.HasPrefix(l, "-") && strings.HasPrefix(line, "  -") {
			out = append(out, strings.Fields(l)[0])
		}
	}
	sort.Strings(out)
	return out
}
