package registry

import (
	"testing"

	"github.com/dividere-go/dividere/msglib"
)

// A server's history vouches for the changes after a revision only when
// it knows every one of them: from its first change on, and once changes
// were evicted, from the oldest it kept.
func TestHistoryCompleteness(t *testing.T) {
	var h history
	if rep := h.after(0); rep.Complete || len(rep.Events) != 0 {
		t.Fatalf("empty history: %+v", rep)
	}
	// Revisions 10, 12, 14, ...: a shared store numbers others' writes too.
	rev := func(i int) uint64 { return uint64(10 + 2*i) }
	for i := range historySize {
		h.add(&msglib.ServiceEvent{Revision: rev(i)})
	}
	if rep := h.after(9); !rep.Complete || len(rep.Events) != historySize || rep.Revision != rev(historySize-1) {
		t.Fatalf("after 9: complete %v, %d events, revision %d", rep.Complete, len(rep.Events), rep.Revision)
	}
	if rep := h.after(8); rep.Complete {
		t.Fatal("vouched for revision 9, from before its first change")
	}
	h.add(&msglib.ServiceEvent{Revision: rev(historySize)}) // evicts revision 10
	if rep := h.after(9); rep.Complete {
		t.Fatal("vouched for revision 10 after evicting it")
	}
	rep := h.after(10)
	if !rep.Complete || len(rep.Events) != historySize || rep.Events[0].Revision != 12 || rep.Events[historySize-1].Revision != rev(historySize) {
		t.Fatalf("after 10: complete %v, %d events", rep.Complete, len(rep.Events))
	}
	if rep := h.after(rev(historySize)); !rep.Complete || len(rep.Events) != 0 {
		t.Fatalf("after the last: %+v", rep)
	}
	h.reset()
	if rep := h.after(rev(historySize)); rep.Complete {
		t.Fatal("vouched after its store's watch ended")
	}
}
