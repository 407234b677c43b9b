package testutil

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/packetd/packetd/rooms"
)

// Events records the room events of an adapter, in the order its handler
// saw them. It is safe for concurrent use.
type Events struct {
	mu     sync.Mutex // guards the fields below
	list   []rooms.Event
	change chan struct{} // closed and replaced on every event
}

// RecordEvents subscribes to a's events until the test ends.
func RecordEvents(t testing.TB, a rooms.Adapter) *Events {
	e := &Events{change: make(chan struct{})}
	cancel := a.Subscribe(e.add)
	t.Cleanup(cancel)
	return e
}

// add is the handler: quick, and it calls nothing of the adapter.
func (e *Events) add(ev rooms.Event) {
	e.mu.Lock()
	e.list = append(e.list, ev)
	close(e.change)
	e.change = make(chan struct{})
	e.mu.Unlock()
}

// Of returns, in order, the recorded events that involve member, and the
// create-room and delete-room events of its own room and of the named
// rooms, from the first event of the member's own room on. The events of
// one member are totally ordered; those of different members need not be.
func (e *Events) Of(member string, roomNames ...string) []rooms.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []rooms.Event
	for _, ev := range e.list {
		switch {
		case ev.Member == member:
		case ev.Member == "" && ev.Room == member:
		case ev.Member == "" && len(out) > 0 && slices.Contains(roomNames, ev.Room):
		default:
			continue
		}
		out = append(out, ev)
	}
	return out
}

// Wait waits until want has been recorded, failing the test after Timeout.
func (e *Events) Wait(t testing.TB, want rooms.Event) {
	t.Helper()
	deadline := time.NewTimer(Timeout)
	defer deadline.Stop()
	for {
		e.mu.Lock()
		found := slices.Contains(e.list, want)
		change := e.change
		e.mu.Unlock()
		if found {
			return
		}
		select {
		case <-change:
		case <-deadline.C:
			t.Fatalf("no %v event for room %q member %q within %v", want.Kind, want.Room, want.Member, Timeout)
		}
	}
}
