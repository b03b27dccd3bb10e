package readme_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// What the command defines, read from cmd/dividere's source (not its
// tests): its subcommands, and the names of every flag it declares.
type cli struct {
	commands map[string]bool
	flags    map[string]bool
}

var flagFuncs = map[string]int{ // a flag-defining method, and which argument is the name
	"String": 0, "Bool": 0, "Int": 0, "Int64": 0, "Uint": 0, "Uint64": 0, "Float64": 0, "Duration": 0,
	"StringVar": 1, "BoolVar": 1, "IntVar": 1, "Int64Var": 1, "UintVar": 1, "Uint64Var": 1, "Float64Var": 1,
	"DurationVar": 1, "Var": 1, "TextVar": 1, "Func": 0, "BoolFunc": 0,
}

func readCLI(t *testing.T) cli {
	t.Helper()
	c := cli{commands: map[string]bool{}, flags: map[string]bool{"h": true, "help": true}}
	files, err := filepath.Glob(filepath.Join(repoRoot, "cmd", "dividere", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.IndexExpr: // commands["name"] = command{...}
				if id, ok := n.X.(*ast.Ident); ok && id.Name == "commands" {
					if s, ok := stringLit(n.Index); ok {
						c.commands[s] = true
					}
				}
			case *ast.ValueSpec: // var commands = map[string]command{"name": ...}
				for i, id := range n.Names {
					if id.Name != "commands" || i >= len(n.Values) {
						continue
					}
					if cl, ok := n.Values[i].(*ast.CompositeLit); ok {
						for _, e := range cl.Elts {
							if kv, ok := e.(*ast.KeyValueExpr); ok {
								if s, ok := stringLit(kv.Key); ok {
									c.commands[s] = true
								}
							}
						}
					}
				}
			case *ast.CallExpr: // fs.String("name", ...), f.IntVar(&x, "name", ...)
				if sel, ok := n.Fun.(*ast.SelectorExpr); ok {
					if at, ok := flagFuncs[sel.Sel.Name]; ok && at < len(n.Args) {
						if s, ok := stringLit(n.Args[at]); ok {
							c.flags[s] = true
						}
					}
				}
			}
			return true
		})
	}
	if len(c.commands) < 10 {
		t.Fatalf("found %d subcommands in cmd/dividere: %v; has the way they are declared changed?", len(c.commands), c.commands)
	}
	return c
}

func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

// commandFlags runs the command's own bash completion script
// (`dividere completion bash`, which the README gives), built with
// CGO_ENABLED=0 as make test builds it, and returns each subcommand's
// flags as the command itself lists them. It returns nil in -short mode.
func commandFlags(t *testing.T) map[string]map[string]bool {
	t.Helper()
	if testing.Short() {
		return nil
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to run dividere: %v", err)
	}
	cmd := exec.Command(goTool, "run", ".", "completion", "bash")
	cmd.Dir = filepath.Join(repoRoot, "cmd", "dividere")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("dividere completion bash: %v\n%s", err, stderr.String())
	}
	flags := map[string]map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s*([a-z-]+)\) COMPREPLY=\(\$\(compgen -W "([^"]*)"`).FindAllStringSubmatch(string(out), -1) {
		if m[1] == "help" {
			continue
		}
		set := map[string]bool{"h": true, "help": true}
		for _, f := range strings.Fields(m[2]) {
			set[strings.TrimLeft(f, "-")] = true
		}
		flags[m[1]] = set
	}
	if len(flags) == 0 {
		t.Fatalf("dividere completion bash lists no subcommand's flags, as read here:\n%s", out)
	}
	return flags
}

// makeTargets reads the Makefile's targets.
func makeTargets(t *testing.T) map[string]bool {
	t.Helper()
	text, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^([A-Za-z0-9_./-]+(?:[ \t]+[A-Za-z0-9_./-]+)*)[ \t]*:([^=]|$)`).FindAllStringSubmatch(string(text), -1) {
		for _, name := range strings.Fields(m[1]) {
			if !strings.HasPrefix(name, ".") {
				out[name] = true
			}
		}
	}
	if !out["test"] || !out["demo"] {
		t.Fatalf("the Makefile's targets, as read here, lack test or demo: %v", out)
	}
	return out
}

// A command is one simple command of a shell line: its words, with
// quotes removed, and the directory it runs in (after a `cd DIR &&`).
type command struct {
	words []string
	dir   string // from the repository's root
}

// commands splits a line of shell into its simple commands: at |, ||,
// &&, ;, &, and inside $( ) and <( ). A # that starts a word starts a
// comment. Quoting is honoured, roughly as sh does.
func commands(line string) [][]string {
	var out [][]string
	var cur []string
	var w strings.Builder
	inWord := false
	endWord := func() {
		if inWord {
			cur = append(cur, w.String())
			w.Reset()
			inWord = false
		}
	}
	endCmd := func() {
		endWord()
		if len(cur) > 0 {
			out = append(out, cur)
		}
		cur = nil
	}
	for i := 0; i < len(line); i++ {
		ch := line[i]
		switch {
		case ch == '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				j = len(line) - i - 1
			}
			w.WriteString(line[i+1 : i+1+j])
			inWord = true
			i += j + 1
		case ch == '"':
			inWord = true
			for i++; i < len(line) && line[i] != '"'; i++ {
				if line[i] == '\\' && i+1 < len(line) {
					i++
				}
				w.WriteByte(line[i])
			}
		case ch == '\\' && i+1 < len(line):
			w.WriteByte(line[i+1])
			inWord = true
			i++
		case ch == '#' && !inWord:
			endCmd()
			return out
		case ch == ' ' || ch == '\t':
			endWord()
		case ch == '|' || ch == ';' || ch == '&' || ch == '(' || ch == ')' || ch == '`':
			endCmd()
		case (ch == '<' || ch == '>' || ch == '$') && i+1 < len(line) && line[i+1] == '(':
			endCmd()
			i++
		default:
			w.WriteByte(ch)
			inWord = true
		}
	}
	endCmd()
	return out
}

// shellCommands returns the commands the docs give: every line of their
// shell blocks (sh, bash, shell, console, or none), and every code span
// of their prose, each with its page and the directory it runs in.
func shellCommands(ds []*doc) map[string][]command {
	out := map[string][]command{}
	add := func(where, line string) {
		dir := "."
		for _, words := range commands(strings.TrimPrefix(strings.TrimSpace(line), "$ ")) {
			if words[0] == "cd" && len(words) == 2 {
				dir = path.Join(dir, words[1])
				out[where] = append(out[where], command{words: words, dir: "."})
				continue
			}
			out[where] = append(out[where], command{words: words, dir: dir})
		}
	}
	for _, d := range ds {
		for _, b := range d.blocks {
			switch b.lang {
			case "sh", "bash", "shell", "console", "":
				for i, l := range strings.Split(b.text, "\n") {
					add(d.path+":"+strconv.Itoa(b.line+i), l)
				}
			}
		}
		for _, s := range d.spans {
			add(d.path, s)
		}
	}
	return out
}

// placeholder says whether a word stands for something to fill in:
// COMMAND, NAME, FILE.
func placeholder(w string) bool {
	return strings.ContainsAny(w, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") && strings.Trim(w, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_[].") == ""
}

// Every `dividere COMMAND` the docs give is a subcommand of cmd/dividere,
// and every flag given to it is one of that subcommand's, as the
// command's completion script lists them (in -short mode, one that
// cmd/dividere declares somewhere).
func TestDocsCommandsExist(t *testing.T) {
	t.Parallel()
	c := readCLI(t)
	perCommand := commandFlags(t)
	if perCommand != nil {
		for _, name := range sorted(c.commands) {
			if perCommand[name] == nil {
				t.Errorf("cmd/dividere's source declares the subcommand %q, and its completion script does not list it", name)
			}
		}
		for name := range perCommand {
			if !c.commands[name] {
				t.Errorf("dividere's completion script lists the subcommand %q, which this test did not find in cmd/dividere's source", name)
			}
		}
	}
	var named int
	for where, cmds := range shellCommands(docs(t)) {
		for _, cmd := range cmds {
			words := withoutAssignments(cmd.words)
			if len(words) == 0 || words[0] != "dividere" {
				continue
			}
			words = words[1:]
			for len(words) > 0 && strings.HasPrefix(words[0], "-") { // -v, -vv
				checkFlag(t, c.flags, where, "dividere", words[0])
				words = words[1:]
			}
			if len(words) == 0 {
				continue
			}
			sub := words[0]
			switch {
			case placeholder(sub):
				continue
			case sub == "help":
				if len(words) > 1 && !placeholder(words[1]) && !c.commands[words[1]] {
					t.Errorf("%s: `dividere help %s`: cmd/dividere has no subcommand %q", where, words[1], words[1])
				}
				continue
			case !c.commands[sub]:
				t.Errorf("%s: `dividere %s`: cmd/dividere has no subcommand %q (it has %s)", where, sub, sub, strings.Join(sorted(c.commands), ", "))
				continue
			}
			named++
			flags := c.flags // every flag the command declares, in -short mode
			if perCommand != nil {
				flags = perCommand[sub]
			}
			for _, w := range words[1:] {
				if w == "--" {
					break
				}
				checkFlag(t, flags, where, "dividere "+sub, w)
			}
		}
	}
	if named == 0 {
		t.Fatal("the docs name no dividere subcommand at all")
	}
}

func checkFlag(t *testing.T, flags map[string]bool, where, cmd, w string) {
	t.Helper()
	if !strings.HasPrefix(w, "-") || w == "-" {
		return
	}
	name, _, _ := strings.Cut(strings.TrimLeft(w, "-"), "=")
	if _, err := strconv.ParseFloat(name, 64); err == nil || name == "" {
		return // a negative number, not a flag
	}
	if !flags[name] && !(cmd == "dividere" && (name == "v" || name == "vv")) {
		t.Errorf("%s: `%s ... %s`: %s has no flag -%s", where, cmd, w, cmd, name)
	}
}

func withoutAssignments(words []string) []string {
	for len(words) > 0 && (regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`).MatchString(words[0]) || words[0] == "sudo" || words[0] == "exec" || words[0] == "time" || words[0] == "env") {
		words = words[1:]
	}
	return words
}

func sorted(set map[string]bool) []string {
	var out []string
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Every `make TARGET` the docs give is a target of the Makefile; every
// directory a command cds to, and every ./path a go command is given,
// exists; every -fuzz target named is a fuzz test of the package named.
func TestDocsMakeTargetsAndPathsExist(t *testing.T) {
	targets := makeTargets(t)
	for where, cmds := range shellCommands(docs(t)) {
		for _, cmd := range cmds {
			words := withoutAssignments(cmd.words)
			if len(words) == 0 {
				continue
			}
			switch words[0] {
			case "make":
				for _, w := range words[1:] {
					if strings.HasPrefix(w, "-") || strings.Contains(w, "=") || placeholder(w) {
						continue
					}
					if !targets[w] {
						t.Errorf("%s: `make %s`: the Makefile has no target %q (it has %s)", where, w, w, strings.Join(sorted(targets), ", "))
					}
				}
			case "cd":
				if len(words) != 2 {
					continue
				}
				if !isDir(filepath.Join(repoRoot, cmd.dir, words[1])) && !placeholder(words[1]) && !strings.HasPrefix(words[1], "/") {
					t.Errorf("%s: `cd %s`: no such directory in the repository", where, words[1])
				}
			case "go":
				var pkgs []string
				fuzz := ""
				for i, w := range words[1:] {
					if w == "-fuzz" && i+2 < len(words) {
						fuzz = words[i+2]
					}
					if !strings.HasPrefix(w, "./") || strings.ContainsAny(w, "*{") || hasPlaceholder(w) {
						continue
					}
					dir := strings.TrimSuffix(strings.TrimSuffix(w, "..."), "/")
					if !isDir(filepath.Join(repoRoot, cmd.dir, dir)) {
						t.Errorf("%s: `go ... %s` (in %s): no such directory", where, w, cmd.dir)
						continue
					}
					pkgs = append(pkgs, filepath.Join(repoRoot, cmd.dir, dir))
				}
				if fuzz != "" && !placeholder(fuzz) && len(pkgs) == 1 && !definesFunc(t, pkgs[0], fuzz) {
					rel, _ := filepath.Rel(repoRoot, pkgs[0])
					t.Errorf("%s: `go test -fuzz %s`: %s has no such fuzz test", where, fuzz, filepath.ToSlash(rel))
				}
			}
		}
	}
}

func hasPlaceholder(p string) bool {
	for _, seg := range strings.Split(p, "/") {
		if placeholder(seg) {
			return true
		}
	}
	return false
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

func definesFunc(t *testing.T, dir, name string) bool {
	files, _ := filepath.Glob(filepath.Join(dir, "*_test.go"))
	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(text), "func "+name+"(") {
			return true
		}
	}
	return false
}

// Every repository path the docs name in code (`deploy/dividere-registry.service`,
// `interop/original_*_test.go`) exists: a file that moves takes its
// mentions with it.
func TestDocsPathsExist(t *testing.T) {
	top := map[string]bool{}
	entries, err := os.ReadDir(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") {
			top[e.Name()] = true
		}
	}
	pathRE := regexp.MustCompile(`^[A-Za-z0-9_.*{},/-]+$`)
	for _, d := range docs(t) {
		for _, s := range d.spans {
			if !strings.Contains(s, "/") || !pathRE.MatchString(s) || hasPlaceholder(s) {
				continue
			}
			first, _, _ := strings.Cut(s, "/")
			if !top[first] || regexp.MustCompile(`/v(\d+\.\d+\.\d+|X\.Y\.Z)$`).MatchString(s) {
				continue // a module path, an URL path, pub/sub; a module's tag (or its pattern)
			}
			if strings.Contains(s, "node_modules") {
				continue // installed by `make deps`, never tracked: absent from a fresh clone
			}
			found := false
			for _, p := range braces(s) {
				m, _ := filepath.Glob(filepath.Join(repoRoot, strings.TrimSuffix(p, "/")))
				found = found || len(m) > 0
			}
			if !found {
				t.Errorf("%s: `%s`: no such path in the repository", d.path, s)
			}
		}
	}
}

// braces expands one {a,b,c} of a path.
func braces(p string) []string {
	i, j := strings.Index(p, "{"), strings.Index(p, "}")
	if i < 0 || j < i {
		return []string{p}
	}
	var out []string
	for _, alt := range strings.Split(p[i+1:j], ",") {
		out = append(out, p[:i]+alt+p[j+1:])
	}
	return out
}

// Every relative link and image of the docs points at a file or
// directory that exists, and every #anchor at a heading of its page.
func TestDocsLinksResolve(t *testing.T) {
	ds := docs(t)
	for _, d := range ds {
		for _, l := range d.links {
			if regexp.MustCompile(`^[a-z][a-z0-9+.-]*:`).MatchString(l) {
				continue // http:, https:, mailto:
			}
			target, anchor, _ := strings.Cut(l, "#")
			page := d
			if target != "" {
				p := path.Join(path.Dir(d.path), target)
				if _, err := os.Stat(filepath.Join(repoRoot, filepath.FromSlash(p))); err != nil {
					t.Errorf("%s: link (%s): no such file", d.path, l)
					continue
				}
				page = findDoc(ds, p)
			}
			if anchor != "" && page != nil && !anchors(page)[anchor] {
				t.Errorf("%s: link (%s): %s has no heading for #%s", d.path, l, page.path, anchor)
			}
		}
	}
}

// The README is a front door: short, with the quick start's two
// commands, what building needs (Go alone), a link to every page of docs/, and the
// benchmark's chart.
func TestREADMEIsAFrontDoor(t *testing.T) {
	ds := docs(t)
	readme := findDoc(ds, "README.md")
	if readme.lines > 400 {
		t.Errorf("the README has %d lines: a front door has about 300, and the rest goes in docs/", readme.lines)
	}
	quick := map[string]bool{}
	for _, b := range readme.blocks {
		if b.lang == "sh" {
			for _, l := range strings.Split(b.text, "\n") {
				quick[strings.Join(strings.Fields(strings.SplitN(l, "#", 2)[0]), " ")] = true
			}
		}
	}
	for _, want := range []string{"make demo", "make test"} {
		if !quick[want] {
			t.Errorf("the README's quick start has no `%s` line", want)
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "-tags libzmq", "make release"} {
		if !strings.Contains(readme.text, want) {
			t.Errorf("the README does not say %s (that dividere needs no C library, and the opt-in libzmq engine)", want)
		}
	}
	// Building and running dividere needs Go alone: a user is never told
	// to install libzmq for it.
	if strings.Contains(readme.text, "libzmq3-dev") || strings.Contains(readme.text, "libzmq5") {
		t.Error("the README names a libzmq package: dividere builds and runs without one")
	}
	linked := map[string]bool{}
	for _, l := range readme.links {
		target, _, _ := strings.Cut(l, "#")
		linked[path.Clean(target)] = true
	}
	for _, d := range ds {
		if strings.HasPrefix(d.path, "docs/") && !linked[d.path] {
			t.Errorf("the README does not link %s", d.path)
		}
	}
	if !linked["bench/results.svg"] {
		t.Error("the README does not show the benchmark's chart, bench/results.svg")
	}
}

// The README's table of the command lists every subcommand, and nothing
// else.
func TestREADMECommandTable(t *testing.T) {
	c := readCLI(t)
	readme := findDoc(docs(t), "README.md")
	var rows map[string]bool
	for _, tb := range tables(readme) {
		if len(tb.header) > 0 && strings.EqualFold(tb.header[0], "command") {
			rows = map[string]bool{}
			for _, r := range tb.rows {
				name := strings.Trim(r[0], "` ")
				if rows[name] {
					t.Errorf("the README's command table lists %q twice", name)
				}
				rows[name] = true
			}
		}
	}
	if rows == nil {
		t.Fatal("the README has no table of the command (a table whose first column is \"command\")")
	}
	for _, name := range sorted(c.commands) {
		if !rows[name] {
			t.Errorf("the README's command table has no row for `dividere %s`", name)
		}
	}
	for _, name := range sorted(rows) {
		if !c.commands[name] {
			t.Errorf("the README's command table lists %q, which is no subcommand of cmd/dividere", name)
		}
	}
}

// The benchmarks page says when its figures were measured and on what,
// and shows the chart of the kept run. Its figures are not pinned: a new
// run changes them, with the date.
func TestBenchmarksPageIsDated(t *testing.T) {
	page := findDoc(docs(t), "docs/benchmarks.md")
	if page == nil {
		t.Fatal("there is no docs/benchmarks.md")
	}
	if !regexp.MustCompile(`\b20\d\d-[01]\d-[0-3]\d\b`).MatchString(page.text) {
		t.Error("docs/benchmarks.md names no date (YYYY-MM-DD) for its figures")
	}
	if !regexp.MustCompile(`\b\d+ (v?CPUs|vCPUs|cores)\b`).MatchString(page.text) {
		t.Error("docs/benchmarks.md does not say how many cores its machine has")
	}
	shows := false
	for _, l := range page.links {
		shows = shows || path.Join("docs", l) == "bench/results.svg"
	}
	if !shows {
		t.Error("docs/benchmarks.md does not show the chart, ../bench/results.svg")
	}
}
