package apisize

import (
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// budget is the most each package of the library may export. A user
// learns the API one identifier at a time, so a new export has to
// displace another or raise its package's budget in a reviewed change.
// Most of what the library exports are its features' own vocabulary: 79
// Stats counter fields, the 17 status codes (wire values), the 15 socket
// event kinds, the socket kinds at two layers, and the per-kind option
// interfaces that make a misplaced option a compile error.
var budget = map[string]int{
	"connection":         163,
	"messaging":          140,
	"metrics":            6,
	"patterns":           78,
	"registry":           77,
	"registry/etcdstore": 11,
	"registry/storetest": 1,
	"service":            24,
	"tracing":            3,
}

// goal is the size the API is measured against (nats.go's micro exports
// 117); the budgets above sum to today's ceiling, which only goes down.
const goal = 400

// notLibrary are the trees that are programs, peers or generated schema,
// not the library a user imports.
var notLibrary = map[string]bool{
	"internal": true, "cmd": true, "examples": true, "interop": true,
	"clients": true, "bench": true, "proto": true, "testdata": true,
	"node_modules": true, "scripts": true, "deploy": true, "docs": true,
}

// exports counts, per package directory, the exported functions, types,
// methods of exported types, struct fields, interface methods, variables
// and constants of the non-test, non-generated Go files of the default
// build (go/build's default context): what a user who runs go get and
// go build has. An identifier that only a build tag such as libzmq brings
// in is not counted, nor is one counted twice for being declared in each
// of two files that exclude each other by tag.
func exports(t *testing.T, root string) (map[string]int, map[string][]string) {
	t.Helper()
	counts := map[string]int{}
	names := map[string][]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != root && (notLibrary[d.Name()] || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") || strings.HasSuffix(p, ".pb.go") {
			return nil
		}
		if ok, err := build.Default.MatchFile(filepath.Dir(p), d.Name()); err != nil || !ok {
			return err
		}
		f, err := parser.ParseFile(token.NewFileSet(), p, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(p))
		pkg := filepath.ToSlash(rel)
		add := func(kind, name string) {
			counts[pkg]++
			names[pkg] = append(names[pkg], kind+" "+name)
		}
		for _, decl := range f.Decls {
			switch decl := decl.(type) {
			case *ast.FuncDecl:
				if !decl.Name.IsExported() {
					continue
				}
				if decl.Recv == nil {
					add("func", decl.Name.Name)
					continue
				}
				if recv := receiver(decl.Recv.List[0].Type); ast.IsExported(recv) {
					add("method", recv+"."+decl.Name.Name)
				}
			case *ast.GenDecl:
				for _, spec := range decl.Specs {
					switch spec := spec.(type) {
					case *ast.TypeSpec:
						if !spec.Name.IsExported() {
							continue
						}
						add("type", spec.Name.Name)
						members(spec, add)
					case *ast.ValueSpec:
						for _, n := range spec.Names {
							if n.IsExported() {
								add("value", n.Name)
							}
						}
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return counts, names
}

// members adds a struct's exported fields or an interface's methods.
func members(spec *ast.TypeSpec, add func(kind, name string)) {
	var list *ast.FieldList
	kind := "field"
	switch typ := spec.Type.(type) {
	case *ast.StructType:
		list = typ.Fields
	case *ast.InterfaceType:
		list, kind = typ.Methods, "method"
	default:
		return
	}
	for _, field := range list.List {
		for _, n := range field.Names {
			if n.IsExported() {
				add(kind, spec.Name.Name+"."+n.Name)
			}
		}
	}
}

func receiver(e ast.Expr) string {
	for {
		switch x := e.(type) {
		case *ast.StarExpr:
			e = x.X
		case *ast.IndexExpr:
			e = x.X
		case *ast.IndexListExpr:
			e = x.X
		case *ast.Ident:
			return x.Name
		default:
			return ""
		}
	}
}

func TestAPISize(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	counts, names := exports(t, root)
	var pkgs []string
	sum := 0
	for pkg, n := range counts {
		pkgs = append(pkgs, pkg)
		sum += n
	}
	sort.Strings(pkgs)
	for _, pkg := range pkgs {
		t.Logf("%-32s %4d (budget %d)", pkg, counts[pkg], budget[pkg])
		if counts[pkg] > budget[pkg] {
			t.Errorf("%s exports %d identifiers, over its budget of %d", pkg, counts[pkg], budget[pkg])
		}
		if os.Getenv("APISIZE_LIST") != "" {
			t.Logf("%s:\n\t%s", pkg, strings.Join(names[pkg], "\n\t"))
		}
	}
	ceiling := 0
	for _, n := range budget {
		ceiling += n
	}
	t.Logf("library: %d exported identifiers (ceiling %d, goal %d)", sum, ceiling, goal)
	if counts["connection"] == 0 || counts["messaging"] == 0 {
		t.Fatalf("counted nothing in connection or messaging: is %s the repository?", root)
	}
}
