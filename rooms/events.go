package rooms

import (
	"strconv"
	"sync"
	"sync/atomic"
)

// EventKind is the kind of a membership Event. The zero value is not a valid
// kind.
type EventKind uint8

// The four room events of socket.io's Adapter.
const (
	// CreateRoom: a room got its first member. Event.Member is empty.
	CreateRoom EventKind = iota + 1
	// DeleteRoom: a room lost its last member. Event.Member is empty.
	DeleteRoom
	// JoinRoom: Event.Member joined Event.Room.
	JoinRoom
	// LeaveRoom: Event.Member left Event.Room.
	LeaveRoom
)

// String returns socket.io's name of the event: "create-room",
// "delete-room", "join-room" or "leave-room".
func (k EventKind) String() string {
	switch k {
	case CreateRoom:
		return "create-room"
	case DeleteRoom:
		return "delete-room"
	case JoinRoom:
		return "join-room"
	case LeaveRoom:
		return "leave-room"
	}
	return "EventKind(" + strconv.Itoa(int(k)) + ")"
}

// Event is a change of membership, passed to the handlers given to
// Subscribe. The package documentation lists the order in which events fire.
type Event struct {
	Kind   EventKind
	Room   string
	Member string // the member's id; empty for CreateRoom and DeleteRoom
}

// subscriber wraps a handler so that cancel can find it (funcs are not
// comparable).
type subscriber struct {
	fn func(Event)
}

// subscribers is a copy-on-write list of event handlers: emit loads it
// without a lock; subscribe and cancel replace it under mu.
type subscribers struct {
	mu   sync.Mutex // serializes replacements of list
	list atomic.Pointer[[]*subscriber]
}

// subscribe adds fn and returns a func that removes it. It is safe for
// concurrent use with everything.
func (s *subscribers) subscribe(fn func(Event)) (cancel func()) {
	if fn == nil {
		return func() {}
	}
	sub := &subscriber{fn: fn}
	s.mu.Lock()
	defer s.mu.Unlock()
	var old []*subscriber
	if p := s.list.Load(); p != nil {
		old = *p
	}
	next := make([]*subscriber, len(old), len(old)+1)
	copy(next, old)
	next = append(next, sub)
	s.list.Store(&next)
	return func() { s.cancel(sub) }
}

// cancel removes sub; it does nothing if sub was already removed.
func (s *subscribers) cancel(sub *subscriber) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.list.Load()
	if p == nil {
		return
	}
	next := make([]*subscriber, 0, len(*p))
	for _, x := range *p {
		if x != sub {
			next = append(next, x)
		}
	}
	if len(next) == len(*p) {
		return
	}
	if len(next) == 0 {
		s.list.Store(nil)
		return
	}
	s.list.Store(&next)
}

// emit calls every handler with e, in subscription order.
func (s *subscribers) emit(e Event) {
	p := s.list.Load()
	if p == nil {
		return
	}
	for _, sub := range *p {
		sub.fn(e)
	}
}
