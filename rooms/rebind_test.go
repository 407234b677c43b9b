package rooms

import (
	"errors"
	"fmt"
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

// TestOwnRoom follows a member's own room through its lives: implicit while
// the member is alone in it (broadcasts and Rebind reach it, events fire as
// for a stored room), a real room once another member joins it, and a
// normal room that outlives its owner.
func TestOwnRoom(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	l, err := NewLocal(Config{Sink: rec})
	if err != nil {
		t.Fatal(err)
	}
	var events []Event
	cancel := l.Subscribe(func(e Event) { events = append(events, e) })
	defer cancel()
	a, b := &testMember{id: "a", group: 1}, &testMember{id: "b", group: 1}
	mustAdd(t, l, a, b)
	reach := func(step string, opts BroadcastOptions, want map[int][]string) {
		t.Helper()
		rec.take()
		n := l.Broadcast([]byte("m"), opts)
		got := byGroup(t, rec.take())
		if fmt.Sprint(got) != fmt.Sprint(want) || n != len(got[1])+len(got[2]) {
			t.Errorf("%s: broadcast reached %v (n=%d), want %v", step, got, n, want)
		}
	}
	alone := BroadcastOptions{Rooms: names("a")}
	reach("alone", alone, map[int][]string{1: {"a"}})
	reach("except own room", BroadcastOptions{Except: names("a")}, map[int][]string{1: {"b"}})
	if got := l.Members("a"); fmt.Sprint(got) != "[a]" {
		t.Errorf("Members(a) = %v, want [a]", got)
	}
	if err := l.Join("a", []byte("a")); err != nil || fmt.Sprint(l.RoomsOf("a")) != "[a]" {
		t.Errorf("joining its own room: %v, RoomsOf = %v, want nothing to do", err, l.RoomsOf("a"))
	}

	moved := &testMember{id: "a", group: 2}
	if err := l.Rebind(moved); err != nil {
		t.Fatal(err)
	}
	reach("after Rebind", alone, map[int][]string{2: {"a"}})

	events = nil
	mustJoin(t, l, "b", "a")
	if want := "[{join-room a b}]"; fmt.Sprint(events) != want {
		t.Errorf("b joins a's own room: events %v, want %s (the room existed)", events, want)
	}
	reach("shared", alone, map[int][]string{1: {"b"}, 2: {"a"}})
	reach("shared, except b", BroadcastOptions{Rooms: names("a"), Except: names("b")}, map[int][]string{2: {"a"}})
	if err := l.Rebind(a); err != nil {
		t.Fatal(err)
	}
	reach("shared, after Rebind", alone, map[int][]string{1: {"a", "b"}})

	events = nil
	l.Remove("a")
	if want := "[{leave-room a a}]"; fmt.Sprint(events) != want {
		t.Errorf("Remove(a) with b in its room: events %v, want %s", events, want)
	}
	reach("owner gone", alone, map[int][]string{1: {"b"}})
	events = nil
	if err := l.Leave("b", []byte("a")); err != nil {
		t.Fatal(err)
	}
	if want := "[{leave-room a b} {delete-room a }]"; fmt.Sprint(events) != want {
		t.Errorf("last member leaves: events %v, want %s", events, want)
	}
	reach("deleted", alone, map[int][]string{})
	checkInvariants(t, l)
}
