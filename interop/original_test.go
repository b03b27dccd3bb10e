package interop_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// The original Python dividere is used from where it lies, never copied
// here: $DIVIDERE_ORIGINAL, or ../shared/original beside the repository.
// Its schema is compiled into a scratch directory, where a package
// directory of links to its modules sits beside the generated code, as
// its own imports expect (NOTES.md in the original's folder).
var original struct {
	once sync.Once
	dir  string // the scratch directory for PYTHONPATH
	skip string // why the tests that need it skip
	err  error
}

func originalDir() string {
	if d := os.Getenv("DIVIDERE_ORIGINAL"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "shared", "original")
}

// prepareOriginal compiles the original's schema once per test binary.
func prepareOriginal() {
	src, _ := filepath.Abs(originalDir())
	if _, err := os.Stat(filepath.Join(src, "dividere", "messaging.py")); err != nil {
		original.skip = fmt.Sprintf("the original Python dividere is not at %s (set DIVIDERE_ORIGINAL)", src)
		return
	}
	if _, err := exec.LookPath("protoc"); err != nil {
		original.err = fmt.Errorf("protoc missing: run `make test`, which installs protobuf-compiler")
		return
	}
	dir, err := os.MkdirTemp("", "dividere-original")
	if err != nil {
		original.err = err
		return
	}
	original.dir = dir
	pkg := filepath.Join(dir, "dividere")
	if err := os.Mkdir(pkg, 0o755); err != nil {
		original.err = err
		return
	}
	mods, _ := filepath.Glob(filepath.Join(src, "dividere", "*.py"))
	for _, m := range mods {
		if err := os.Symlink(m, filepath.Join(pkg, filepath.Base(m))); err != nil {
			original.err = err
			return
		}
	}
	for _, c := range [][]string{
		{"--proto_path=" + src, "--python_out=" + pkg, filepath.Join(src, "MsgLib.proto")},
		{"--proto_path=" + filepath.Join(src, "tests"), "--python_out=" + dir, filepath.Join(src, "tests", "TestMsg.proto")},
		{"--proto_path=original", "--python_out=" + dir, filepath.Join("original", "Filter8.proto")},
	} {
		if out, err := exec.Command("protoc", c...).CombinedOutput(); err != nil {
			original.err = fmt.Errorf("protoc %v: %v: %s", c, err, out)
			return
		}
	}
	// The guide's examples import clientMsgs_pb2, whose schema the
	// examples' Makefile writes: run its recipe in the scratch directory.
	mk := exec.Command("make", "-s", "-f", filepath.Join(src, "examples", "Makefile"), "-C", dir, "clientMsgs.proto")
	if out, err := mk.CombinedOutput(); err != nil {
		original.err = fmt.Errorf("the examples' clientMsgs.proto: %v: %s", err, out)
		return
	}
	if out, err := exec.Command("protoc", "--proto_path="+dir, "--python_out="+dir, filepath.Join(dir, "clientMsgs.proto")).CombinedOutput(); err != nil {
		original.err = fmt.Errorf("protoc clientMsgs.proto: %v: %s", err, out)
		return
	}
}

// startOriginal runs one scenario of interop/original/runner.py, which
// drives the original's own classes, and waits for its READY line. It
// skips the test, saying why, where the original is not there.
func startOriginal(t *testing.T, args ...string) *pyPeer {
	t.Helper()
	original.once.Do(prepareOriginal)
	if original.skip != "" {
		t.Skip(original.skip)
	}
	if original.err != nil {
		t.Fatal(original.err)
	}
	return startPeer(t, filepath.Join("original", "runner.py"), []string{"PYTHONPATH=" + original.dir}, args...)
}
