package connection

import (
	"runtime/debug"
	"sync"
	"time"
)

// largeFrame is the size from which a received frame's memory is handed
// back to the operating system promptly once it is garbage. Go's
// scavenger returns freed heap slowly, so without this a single 100 MB
// frame kept about 100 MB resident for minutes after it was dropped.
const largeFrame = 4 << 20

// largeFrameRelease is how long after a large frame the memory is
// returned: long enough for a handler (or a failed decode) to be done
// with it.
const largeFrameRelease = 200 * time.Millisecond

var release struct {
	mu      sync.Mutex
	pending bool
}

// noteLargeFrame arranges for freed memory to go back to the operating
// system shortly. However many large frames arrive, it runs at most once
// per largeFrameRelease.
func noteLargeFrame() {
	release.mu.Lock()
	defer release.mu.Unlock()
	if release.pending {
		return
	}
	release.pending = true
	time.AfterFunc(largeFrameRelease, func() {
		release.mu.Lock()
		release.pending = false
		release.mu.Unlock()
		debug.FreeOSMemory()
		// Once more a while later, for a frame a handler was still
		// working on the first time.
		time.AfterFunc(largeFrameLater, debug.FreeOSMemory)
	})
}

// largeFrameLater is when memory is returned a second time after a large
// frame.
const largeFrameLater = 2 * time.Second
