package rooms

import (
	"slices"
	"testing"
)

// TestListings checks RoomCount, RoomSizes, AllMembers and Member: own
// rooms are not rooms until joined by name, sizes follow joins and leaves.
func TestListings(t *testing.T) {
	t.Parallel()
	l := newTestLocal(t, &recorder{}, 0)
	for _, id := range []string{"a", "b", "c"} {
		if err := l.Add(&testMember{id: id}); err != nil {
			t.Fatal(err)
		}
	}
	if got := l.RoomCount(); got != 0 {
		t.Errorf("RoomCount with own rooms only: got %d, want 0", got)
	}
	mustJoin := func(id string, rooms ...string) {
		t.Helper()
		var names [][]byte
		for _, r := range rooms {
			names = append(names, []byte(r))
		}
		if err := l.Join(id, names...); err != nil {
			t.Fatal(err)
		}
	}
	mustJoin("a", "x", "y")
	mustJoin("b", "x")
	mustJoin("c", "z")
	l.Remove("c")
	want := []RoomSize{{"x", 2}, {"y", 1}}
	if got := l.RoomSizes(); !slices.Equal(got, want) {
		t.Errorf("RoomSizes: got %v, want %v", got, want)
	}
	if got := l.RoomCount(); got != 2 {
		t.Errorf("RoomCount: got %d, want 2", got)
	}
	var ids []string
	for _, m := range l.AllMembers() {
		ids = append(ids, m.ID())
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"a", "b"}) {
		t.Errorf("AllMembers: got %v, want [a b]", ids)
	}
	if m := l.Member("b"); m == nil || m.ID() != "b" {
		t.Errorf("Member(b): got %v", m)
	}
	if m := l.Member("c"); m != nil {
		t.Errorf("Member(c) after Remove: got %v, want nil", m)
	}
}
