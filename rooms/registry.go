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

	mu      sync.Mutex // orders the member's own changes; guards the fields below
	rooms   []string   // rooms in join order, own room first
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
