package rooms

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

func TestNewLocalConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     Config
		wantErr error
		wantMax int
	}{
		{name: "defaults", cfg: Config{Sink: nopSink}, wantMax: 256},
		{name: "limit", cfg: Config{Sink: nopSink, MaxRoomsPerMember: 3}, wantMax: 3},
		{name: "nil sink", cfg: Config{}, wantErr: ErrInvalidConfig},
		{name: "nil SinkFunc", cfg: Config{Sink: SinkFunc(nil)}, wantErr: ErrInvalidConfig},
		{name: "negative limit", cfg: Config{Sink: nopSink, MaxRoomsPerMember: -1}, wantErr: ErrInvalidConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l, err := NewLocal(tt.cfg)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("got error %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if l.maxRooms != tt.wantMax {
				t.Errorf("got MaxRoomsPerMember %d, want %d", l.maxRooms, tt.wantMax)
			}
		})
	}
}

func TestMembershipErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		do        func(l *Local) error
		wantErr   error
		wantRooms []string // RoomsOf("a") afterwards
	}{
		{
			name:      "duplicate add",
			do:        func(l *Local) error { return l.Add(&testMember{id: "a", group: 7}) },
			wantErr:   ErrDuplicateMember,
			wantRooms: []string{"a", "x"},
		},
		{
			name:      "join unknown",
			do:        func(l *Local) error { return l.Join("nobody", names("x")...) },
			wantErr:   ErrUnknownMember,
			wantRooms: []string{"a", "x"},
		},
		{
			name:      "leave unknown",
			do:        func(l *Local) error { return l.Leave("nobody", names("x")...) },
			wantErr:   ErrUnknownMember,
			wantRooms: []string{"a", "x"},
		},
		{
			name:      "leave own room leaves nothing",
			do:        func(l *Local) error { return l.Leave("a", names("x", "a")...) },
			wantErr:   ErrOwnRoom,
			wantRooms: []string{"a", "x"},
		},
		{
			name: "join after remove",
			do: func(l *Local) error {
				l.Remove("a")
				return l.Join("a", names("y")...)
			},
			wantErr: ErrUnknownMember,
		},
		{
			name: "leave after remove",
			do: func(l *Local) error {
				l.Remove("a")
				return l.Leave("a", names("x")...)
			},
			wantErr: ErrUnknownMember,
		},
		{
			name: "remove twice",
			do: func(l *Local) error {
				l.Remove("a")
				l.Remove("a")
				return nil
			},
		},
		{
			name: "add again after remove",
			do: func(l *Local) error {
				l.Remove("a")
				return l.Add(&testMember{id: "a"})
			},
			wantRooms: []string{"a"},
		},
		{
			name:      "join nothing",
			do:        func(l *Local) error { return l.Join("a") },
			wantRooms: []string{"a", "x"},
		},
		{
			name:      "leave room not joined",
			do:        func(l *Local) error { return l.Leave("a", names("nope")...) },
			wantRooms: []string{"a", "x"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := newTestLocal(t, nopSink, 0)
			mustAdd(t, l, &testMember{id: "a"})
			mustJoin(t, l, "a", "x")
			if err := tt.do(l); !errors.Is(err, tt.wantErr) {
				t.Fatalf("got error %v, want %v", err, tt.wantErr)
			}
			if got := l.RoomsOf("a"); !slices.Equal(got, tt.wantRooms) {
				t.Errorf("got RoomsOf(a) %q, want %q", got, tt.wantRooms)
			}
			checkInvariants(t, l)
		})
	}
}

func TestJoinLimit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		limit     int
		joined    []string // joined first
		join      []string
		wantErr   error
		wantRooms []string
	}{
		{
			name:      "up to the limit",
			limit:     2,
			join:      []string{"x", "y"},
			wantRooms: []string{"a", "x", "y"},
		},
		{
			name:      "over the limit joins nothing",
			limit:     2,
			join:      []string{"x", "y", "z"},
			wantErr:   ErrTooManyRooms,
			wantRooms: []string{"a"},
		},
		{
			name:      "repeats count once",
			limit:     2,
			join:      []string{"x", "y", "x", "y"},
			wantRooms: []string{"a", "x", "y"},
		},
		{
			name:      "own and joined rooms do not count",
			limit:     2,
			joined:    []string{"x"},
			join:      []string{"a", "x", "y"},
			wantRooms: []string{"a", "x", "y"},
		},
		{
			name:      "at the limit, rejoin is a no-op",
			limit:     2,
			joined:    []string{"x", "y"},
			join:      []string{"y", "x"},
			wantRooms: []string{"a", "x", "y"},
		},
		{
			name:      "at the limit, one more fails",
			limit:     2,
			joined:    []string{"x", "y"},
			join:      []string{"x", "z"},
			wantErr:   ErrTooManyRooms,
			wantRooms: []string{"a", "x", "y"},
		},
		{
			name:      "default limit",
			join:      roomNames(256),
			wantRooms: append([]string{"a"}, roomNames(256)...),
		},
		{
			name:      "default limit plus one",
			join:      roomNames(257),
			wantErr:   ErrTooManyRooms,
			wantRooms: []string{"a"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := newTestLocal(t, nopSink, tt.limit)
			mustAdd(t, l, &testMember{id: "a"})
			mustJoin(t, l, "a", tt.joined...)
			if err := l.Join("a", names(tt.join...)...); !errors.Is(err, tt.wantErr) {
				t.Fatalf("got error %v, want %v", err, tt.wantErr)
			}
			if got := l.RoomsOf("a"); !slices.Equal(got, tt.wantRooms) {
				t.Errorf("got RoomsOf(a) %q, want %q", got, tt.wantRooms)
			}
			checkInvariants(t, l)
		})
	}
}

// roomNames returns n distinct room names.
func roomNames(n int) []string {
	rs := make([]string, n)
	for i := range rs {
		rs[i] = fmt.Sprintf("room-%d", i)
	}
	return rs
}

func TestRoomsOfAndMembers(t *testing.T) {
	t.Parallel()
	l := newTestLocal(t, nopSink, 0)
	mustAdd(t, l, &testMember{id: "a"}, &testMember{id: "b"}, &testMember{id: "c"})
	mustJoin(t, l, "a", "z", "x", "y")
	mustJoin(t, l, "b", "x")
	mustJoin(t, l, "c", "a") // another member's own room: allowed by the adapter
	if err := l.Leave("a", names("x")...); err != nil {
		t.Fatalf("Leave: %v", err)
	}
	mustJoin(t, l, "a", "x")

	rooms := []struct {
		id   string
		want []string
	}{
		{"a", []string{"a", "z", "y", "x"}},
		{"b", []string{"b", "x"}},
		{"c", []string{"c", "a"}},
		{"nobody", nil},
	}
	for _, tt := range rooms {
		if got := l.RoomsOf(tt.id); !slices.Equal(got, tt.want) {
			t.Errorf("got RoomsOf(%q) %q, want %q", tt.id, got, tt.want)
		}
	}

	members := []struct {
		room string
		want []string
	}{
		{"x", []string{"a", "b"}},
		{"a", []string{"a", "c"}},
		{"z", []string{"a"}},
		{"nope", nil},
	}
	for _, tt := range members {
		if got := sorted(l.Members(tt.room)); !slices.Equal(got, tt.want) {
			t.Errorf("got Members(%q) %q, want %q", tt.room, got, tt.want)
		}
	}

	l.Remove("a")
	if got, want := sorted(l.Members("a")), []string{"c"}; !slices.Equal(got, want) {
		t.Errorf("after Remove(a): got Members(a) %q, want %q", got, want)
	}
	if got := l.Members("z"); got != nil {
		t.Errorf("after Remove(a): got Members(z) %q, want nil", got)
	}
	checkInvariants(t, l)
}

func TestRoomsOfIsACopy(t *testing.T) {
	t.Parallel()
	l := newTestLocal(t, nopSink, 0)
	mustAdd(t, l, &testMember{id: "a"})
	mustJoin(t, l, "a", "x")
	l.RoomsOf("a")[1] = "changed"
	if got, want := l.RoomsOf("a"), []string{"a", "x"}; !slices.Equal(got, want) {
		t.Errorf("got RoomsOf(a) %q, want %q", got, want)
	}
}
