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
