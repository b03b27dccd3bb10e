package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Every systemd unit of deploy/ is one systemd accepts, runs a command
// this binary has, and gives it (in ExecStart, and in the flags its
// comments show for /etc/default) only flags that command takes.
func TestSystemdUnits(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed: the units go unchecked")
	}
	units, err := filepath.Glob(filepath.Join("..", "..", "deploy", "*.service"))
	if err != nil || len(units) < 2 {
		t.Fatalf("deploy/*.service: %v %v", units, err)
	}
	bin := dividereBinary(t)
	flagsRE := regexp.MustCompile(`DIVIDERE_[A-Z]+_FLAGS=([^'\n]*)`)
	for _, u := range units {
		t.Run(filepath.Base(u), func(t *testing.T) {
			unit, err := os.ReadFile(u)
			if err != nil {
				t.Fatal(err)
			}
			text := strings.ReplaceAll(string(unit), "/usr/local/bin/dividere", bin)
			path := filepath.Join(t.TempDir(), filepath.Base(u))
			if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(analyze, "verify", path).CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
				t.Fatalf("systemd-analyze verify: %v: %s", err, out)
			}
			var args []string
			for _, l := range strings.Split(text, "\n") {
				if rest, ok := strings.CutPrefix(l, "ExecStart="+bin+" "); ok {
					args = strings.Fields(rest)
				}
			}
			if len(args) == 0 {
				t.Fatal("the unit does not run the dividere binary")
			}
			if _, ok := commands[args[0]]; !ok {
				t.Fatalf("the unit runs dividere %s, which is no command", args[0])
			}
			for _, m := range flagsRE.FindAllStringSubmatch(text, -1) {
				args = append(args, strings.Fields(m[1])...)
			}
			_, help, _ := runBin(t, "help", args[0])
			if help == "" {
				_, _, help = runBin(t, "help", args[0])
			}
			for _, a := range args[1:] {
				if strings.HasPrefix(a, "-") && !strings.Contains(help, "  "+a+" ") && !strings.Contains(help, "  "+a+"\n") {
					t.Errorf("the unit gives dividere %s the flag %s, which it does not take:\n%s", args[0], a, help)
				}
			}
		})
	}
}
