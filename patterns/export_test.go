package patterns

// WorkerState reports what the broker holds for worker id, and how long
// its line of available workers is, for tests of what announcements can
// make it keep.
func WorkerState(b *Broker, id string) (capacity, credit, busy, line int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if w := b.workers[id]; w != nil {
		capacity, credit, busy = w.capacity, w.credit, w.busy
	}
	return capacity, credit, busy, len(b.ready)
}

// The bounds the tests check the broker and the client keep to.
const (
	MaxCapacity   = maxCapacity
	InitialCredit = initialCredit
	RequestIDSize = requestIDSize
)
