package main

import (
	"debug/elf"
	"runtime"
	"testing"
)

// The command the tests run is built as a release is (CGO_ENABLED=0), and
// it is one static file: no program interpreter (ld.so) and no shared
// library to find at run time, libzmq least of all.
func TestBinaryIsStatic(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the check reads ELF: Linux only")
	}
	f, err := elf.Open(dividereBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the dividere binary asks for a program interpreter: it is dynamically linked")
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		t.Fatal(err)
	}
	if len(libs) > 0 {
		t.Errorf("the dividere binary needs shared libraries: %v", libs)
	}
}
