// Package readme_test keeps the README and docs/ true to the code. Every
// Go snippet (a ```go block) of README.md and docs/*.md compiles against
// the packages as they are: each snippet becomes the body of a function
// in a scratch module, with the message types of proto/readme/readme.proto
// as pb and the greeter example's as greetpb, and `go vet` builds it.
// The other tests check that the commands, make targets, paths and links
// the docs give exist (docs_test.go), without pinning anything that
// changes from run to run, such as benchmark figures.
package readme_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// What a snippet may use without declaring it: the context, endpoints
// made earlier in the docs' prose, and the application's own code.
const prelude = `package check

import (
	"context"
	"log/slog"

	"github.com/dividere-go/dividere/connection"
	pb "github.com/dividere-go/dividere/internal/readmepb"
	"github.com/dividere-go/dividere/messaging"
	"github.com/dividere-go/dividere/registry"
)

var (
	ctx    context.Context
	pub    *messaging.Publisher
	req    *messaging.Request
	rep    *messaging.Response
	sub    *messaging.Subscriber
	router *messaging.Router
	r      *messaging.Reactor
	client *registry.Client
	logger *slog.Logger

	clientKeys                   connection.KeyPair
	clientPublic1, clientPublic2 string
)

// Orders is an application's service implementation.
type Orders struct{}

func process(req []byte) []byte     { return req }
func exists(id int64) bool          { return id > 0 }
func lookup(id int64) *pb.Order     { return &pb.Order{Id: id} }
func main()                         {}
`

// The packages a snippet may name; each is used once in the file, so
// that a snippet need not use them all.
var imports = map[string]string{
	"context":    "context.Background",
	"errors":     "errors.New",
	"fmt":        "fmt.Sprint",
	"log":        "log.Print",
	"time":       "time.Second",
	"proto":      "proto.Marshal",
	"connection": "connection.ErrClosed",
	"messaging":  "messaging.ErrUndecodable",
	"patterns":   "patterns.ErrDrop",
	"registry":   "registry.ErrNotFound",
	"service":    "service.New",
	"etcdstore":  "etcdstore.Open",
	"metrics":    "metrics.New",
	"tracing":    "tracing.Outgoing",
	"sdktrace":   "sdktrace.NewTracerProvider",
	"msglib":     "msglib.File_MsgLib_proto",
	"pb":         "pb.File_readme_proto",
	"greetpb":    "greetpb.File_greet_proto",
}

const importBlock = `import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/protobuf/proto"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/examples/greeter/greetpb"
	pb "github.com/dividere-go/dividere/internal/readmepb"
	"github.com/dividere-go/dividere/messaging"
	"github.com/dividere-go/dividere/metrics"
	"github.com/dividere-go/dividere/msglib"
	"github.com/dividere-go/dividere/patterns"
	"github.com/dividere-go/dividere/registry"
	"github.com/dividere-go/dividere/registry/etcdstore"
	"github.com/dividere-go/dividere/service"
	"github.com/dividere-go/dividere/tracing"
)
`

func TestDocSnippetsCompile(t *testing.T) {
	t.Parallel()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build the snippets: %v", err)
	}
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("package check\n\n" + importBlock + "\n")
	for _, name := range []string{"context", "errors", "fmt", "log", "time", "proto", "connection", "messaging",
		"patterns", "registry", "service", "etcdstore", "metrics", "tracing", "sdktrace", "msglib", "pb", "greetpb"} {
		fmt.Fprintf(&b, "var _ = %s\n", imports[name])
	}
	n, inREADME := 0, 0
	for _, d := range docs(t) {
		for _, blk := range d.blocks {
			if blk.lang != "go" {
				continue
			}
			n++
			if d.path == "README.md" {
				inREADME++
			}
			body, returns, err := withUses(blk.text)
			if err != nil {
				t.Errorf("%s:%d: a Go snippet that does not parse as statements: %v\n%s", d.path, blk.line, err, blk.text)
				continue
			}
			result := ""
			if returns {
				result = " error"
			}
			// The line directive makes the compiler's errors point at
			// the Markdown file and line.
			fmt.Fprintf(&b, "\n// %s:%d\nfunc snippet%d()%s {\n//line %s:%d\n%s}\n", d.path, blk.line, n, result, d.path, blk.line, body)
		}
	}
	if inREADME < 3 {
		t.Fatalf("found %d Go snippets in the README; the three hello worlds at least", inREADME)
	}
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A module path under the repository's, so that it may import the
	// internal message types.
	write("go.mod", fmt.Sprintf(`module github.com/dividere-go/dividere/internal/readme/check

go 1.26.0

require (
	github.com/dividere-go/dividere v0.2.0
	github.com/dividere-go/dividere/metrics v0.2.0
	github.com/dividere-go/dividere/registry/etcdstore v0.2.0
	github.com/dividere-go/dividere/tracing v0.2.0
)

replace (
	github.com/dividere-go/dividere => %s
	github.com/dividere-go/dividere/internal/etcdtest => %s
	github.com/dividere-go/dividere/metrics => %s
	github.com/dividere-go/dividere/registry/etcdstore => %s
	github.com/dividere-go/dividere/tracing => %s
)
`, root, filepath.Join(root, "internal", "etcdtest"), filepath.Join(root, "metrics"), filepath.Join(root, "registry", "etcdstore"),
		filepath.Join(root, "tracing")))
	write("prelude.go", prelude)
	write("snippets.go", b.String())
	for _, args := range [][]string{{"mod", "tidy"}, {"vet", "."}} {
		cmd := exec.Command(goTool, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s: %v\n%s\n\nthe snippets as compiled:\n%s", strings.Join(args, " "), err, out, numbered(b.String()))
		}
	}
	t.Logf("%d Go snippets compile, %d of them in the README", n, inREADME)
}

// withUses returns the snippet with a use of every variable it declares
// at its top level, since a snippet shows a step, not what comes after,
// and whether it returns a value: then it is the body of a func() error.
// The uses go before a final return, where they are reachable.
func withUses(snippet string) (body string, returns bool, err error) {
	const head = "package p\nfunc _() {\n"
	src := head + snippet + "\n}\n"
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "snippet.go", src, 0)
	if err != nil {
		return "", false, err
	}
	list := f.Decls[0].(*ast.FuncDecl).Body.List
	var uses []string
	for _, st := range list {
		switch st := st.(type) {
		case *ast.AssignStmt:
			if st.Tok == token.DEFINE {
				for _, e := range st.Lhs {
					if id, ok := e.(*ast.Ident); ok && id.Name != "_" {
						uses = append(uses, id.Name)
					}
				}
			}
		case *ast.DeclStmt:
			for _, spec := range st.Decl.(*ast.GenDecl).Specs {
				if vs, ok := spec.(*ast.ValueSpec); ok {
					for _, id := range vs.Names {
						uses = append(uses, id.Name)
					}
				}
			}
		}
	}
	ast.Inspect(f.Decls[0].(*ast.FuncDecl).Body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.FuncLit:
			return false // a handler's returns are its own
		case *ast.ReturnStmt:
			if len(n.Results) > 0 {
				returns = true
			}
		}
		return true
	})
	var use strings.Builder
	for _, u := range uses {
		use.WriteString("\t_ = " + u + "\n")
	}
	if len(list) > 0 {
		if last, ok := list[len(list)-1].(*ast.ReturnStmt); ok {
			at := fset.Position(last.Pos()).Offset - len(head)
			return snippet[:at] + "\n" + use.String() + snippet[at:], returns, nil
		}
	}
	return snippet + use.String(), returns, nil
}

func numbered(src string) string {
	lines := strings.Split(src, "\n")
	for i := range lines {
		lines[i] = fmt.Sprintf("%4d  %s", i+1, lines[i])
	}
	return strings.Join(lines, "\n")
}
