package rooms

import (
	"cmp"
	"slices"
	"strings"
)

// snapshot is an immutable view of a set of members, sorted by group and,
// within a group, by id. Broadcasts read it without any lock; a change of
// membership drops it, and the next broadcast builds a new one.
type snapshot struct {
	members []Member
	ids     []string // ids[i] == members[i].ID()
	spans   []span   // one per group, in ascending group order
}

// span is the members of one group: members[lo:hi].
type span struct {
	group  int
	lo, hi int
}

// run is the ids and members of one span (or what is left of it while a
// merge consumes it); ids is sorted.
type run struct {
	ids     []string
	members []Member
}

// newSnapshot builds a snapshot of members. The ids must be distinct.
func newSnapshot(members []Member) *snapshot {
	type entry struct {
		group int
		id    string
		m     Member
	}
	entries := make([]entry, len(members))
	for i, m := range members {
		entries[i] = entry{group: m.Group(), id: m.ID(), m: m}
	}
	slices.SortFunc(entries, func(a, b entry) int {
		if c := cmp.Compare(a.group, b.group); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	s := &snapshot{
		members: make([]Member, len(entries)),
		ids:     make([]string, len(entries)),
	}
	for i, e := range entries {
		s.members[i], s.ids[i] = e.m, e.id
		if i == 0 || e.group != entries[i-1].group {
			s.spans = append(s.spans, span{group: e.group, lo: i})
		}
		s.spans[len(s.spans)-1].hi = i + 1
	}
	return s
}

// run returns the members of the i-th span, with capacity clipped so that
// appending to them cannot touch the snapshot.
func (s *snapshot) run(i int) run {
	sp := s.spans[i]
	return run{
		ids:     s.ids[sp.lo:sp.hi:sp.hi],
		members: s.members[sp.lo:sp.hi:sp.hi],
	}
}
