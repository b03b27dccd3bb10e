package compiletest_test

import (
	"testing"

	"github.com/dividere-go/dividere/internal/compiletest"
)

func TestCheck(t *testing.T) {
	compiletest.Check(t,
		compiletest.Case{Name: "compiles", Src: "package main\n\nfunc main() {}\n"},
		compiletest.Case{Name: "type error", Src: "package main\n\nfunc main() { var x int = \"s\"; _ = x }\n", Want: "cannot use"},
	)
}

// A Program's file imports only what it uses, so one frame serves cases
// that use different parts of it.
func TestProgramImportsWhatItUses(t *testing.T) {
	p := compiletest.Program{
		Imports: []string{"strings", "time", "str strconv"},
		Decls:   "var start = time.Now",
		Prelude: "_ = start",
	}
	compiletest.Check(t,
		p.Case("uses time only", "", ""),
		p.Case("uses all three", "", `_, _ = strings.ToUpper("x"), str.Itoa(1)`),
		p.Case("a type error in the body", "cannot use", `var n int = str.Itoa(1); _ = n`),
	)
}
