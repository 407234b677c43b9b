package rooms

import (
	"math"
	"slices"
	"testing"
)

func TestKeySet(t *testing.T) {
	t.Parallel()
	// Same hashes with different ids (collisions), and hashes whose probes
	// wrap around the end of the table.
	keys := []key{
		{hash: 7, id: "a"},
		{hash: 7, id: "b"},
		{hash: math.MaxUint64, id: "c"},
		{hash: math.MaxUint64, id: "d"},
		{hash: math.MaxUint64 - 1, id: "e"},
		{hash: 0, id: ""},
	}
	var s keySet
	for round := range 2 { // the second round reuses the cleared table
		s.prepare(len(keys))
		for i := range keys {
			if got := s.add(&keys[i]); !got {
				t.Errorf("round %d: add(%v) = false on first add, want true", round, keys[i])
			}
		}
		for i := range keys {
			k := keys[i] // a copy: found by value, not by pointer
			if got := s.add(&k); got {
				t.Errorf("round %d: add(%v) = true on second add, want false", round, k)
			}
			if !s.has(&k) {
				t.Errorf("round %d: has(%v) = false, want true", round, k)
			}
		}
		for _, k := range []key{{hash: 7, id: "z"}, {hash: math.MaxUint64, id: "z"}, {hash: 8, id: "a"}} {
			if s.has(&k) {
				t.Errorf("round %d: has(%v) = true, want false", round, k)
			}
		}
		s.clear()
	}
}

func TestExcluded(t *testing.T) {
	t.Parallel()
	mk := func(ids ...string) run {
		r := run{members: make([]Member, len(ids))}
		for _, id := range ids {
			r.keys = append(r.keys, key{hash: uint64(id[0]), id: id})
		}
		return r
	}
	tests := []struct {
		name string
		r    run
		ex   []run
		want []int
	}{
		{name: "no except", r: mk("a", "b", "c"), want: nil},
		{name: "one", r: mk("a", "b", "c"), ex: []run{mk("b")}, want: []int{1}},
		{name: "first and last", r: mk("a", "b", "c"), ex: []run{mk("c"), mk("a", "c")}, want: []int{0, 2}},
		{name: "none present", r: mk("b", "d"), ex: []run{mk("a", "c", "e")}, want: nil},
		{name: "all", r: mk("b", "d"), ex: []run{mk("a", "b"), mk("d", "e")}, want: []int{0, 1}},
		{name: "same hash, other id", r: mk("b1", "b2"), ex: []run{mk("b2")}, want: []int{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := excluded(nil, tt.r, tt.ex); !slices.Equal(got, tt.want) {
				t.Errorf("got positions %v, want %v", got, tt.want)
			}
		})
	}
}
