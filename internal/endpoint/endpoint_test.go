package endpoint

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	B, C := Bind, Connect
	for _, tc := range []struct {
		in   string
		def  Role
		want []Endpoint
	}{
		{"tcp://*:5555", C, []Endpoint{{B, "tcp://*:5555"}}},
		{"tcp://0.0.0.0:5555", C, []Endpoint{{B, "tcp://0.0.0.0:5555"}}},
		{"tcp://[::]:5555", C, []Endpoint{{B, "tcp://[::]:5555"}}},
		{"tcp://*:0", C, []Endpoint{{B, "tcp://*:*"}}},
		{"tcp://localhost:5555", C, []Endpoint{{C, "tcp://localhost:5555"}}},
		{"tcp://127.0.0.1:5555", B, []Endpoint{{B, "tcp://127.0.0.1:5555"}}},
		{"tcp://127.0.0.1:0", B, []Endpoint{{B, "tcp://127.0.0.1:*"}}},
		{">tcp://localhost:5555", B, []Endpoint{{C, "tcp://localhost:5555"}}},
		{"@tcp://127.0.0.1:5555", C, []Endpoint{{B, "tcp://127.0.0.1:5555"}}},
		{"ipc:///tmp/x", B, []Endpoint{{B, "ipc:///tmp/x"}}},
		{"inproc://x", C, []Endpoint{{C, "inproc://x"}}},
		{"tcp://a:1, tcp://b:2", C, []Endpoint{{C, "tcp://a:1"}, {C, "tcp://b:2"}}},
	} {
		got, err := Parse(tc.in, tc.def)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if len(got) != len(tc.want) {
			t.Errorf("%q: got %v, want %v", tc.in, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%q: got %v, want %v", tc.in, got, tc.want)
			}
		}
	}
	for _, bad := range []string{"", "localhost:5555", "udp://x:1", "tcp://nohost", "tcp://x:99999", ",", ">tcp://*:5555", ">tcp://0.0.0.0:1"} {
		if _, err := Parse(bad, Connect); !errors.Is(err, ErrEndpoint) {
			t.Errorf("%q: got %v, want ErrEndpoint", bad, err)
		}
	}
}

func TestRoleString(t *testing.T) {
	if Bind.String() != "bind" || Connect.String() != "connect" {
		t.Fatalf("%s %s", Bind, Connect)
	}
}

func TestUniqueIdentity(t *testing.T) {
	a, b := UniqueIdentity(), UniqueIdentity()
	if a == b || !strings.HasPrefix(a, "dv-") || len(a) != 3+16 {
		t.Fatalf("%q %q", a, b)
	}
}

func TestFreePort(t *testing.T) {
	port, err := FreePort("127.0.0.1")
	if err != nil || port <= 0 {
		t.Fatalf("FreePort: %d %v", port, err)
	}
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("port %d was not free: %v", port, err)
	}
	l.Close()
}
