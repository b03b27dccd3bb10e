// Package readme_test checks that every Go snippet of the README
// compiles against the packages as they are: each snippet becomes the
// body of a function in a scratch module, with the message types of
// proto/readme.proto as pb, and `go vet` builds it.
package readme_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// What a snippet may use without declaring it: the context, endpoints
// made earlier in the README's prose, and the application's own code.
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
	"messaging":  "messaging.ErrNotEnvelope",
	"patterns":   "patterns.ErrDrop",
	"registry":   "registry.ErrNotFound",
	"service":    "service.DefaultTTL",
	"etcdstore":  "etcdstore.Open",
	"metrics":    "metrics.New",
	"tracing":    "tracing.Name",
	"sdktrace":   "sdktrace.NewTracerProvider",
	"msglib":     "msglib.File_MsgLib_proto",
	"pb":         "pb.File_readme_proto",
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

func TestREADMESnippetsCompile(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build the snippets: %v", err)
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```go\n(.*?)```").FindAllStringSubmatch(string(readme), -1)
	if len(blocks) < 5 {
		t.Fatalf("found %d Go snippets in the README", len(blocks))
	}
	var b strings.Builder
	b.WriteString("package check\n\n" + importBlock + "\n")
	for _, name := range []string{"context", "errors", "fmt", "log", "time", "proto", "connection", "messaging",
		"patterns", "registry", "service", "etcdstore", "metrics", "tracing", "sdktrace", "msglib", "pb"} {
		fmt.Fprintf(&b, "var _ = %s\n", imports[name])
	}
	for i, m := range blocks {
		body, err := withUses(m[1])
		if err != nil {
			t.Errorf("README snippet %d does not parse as Go statements: %v\n%s", i+1, err, m[1])
			continue
		}
		fmt.Fprintf(&b, "\n// README snippet %d\nfunc snippet%d() {\n%s}\n", i+1, i+1, body)
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
	github.com/dividere-go/dividere/metrics => %s
	github.com/dividere-go/dividere/registry/etcdstore => %s
	github.com/dividere-go/dividere/tracing => %s
)
`, root, filepath.Join(root, "metrics"), filepath.Join(root, "registry", "etcdstore"), filepath.Join(root, "tracing")))
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
}

// withUses returns the snippet with a use of every variable it declares
// at its top level, since a snippet shows a step, not what comes after.
func withUses(snippet string) (string, error) {
	src := "package p\nfunc _() {\n" + snippet + "\n}\n"
	f, err := parser.ParseFile(token.NewFileSet(), "snippet.go", src, 0)
	if err != nil {
		return "", err
	}
	var uses []string
	for _, st := range f.Decls[0].(*ast.FuncDecl).Body.List {
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
	out := snippet
	for _, u := range uses {
		out += "\t_ = " + u + "\n"
	}
	return out, nil
}

func numbered(src string) string {
	lines := strings.Split(src, "\n")
	for i := range lines {
		lines[i] = fmt.Sprintf("%4d  %s", i+1, lines[i])
	}
	return strings.Join(lines, "\n")
}
