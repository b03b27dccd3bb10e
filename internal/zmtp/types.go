package zmtp

import "fmt"

// Type is a socket type. The values are libzmq's.
type Type int

// Socket types.
const (
	PAIR   Type = 0
	PUB    Type = 1
	SUB    Type = 2
	REQ    Type = 3
	REP    Type = 4
	DEALER Type = 5
	ROUTER Type = 6
	PULL   Type = 7
	PUSH   Type = 8
	XPUB   Type = 9
	XSUB   Type = 10
)

var typeNames = [...]string{"PAIR", "PUB", "SUB", "REQ", "REP", "DEALER", "ROUTER", "PULL", "PUSH", "XPUB", "XSUB"}

// String returns the type's name on the wire, e.g. "DEALER".
func (t Type) String() string {
	if t >= 0 && int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("Type(%d)", int(t))
}

func (t Type) valid() bool { return t >= 0 && int(t) < len(typeNames) }

// canSend and canRecv say which way messages go on a socket of type t.
func (t Type) canSend() bool { return t != SUB && t != PULL }
func (t Type) canRecv() bool { return t != PUB && t != PUSH }

// sendsIdentity says whether a socket of type t tells its peers its
// routing id in READY, as libzmq does.
func (t Type) sendsIdentity() bool { return t == REQ || t == DEALER || t == ROUTER }
