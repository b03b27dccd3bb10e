package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The shipped command links no test code: internal/testpb's messages are
// the tests' own, and a binary that registered them would list them in
// `dividere types` and accept them in call, req and pub as if a user had
// defined them. The command's own examples use msglib's dividere.Text and
// dividere.Bytes; the tests that want testpb import it themselves.
func TestBinaryLinksNoTestTypes(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps .: %v\n%s", err, out)
	}
	for _, forbidden := range []string{
		"github.com/dividere-go/dividere/internal/testpb",
		"github.com/dividere-go/dividere/internal/readmepb",
	} {
		for _, p := range strings.Fields(string(out)) {
			if p == forbidden {
				t.Errorf("the dividere command links %s, which is for tests only", forbidden)
			}
		}
	}
}
