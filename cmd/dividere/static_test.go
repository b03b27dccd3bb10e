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
	assertStatic(t, dividereBinary(t))
}

// assertStatic fails t unless the program at path is one static ELF file.
func assertStatic(t *testing.T, path string) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the check reads ELF: Linux only")
	}
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s asks for a program interpreter: it is dynamically linked", path)
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		t.Fatal(err)
	}
	if len(libs) > 0 {
		t.Errorf("%s needs shared libraries: %v", path, libs)
	}
}
