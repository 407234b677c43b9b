package rooms

import (
	"errors"
	"testing"
)

// TestRebind moves a member to another group (a session that reconnected
// over another loop): it stays in its rooms, no event fires, and
// broadcasts reach the new member object in its new group.
func TestRebind(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	l, err := NewLocal(Config{Sink: rec})
	if err != nil {
		t.Fatal(err)
	}
	old := &testMember{id: "a", group: 1}
	other := &testMember{id: "b", group: 1}
	for _, m := range []*testMember{old, other} {
		if err := l.Add(m); err != nil {
			t.Fatal(err)
		}
		if err := l.Join(m.id, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	var events []Event
	cancel := l.Subscribe(func(e Event) { events = append(events, e) })
	defer cancel()

	moved := &testMember{id: "a", group: 2}
	if err := l.Rebind(moved); err != nil {
		t.Fatalf("Rebind: %v", err)
	}
	if len(events) != 0 {
		t.Errorf("Rebind emitted %v, want no events", events)
	}
	if got := l.RoomsOf("a"); len(got) != 2 || got[1] != "x" {
		t.Errorf("RoomsOf(a) after Rebind = %v, want [a x]", got)
	}
	for _, opts := range []BroadcastOptions{{Rooms: [][]byte{[]byte("x")}}, {}} {
		rec.take()
		l.Broadcast([]byte("m"), opts)
		got := byGroup(t, rec.take())
		if len(got[2]) != 1 || got[2][0] != "a" || len(got[1]) != 1 || got[1][0] != "b" {
			t.Errorf("broadcast %v after Rebind reached %v, want a in group 2 and b in group 1", opts.Rooms, got)
		}
	}
	if err := l.Rebind(&testMember{id: "nobody"}); !errors.Is(err, ErrUnknownMember) {
		t.Errorf("Rebind of an unknown id = %v, want ErrUnknownMember", err)
	}
	l.Remove("a")
	if err := l.Rebind(moved); !errors.Is(err, ErrUnknownMember) {
		t.Errorf("Rebind after Remove = %v, want ErrUnknownMember", err)
	}
}

// TestMemberSet crosses the small/big boundary both ways.
func TestMemberSet(t *testing.T) {
	t.Parallel()
	var s memberSet
	ids := make([]string, 3*smallRoom)
	for i := range ids {
		ids[i] = string(rune('a' + i))
		s.set(ids[i], &testMember{id: ids[i]})
		if got := s.len(); got != i+1 {
			t.Fatalf("after %d sets: len %d", i+1, got)
		}
	}
	s.set(ids[0], &testMember{id: ids[0], group: 7}) // replace
	if s.len() != len(ids) {
		t.Fatalf("replace changed len to %d", s.len())
	}
	for i, id := range ids {
		if !s.has(id) || !s.del(id) || s.has(id) || s.del(id) {
			t.Fatalf("del %q misbehaved", id)
		}
		if got := s.len(); got != len(ids)-i-1 {
			t.Fatalf("after %d dels: len %d", i+1, got)
		}
	}
}
