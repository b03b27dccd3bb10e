//go:build !unix

package zmtp

import "net"

// rawWriter: where writes that do not wait are not at hand, every write
// goes through the connection's writer loop.
type rawWriter struct{}

func newRawWriter(net.Conn) *rawWriter { return nil }

func (*rawWriter) tryWrite([]byte) int { return 0 }
