package wire

import (
	"bufio"
	"bytes"
	"testing"
)

// FuzzReader feeds arbitrary bytes to the frame decoder and the command
// parsers: they must return errors, never panic, and never allocate more
// than the limits allow.
func FuzzReader(f *testing.F) {
	f.Add(AppendMessage(nil, [][]byte{[]byte("a"), make([]byte, 300)}))
	f.Add(AppendCommand(nil, CmdReady, AppendMetadata(nil, Property{"Socket-Type", []byte("SUB")})))
	f.Add(AppendPing(nil, Ping{TTL: 1, Context: []byte("x")}))
	f.Add([]byte{FlagLong, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bufio.NewReader(bytes.NewReader(data)), Limits{MaxMessageSize: 1 << 16, MaxFrames: 64})
		for {
			fr, err := r.ReadFrame()
			if err != nil {
				return
			}
			if len(fr.Body) > 1<<16 {
				t.Fatalf("frame of %d bytes past the limit", len(fr.Body))
			}
			if !fr.IsCommand() {
				continue
			}
			c, err := ParseCommand(fr.Body)
			if err != nil {
				continue
			}
			ParseMetadata(c.Data)
			ParsePing(c.Data)
			ParseError(c.Data)
		}
	})
}
