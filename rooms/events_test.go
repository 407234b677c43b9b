package rooms

import (
	"errors"
	"slices"
	"sync"
	"testing"
)

func create(room string) Event    { return Event{Kind: CreateRoom, Room: room} }
func del(room string) Event       { return Event{Kind: DeleteRoom, Room: room} }
func join(room, id string) Event  { return Event{Kind: JoinRoom, Room: room, Member: id} }
func leave(room, id string) Event { return Event{Kind: LeaveRoom, Room: room, Member: id} }

func TestEventOrder(t *testing.T) {
	t.Parallel()
	a, b := &testMember{id: "a"}, &testMember{id: "b", group: 1}
	tests := []struct {
		name    string
		setup   func(t *testing.T, l *Local) // before subscribing
		do      func(l *Local) error
		wantErr error
		want    []Event
	}{
		{
			name: "add",
			do:   func(l *Local) error { return l.Add(a) },
			want: []Event{create("a"), join("a", "a")},
		},
		{
			name: "add when own room exists",
			setup: func(t *testing.T, l *Local) {
				mustAdd(t, l, b)
				mustJoin(t, l, "b", "a")
			},
			do:   func(l *Local) error { return l.Add(a) },
			want: []Event{join("a", "a")},
		},
		{
			name: "join in argument order, repeats and joined rooms skipped",
			setup: func(t *testing.T, l *Local) {
				mustAdd(t, l, a, b)
				mustJoin(t, l, "b", "x")
				mustJoin(t, l, "a", "w")
			},
			do: func(l *Local) error { return l.Join("a", names("y", "x", "y", "a", "w")...) },
			want: []Event{
				create("y"), join("y", "a"),
				join("x", "a"),
			},
		},
		{
			name:  "join nothing new",
			setup: func(t *testing.T, l *Local) { mustAdd(t, l, a); mustJoin(t, l, "a", "x") },
			do:    func(l *Local) error { return l.Join("a", names("x", "a")...) },
		},
		{
			name: "leave in argument order, rooms not joined skipped",
			setup: func(t *testing.T, l *Local) {
				mustAdd(t, l, a, b)
				mustJoin(t, l, "a", "x", "y")
				mustJoin(t, l, "b", "x")
			},
			do: func(l *Local) error { return l.Leave("a", names("y", "x", "z", "y")...) },
			want: []Event{
				leave("y", "a"), del("y"),
				leave("x", "a"),
			},
		},
		{
			name: "remove in join order, own room first",
			setup: func(t *testing.T, l *Local) {
				mustAdd(t, l, a, b)
				mustJoin(t, l, "a", "x", "y")
				mustJoin(t, l, "b", "y")
			},
			do: func(l *Local) error { l.Remove("a"); return nil },
			want: []Event{
				leave("a", "a"), del("a"),
				leave("x", "a"), del("x"),
				leave("y", "a"),
			},
		},
		{
			name: "remove while others are in own room",
			setup: func(t *testing.T, l *Local) {
				mustAdd(t, l, a, b)
				mustJoin(t, l, "b", "a")
			},
			do:   func(l *Local) error { l.Remove("a"); return nil },
			want: []Event{leave("a", "a")},
		},
		{
			name:  "remove unknown",
			setup: func(t *testing.T, l *Local) { mustAdd(t, l, a) },
			do:    func(l *Local) error { l.Remove("b"); return nil },
		},
		{
			name:    "duplicate add",
			setup:   func(t *testing.T, l *Local) { mustAdd(t, l, a) },
			do:      func(l *Local) error { return l.Add(&testMember{id: "a"}) },
			wantErr: ErrDuplicateMember,
		},
		{
			name:    "join over the limit",
			setup:   func(t *testing.T, l *Local) { mustAdd(t, l, a); mustJoin(t, l, "a", "x") },
			do:      func(l *Local) error { return l.Join("a", names("y", "z", "y", "v")...) },
			wantErr: ErrTooManyRooms,
		},
		{
			name:    "leave own room",
			setup:   func(t *testing.T, l *Local) { mustAdd(t, l, a); mustJoin(t, l, "a", "x") },
			do:      func(l *Local) error { return l.Leave("a", names("x", "a")...) },
			wantErr: ErrOwnRoom,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := newTestLocal(t, nopSink, 3)
			if tt.setup != nil {
				tt.setup(t, l)
			}
			var got []Event
			cancel := l.Subscribe(func(e Event) { got = append(got, e) })
			defer cancel()
			if err := tt.do(l); !errors.Is(err, tt.wantErr) {
				t.Fatalf("got error %v, want %v", err, tt.wantErr)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got events %v, want %v", got, tt.want)
			}
			checkInvariants(t, l)
		})
	}
}

func TestEventKindString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kind EventKind
		want string
	}{
		{CreateRoom, "create-room"},
		{DeleteRoom, "delete-room"},
		{JoinRoom, "join-room"},
		{LeaveRoom, "leave-room"},
		{0, "EventKind(0)"},
		{9, "EventKind(9)"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			t.Parallel()
			if got := tt.kind.String(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSubscribeCancel(t *testing.T) {
	t.Parallel()
	l := newTestLocal(t, nopSink, 0)
	var first, second int
	cancelFirst := l.Subscribe(func(Event) { first++ })
	cancelSecond := l.Subscribe(func(Event) { second++ })
	defer cancelSecond()
	mustAdd(t, l, &testMember{id: "a"}) // 2 events for both
	cancelFirst()
	cancelFirst()                       // a second cancel does nothing
	mustAdd(t, l, &testMember{id: "b"}) // 2 events for the second only
	if first != 2 || second != 4 {
		t.Errorf("got %d and %d events, want 2 and 4", first, second)
	}
	l.Subscribe(nil)() // ignored
}

// TestSubscribeConcurrent subscribes and cancels while members come and go;
// under -race it checks the handler list is published safely.
func TestSubscribeConcurrent(t *testing.T) {
	t.Parallel()
	l := newTestLocal(t, nopSink, 0)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				cancel := l.Subscribe(func(Event) {})
				id := string(rune('a'+g)) + string(rune('0'+i%10))
				_ = l.Add(&testMember{id: id})
				l.Remove(id)
				cancel()
			}
		})
	}
	wg.Wait()
	checkInvariants(t, l)
}
