package rooms

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
)

// memberShard holds the members whose ids hash to it.
type memberShard struct {
	mu     sync.RWMutex // guards states
	states map[string]*memberState

	// snap is a snapshot of every member of the shard, for broadcasts to
	// everyone; nil when stale. Cleared under mu's write lock, set under
	// its read lock.
	snap atomic.Pointer[snapshot]

	_ [24]byte // pads the shard to a 64-byte cache line
}

// memberState is a registered member.
type memberState struct {
	m  Member // replaced by Rebind under both mu and the member shard's lock
	id string // m.ID(), read once

	// The own room, while nobody else is in it, is not stored as a room
	// (most sessions are alone in theirs: a room would cost each hundreds
	// of bytes). ownIn says the member is in that virtual room; own is its
	// snapshot, built by the first broadcast that needs it. Both are
	// guarded by the lock of the room shard of id (own is set under its
	// read lock, hence atomic). When another member joins the room, it
	// becomes a real room holding both, and ownIn turns false.
	ownIn bool
	own   atomic.Pointer[snapshot]

	mu      sync.Mutex // orders the member's own changes; guards the fields below
	rooms   []string   // rooms in join order, its own room excluded
	removed bool       // set by Remove; the state is then dead
}

// memberShard returns the shard of the member id.
func (l *Local) memberShard(id string) *memberShard {
	return &l.members[maphash.String(l.seed, id)%numShards]
}

// lookup returns the state of the member id, or nil.
func (l *Local) lookup(id string) *memberState {
	sh := l.memberShard(id)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	return sh.states[id]
}

// owner returns the state of the member id and its current Member, or nil.
func (l *Local) owner(id string) (*memberState, Member) {
	sh := l.memberShard(id)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	if st := sh.states[id]; st != nil {
		return st, st.m
	}
	return nil, nil
}

// ownerBytes is owner for an id in bytes, without allocating.
func (l *Local) ownerBytes(id []byte) (*memberState, Member) {
	sh := &l.members[maphash.Bytes(l.seed, id)%numShards]
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	if st := sh.states[string(id)]; st != nil {
		return st, st.m
	}
	return nil, nil
}

// snapshot returns the snapshot of all the shard's members, building it if
// it is stale.
func (sh *memberShard) snapshot(seed maphash.Seed) *snapshot {
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	if s := sh.snap.Load(); s != nil {
		return s
	}
	ms := make([]Member, 0, len(sh.states))
	for _, st := range sh.states {
		ms = append(ms, st.m)
	}
	s := newSnapshot(seed, ms)
	if !sh.snap.CompareAndSwap(nil, s) {
		return sh.snap.Load()
	}
	return s
}

// indexOf returns the index of name in list, or -1. It does not allocate.
func indexOf(list []string, name []byte) int {
	for i, s := range list {
		if s == string(name) {
			return i
		}
	}
	return -1
}
