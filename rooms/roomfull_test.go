package rooms

import (
	"errors"
	"slices"
	"testing"
)

// TestMaxMembersPerRoom fills a room: the next Join fails with
// ErrRoomFull and joins none of its rooms; a Leave makes a place.
func TestMaxMembersPerRoom(t *testing.T) {
	t.Parallel()
	l, err := NewLocal(Config{Sink: &recorder{}, MaxMembersPerRoom: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b", "c"} {
		mustAdd(t, l, &testMember{id: id})
	}
	for _, id := range []string{"a", "b"} {
		if err := l.Join(id, names("full")...); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Join("c", names("other", "full")...); !errors.Is(err, ErrRoomFull) {
		t.Fatalf("third Join: got %v, want ErrRoomFull", err)
	}
	if got := l.RoomsOf("c"); len(got) != 1 {
		t.Errorf("c is in %v after a refused Join, want its own room only", got)
	}
	if err := l.Join("a", names("full")...); err != nil {
		t.Errorf("joining a room one is in already: %v", err)
	}
	if err := l.Leave("b", names("full")...); err != nil {
		t.Fatal(err)
	}
	if err := l.Join("c", names("other", "full")...); err != nil {
		t.Fatalf("Join after a Leave: %v", err)
	}
	if got := l.Members("full"); !slices.Equal(sorted(got), []string{"a", "c"}) {
		t.Errorf("full holds %v, want a, c", got)
	}
	if _, err := NewLocal(Config{Sink: &recorder{}, MaxMembersPerRoom: -1}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("negative MaxMembersPerRoom: got %v", err)
	}
}
