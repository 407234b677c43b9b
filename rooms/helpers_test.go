package rooms

import (
	"slices"
	"sync"
	"testing"
)

// testMember is a Member with a fixed id and group.
type testMember struct {
	id    string
	group int
}

func (m *testMember) ID() string { return m.id }
func (m *testMember) Group() int { return m.group }

// delivery is one recorded Deliver call.
type delivery struct {
	origin any
	group  int
	msg    string
	ids    []string // sorted
}

// recorder is a Sink that records every Deliver call.
type recorder struct {
	mu    sync.Mutex
	calls []delivery
}

func (r *recorder) Deliver(origin any, group int, msg []byte, members []Member) {
	ids := make([]string, len(members))
	for i, m := range members {
		ids[i] = m.ID()
	}
	slices.Sort(ids)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, delivery{origin: origin, group: group, msg: string(msg), ids: ids})
}

// take returns the recorded calls and forgets them.
func (r *recorder) take() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	calls := r.calls
	r.calls = nil
	return calls
}

// newTestLocal returns a Local with the given sink and limit, failing t on
// error.
func newTestLocal(t testing.TB, sink Sink, maxRooms int) *Local {
	t.Helper()
	l, err := NewLocal(Config{Sink: sink, MaxRoomsPerMember: maxRooms})
	if err != nil {
		t.Fatalf("NewLocal: %v", err)
	}
	return l
}

// nopSink is a Sink that does nothing.
var nopSink = SinkFunc(func(any, int, []byte, []Member) {})

// names converts room names to the [][]byte the API takes.
func names(ss ...string) [][]byte {
	bs := make([][]byte, len(ss))
	for i, s := range ss {
		bs[i] = []byte(s)
	}
	return bs
}

// mustAdd adds members, failing t on error.
func mustAdd(t testing.TB, l *Local, ms ...Member) {
	t.Helper()
	for _, m := range ms {
		if err := l.Add(m); err != nil {
			t.Fatalf("Add(%q): %v", m.ID(), err)
		}
	}
}

// mustJoin joins id to rooms, failing t on error.
func mustJoin(t testing.TB, l *Local, id string, rooms ...string) {
	t.Helper()
	if err := l.Join(id, names(rooms...)...); err != nil {
		t.Fatalf("Join(%q, %q): %v", id, rooms, err)
	}
}

// sorted returns a sorted copy of ss (nil stays nil).
func sorted(ss []string) []string {
	if ss == nil {
		return nil
	}
	ss = slices.Clone(ss)
	slices.Sort(ss)
	return ss
}

// checkInvariants fails t unless l's indexes agree: every room is non-empty
// and each of its members is registered and lists the room; every member
// lists distinct rooms, its own first, each of which holds it; its own
// room is virtual or real, never both; and every stored snapshot matches
// its set.
func checkInvariants(t testing.TB, l *Local) {
	t.Helper()
	roomsOf := make(map[string][]string)
	for i := range l.members {
		sh := &l.members[i]
		sh.mu.RLock()
		for id, st := range sh.states {
			st.mu.Lock()
			if st.removed {
				t.Errorf("member %q: removed but still registered", id)
			}
			if slices.Contains(st.rooms, id) {
				t.Errorf("member %q: own room stored among its rooms %q", id, st.rooms)
			}
			roomsOf[id] = append([]string{id}, st.rooms...)
			rs := l.roomShard(id)
			rs.mu.RLock()
			if r := rs.rooms[id]; st.ownIn == (r != nil) || r != nil && !r.members.has(id) {
				t.Errorf("member %q: in a virtual own room %v, real room %v", id, st.ownIn, r != nil)
			}
			rs.mu.RUnlock()
			st.mu.Unlock()
		}
		if s := sh.snap.Load(); s != nil && len(s.members) != len(sh.states) {
			t.Errorf("member shard %d: snapshot has %d members, want %d", i, len(s.members), len(sh.states))
		}
		sh.mu.RUnlock()
	}
	for id, rs := range roomsOf {
		if len(rs) == 0 || rs[0] != id {
			t.Errorf("RoomsOf(%q) = %q, want own room first", id, rs)
		}
		seen := make(map[string]bool)
		for _, r := range rs {
			if seen[r] {
				t.Errorf("RoomsOf(%q) = %q: %q twice", id, rs, r)
			}
			seen[r] = true
			if !slices.Contains(l.Members(r), id) {
				t.Errorf("RoomsOf(%q) has %q, but Members(%q) = %q", id, r, r, l.Members(r))
			}
		}
	}
	for i := range l.rooms {
		sh := &l.rooms[i]
		sh.mu.RLock()
		for name, r := range sh.rooms {
			if r.members.len() == 0 {
				t.Errorf("room %q: exists with no members", name)
			}
			for _, id := range r.members.appendIDs(nil) {
				if !slices.Contains(roomsOf[id], name) {
					t.Errorf("room %q has %q, but RoomsOf(%q) = %q", name, id, id, roomsOf[id])
				}
			}
			if s := r.snap.Load(); s != nil && len(s.members) != r.members.len() {
				t.Errorf("room %q: snapshot has %d members, want %d", name, len(s.members), r.members.len())
			}
		}
		sh.mu.RUnlock()
	}
}
