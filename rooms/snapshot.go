package rooms

import (
	"cmp"
	"hash/maphash"
	"slices"
	"strings"
)

// snapshot is an immutable view of a set of members, sorted by group and,
// within a group, by key (see entry). Broadcasts read it without any lock; a
// change of membership drops it, and the next broadcast builds a new one.
type snapshot struct {
	members []Member
	keys    []key  // keys[i] is the key of members[i]
	spans   []span // one per group, in ascending group order
}

// key orders the members of one group in every snapshot of one Local, so
// that broadcasts merge and subtract snapshots in one pass: by hash (a
// 64-bit compare, almost always decisive), then by id.
type key struct {
	hash uint64 // maphash.String(Local.seed, id)
	id   string
}

// compare orders keys by hash, then id.
func (k key) compare(o key) int {
	if c := cmp.Compare(k.hash, o.hash); c != 0 {
		return c
	}
	return strings.Compare(k.id, o.id)
}

// less reports whether k sorts before o.
func (k key) less(o key) bool {
	return k.hash < o.hash || k.hash == o.hash && k.id < o.id
}

// span is the members of one group: members[lo:hi].
type span struct {
	group  int
	lo, hi int
}

// run is the keys and members of one span, or what is left of it while a
// merge consumes it.
type run struct {
	keys    []key
	members []Member
}

// newSnapshot builds a snapshot of members, whose ids must be distinct,
// hashing ids with seed.
func newSnapshot(seed maphash.Seed, members []Member) *snapshot {
	type entry struct {
		group int
		key   key
		m     Member
	}
	entries := make([]entry, len(members))
	for i, m := range members {
		id := m.ID()
		entries[i] = entry{group: m.Group(), key: key{hash: maphash.String(seed, id), id: id}, m: m}
	}
	slices.SortFunc(entries, func(a, b entry) int {
		if c := cmp.Compare(a.group, b.group); c != 0 {
			return c
		}
		return a.key.compare(b.key)
	})
	s := &snapshot{
		members: make([]Member, len(entries)),
		keys:    make([]key, len(entries)),
	}
	for i, e := range entries {
		s.members[i], s.keys[i] = e.m, e.key
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
		keys:    s.keys[sp.lo:sp.hi:sp.hi],
		members: s.members[sp.lo:sp.hi:sp.hi],
	}
}

// search returns the position of k in r.keys, or where it would be
// inserted, and whether it is there.
func (r run) search(k key) (int, bool) {
	return slices.BinarySearchFunc(r.keys, k, key.compare)
}

// drop removes the first n entries of r.
func (r *run) drop(n int) {
	r.keys, r.members = r.keys[n:], r.members[n:]
}
