package rooms

import "math/bits"

// keySet is a set of member keys for deduplicating the recipients of one
// group: open addressing with linear probing, at most half full, indexed by
// the top bits of the hash so that inserting a sorted run sweeps the table
// forwards. It holds pointers into snapshots and is cleared after each use,
// so its table is reused without allocating.
type keySet struct {
	slots []keySlot
	shift uint // 64 - log2(len(slots))
}

// keySlot is one entry of a keySet; k is nil when the slot is free.
type keySlot struct {
	hash uint64
	k    *key
}

// prepare makes room for n keys. The set must be empty.
func (s *keySet) prepare(n int) {
	logSize := max(4, bits.Len(uint(2*n))) // more than 2n slots: at most half full
	if size := 1 << logSize; cap(s.slots) >= size {
		s.slots = s.slots[:size]
	} else {
		s.slots = make([]keySlot, size)
	}
	s.shift = uint(64 - logSize)
}

// add inserts k and reports whether it was absent.
func (s *keySet) add(k *key) bool {
	mask := uint64(len(s.slots) - 1)
	for i := k.hash >> s.shift; ; i = (i + 1) & mask {
		sl := &s.slots[i]
		if sl.k == nil {
			sl.hash, sl.k = k.hash, k
			return true
		}
		if sl.hash == k.hash && sl.k.id == k.id {
			return false
		}
	}
}

// has reports whether k is in the set.
func (s *keySet) has(k *key) bool {
	mask := uint64(len(s.slots) - 1)
	for i := k.hash >> s.shift; ; i = (i + 1) & mask {
		sl := &s.slots[i]
		if sl.k == nil {
			return false
		}
		if sl.hash == k.hash && sl.k.id == k.id {
			return true
		}
	}
}

// clear empties the set, dropping its pointers and keeping its table.
func (s *keySet) clear() {
	clear(s.slots)
}
