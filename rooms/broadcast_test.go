package rooms

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
)

// groupIDs maps a group to the sorted ids delivered to it.
type groupIDs map[int][]string

// byGroup checks that calls has at most one call per group, in ascending
// group order, and no id twice across calls, and returns the ids per group.
func byGroup(t *testing.T, calls []delivery) groupIDs {
	t.Helper()
	got := make(groupIDs)
	seen := make(map[string]bool)
	for i, c := range calls {
		if _, ok := got[c.group]; ok {
			t.Errorf("group %d: Deliver called twice", c.group)
		}
		if i > 0 && c.group < calls[i-1].group {
			t.Errorf("group %d delivered after group %d", c.group, calls[i-1].group)
		}
		if len(c.ids) == 0 {
			t.Errorf("group %d: Deliver called with no members", c.group)
		}
		for _, id := range c.ids {
			if seen[id] {
				t.Errorf("member %q delivered twice", id)
			}
			seen[id] = true
		}
		got[c.group] = c.ids
	}
	return got
}

func TestBroadcast(t *testing.T) {
	t.Parallel()
	// Rooms: x = {a, b, c}, y = {b, d}, z = {e}; groups: a, c: 0; b, e: 1; d: 2.
	tests := []struct {
		name   string
		rooms  []string
		except []string
		want   groupIDs
	}{
		{
			name:  "one room",
			rooms: []string{"x"},
			want:  groupIDs{0: {"a", "c"}, 1: {"b"}},
		},
		{
			name:  "union is deduplicated",
			rooms: []string{"x", "y"},
			want:  groupIDs{0: {"a", "c"}, 1: {"b"}, 2: {"d"}},
		},
		{
			name:  "same room twice",
			rooms: []string{"y", "y"},
			want:  groupIDs{1: {"b"}, 2: {"d"}},
		},
		{
			name:   "except a member by its own room",
			rooms:  []string{"x"},
			except: []string{"a"},
			want:   groupIDs{0: {"c"}, 1: {"b"}},
		},
		{
			name:   "except a whole group",
			rooms:  []string{"x"},
			except: []string{"b"},
			want:   groupIDs{0: {"a", "c"}},
		},
		{
			name:   "except a room",
			rooms:  []string{"x", "y", "z"},
			except: []string{"y"},
			want:   groupIDs{0: {"a", "c"}, 1: {"e"}},
		},
		{
			name:   "except rooms and members",
			rooms:  []string{"x", "y"},
			except: []string{"z", "a", "d", "nope"},
			want:   groupIDs{0: {"c"}, 1: {"b"}},
		},
		{
			name: "no rooms means everyone",
			want: groupIDs{0: {"a", "c"}, 1: {"b", "e"}, 2: {"d"}},
		},
		{
			name:   "everyone except",
			except: []string{"x"},
			want:   groupIDs{1: {"e"}, 2: {"d"}},
		},
		{
			name:  "unknown room",
			rooms: []string{"nope"},
			want:  groupIDs{},
		},
		{
			name:  "unknown and known rooms",
			rooms: []string{"nope", "z"},
			want:  groupIDs{1: {"e"}},
		},
		{
			name:   "everyone excluded",
			rooms:  []string{"y"},
			except: []string{"x", "d"},
			want:   groupIDs{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			l := newTestLocal(t, rec, 0)
			mustAdd(t, l,
				&testMember{id: "a", group: 0},
				&testMember{id: "b", group: 1},
				&testMember{id: "c", group: 0},
				&testMember{id: "d", group: 2},
				&testMember{id: "e", group: 1},
			)
			mustJoin(t, l, "a", "x")
			mustJoin(t, l, "b", "x", "y")
			mustJoin(t, l, "c", "x")
			mustJoin(t, l, "d", "y")
			mustJoin(t, l, "e", "z")

			origin := &struct{ loop int }{3}
			n := l.Broadcast([]byte("hi"), BroadcastOptions{Rooms: names(tt.rooms...), Except: names(tt.except...), Origin: origin})
			calls := rec.take()
			got := byGroup(t, calls)
			if !maps.EqualFunc(got, tt.want, slices.Equal) {
				t.Errorf("got recipients %v, want %v", got, tt.want)
			}
			want := 0
			for _, ids := range tt.want {
				want += len(ids)
			}
			if n != want {
				t.Errorf("got %d recipients, want %d", n, want)
			}
			for _, c := range calls {
				if c.origin != origin || c.msg != "hi" {
					t.Errorf("group %d: got origin %v and msg %q, want %v and %q", c.group, c.origin, c.msg, origin, "hi")
				}
			}
		})
	}
}

// TestBroadcastModel checks random broadcasts against a direct computation
// over random memberships.
func TestBroadcastModel(t *testing.T) {
	t.Parallel()
	for seed := range uint64(20) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(seed, 1))
			rec := &recorder{}
			l := newTestLocal(t, rec, 0)
			member := make(map[string]map[string]bool) // room -> ids
			groupOf := make(map[string]int)
			nMembers, nRooms, nGroups := 1+rng.IntN(300), 1+rng.IntN(10), 1+rng.IntN(5)
			for i := range nMembers {
				id := fmt.Sprintf("m%d", i)
				groupOf[id] = rng.IntN(nGroups)
				mustAdd(t, l, &testMember{id: id, group: groupOf[id]})
				member[id] = map[string]bool{id: true}
				for r := range nRooms {
					if rng.IntN(3) == 0 {
						room := fmt.Sprintf("r%d", r)
						mustJoin(t, l, id, room)
						if member[room] == nil {
							member[room] = make(map[string]bool)
						}
						member[room][id] = true
					}
				}
			}
			pick := func(max int) []string {
				var rs []string
				for range rng.IntN(max + 1) {
					if rng.IntN(4) == 0 {
						rs = append(rs, fmt.Sprintf("m%d", rng.IntN(nMembers)))
					} else {
						rs = append(rs, fmt.Sprintf("r%d", rng.IntN(nRooms+1)))
					}
				}
				return rs
			}
			for range 50 {
				rooms, except := pick(4), pick(3)
				want := make(groupIDs)
				for id, g := range groupOf {
					in := len(rooms) == 0
					for _, r := range rooms {
						in = in || member[r][id]
					}
					for _, r := range except {
						in = in && !member[r][id]
					}
					if in {
						want[g] = append(want[g], id)
					}
				}
				for _, ids := range want {
					slices.Sort(ids)
				}
				l.Broadcast(nil, BroadcastOptions{Rooms: names(rooms...), Except: names(except...)})
				if got := byGroup(t, rec.take()); !maps.EqualFunc(got, want, slices.Equal) {
					t.Fatalf("rooms %q except %q: got %v, want %v", rooms, except, got, want)
				}
			}
		})
	}
}

func TestBroadcastSinkRemoves(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		rooms  []string
		except []string
	}{
		{name: "one room", rooms: []string{"x"}},
		{name: "one room except", rooms: []string{"x"}, except: []string{"m0"}},
		{name: "several rooms", rooms: []string{"x", "y"}},
		{name: "everyone", except: []string{"m0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var l *Local
			removed, nested := 0, false
			l = newTestLocal(t, SinkFunc(func(_ any, _ int, _ []byte, ms []Member) {
				if nested {
					return
				}
				for _, m := range ms {
					l.Remove(m.ID()) // the connection failed
					removed++
					nested = true
					l.Broadcast(nil, BroadcastOptions{Rooms: names("x")})
					nested = false
				}
			}), 0)
			for i := range 20 {
				id := fmt.Sprintf("m%d", i)
				mustAdd(t, l, &testMember{id: id, group: i % 3})
				mustJoin(t, l, id, "x", "y")
			}
			n := l.Broadcast(nil, BroadcastOptions{Rooms: names(tt.rooms...), Except: names(tt.except...)})
			if n != removed {
				t.Errorf("got %d recipients, want %d", n, removed)
			}
			checkInvariants(t, l)
		})
	}
}

func TestSnapshotReuse(t *testing.T) {
	t.Parallel()
	l := newTestLocal(t, nopSink, 0)
	mustAdd(t, l, &testMember{id: "a"}, &testMember{id: "b", group: 1})
	mustJoin(t, l, "a", "x")
	first := l.roomSnapshot([]byte("x"))
	if again := l.roomSnapshot([]byte("x")); again != first {
		t.Errorf("unchanged room: snapshot rebuilt")
	}
	mustJoin(t, l, "b", "x")
	second := l.roomSnapshot([]byte("x"))
	if second == first {
		t.Fatalf("after a join: got the old snapshot")
	}
	if got, want := []string{second.keys[0].id, second.keys[1].id}, []string{"a", "b"}; !slices.Equal(got, want) {
		t.Errorf("got snapshot ids %q, want %q", got, want)
	}
	if got, want := second.spans, []span{{group: 0, lo: 0, hi: 1}, {group: 1, lo: 1, hi: 2}}; !slices.Equal(got, want) {
		t.Errorf("got spans %v, want %v", got, want)
	}
}
