package rooms

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
)

// numShards is the number of room shards and of member shards.
const numShards = 64

// roomShard holds the rooms whose names hash to it.
type roomShard struct {
	mu    sync.RWMutex // guards rooms and the members of every room in it
	rooms map[string]*room
	_     [32]byte // pads the shard to a 64-byte cache line
}

// room is a named set of members. It exists while it has members.
type room struct {
	name    string
	members map[string]Member // by id; guarded by the shard's mu

	// snap is the members' snapshot, nil when stale. It is cleared under
	// the shard's write lock and set under its read (or write) lock.
	snap atomic.Pointer[snapshot]
}

// snapshotLocked returns r's snapshot, building it if it is stale. The
// shard's mu must be held, for reading or writing.
func (r *room) snapshotLocked(seed maphash.Seed) *snapshot {
	if s := r.snap.Load(); s != nil {
		return s
	}
	ms := make([]Member, 0, len(r.members))
	for _, m := range r.members {
		ms = append(ms, m)
	}
	s := newSnapshot(seed, ms)
	if !r.snap.CompareAndSwap(nil, s) {
		return r.snap.Load() // a concurrent broadcast built an equal one
	}
	return s
}

// roomShard returns the shard of the room named name.
func (l *Local) roomShard(name string) *roomShard {
	return &l.rooms[maphash.String(l.seed, name)%numShards]
}

// roomShardBytes returns the shard of the room named name, without
// allocating. maphash.Bytes and maphash.String agree on equal contents.
func (l *Local) roomShardBytes(name []byte) *roomShard {
	return &l.rooms[maphash.Bytes(l.seed, name)%numShards]
}

// roomSnapshot returns the snapshot of the room named name, or nil if the
// room does not exist. It does not allocate unless the snapshot is stale.
func (l *Local) roomSnapshot(name []byte) *snapshot {
	sh := l.roomShardBytes(name)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	r := sh.rooms[string(name)]
	if r == nil {
		return nil
	}
	return r.snapshotLocked(l.seed)
}

// joinRoom puts m (whose id is id) in the room named name, creating the room
// if needed, and returns the room's name as stored by the room (so callers
// can drop their own copy). It emits create-room and join-room under the
// shard's lock. The caller holds m's member lock and knows m is not in the
// room yet.
func (l *Local) joinRoom(name string, id string, m Member) string {
	sh := l.roomShard(name)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	r := sh.rooms[name]
	if r == nil {
		r = &room{name: name, members: make(map[string]Member, 1)}
		sh.rooms[name] = r
		l.events.emit(Event{Kind: CreateRoom, Room: name})
	}
	r.members[id] = m
	r.snap.Store(nil)
	l.events.emit(Event{Kind: JoinRoom, Room: r.name, Member: id})
	return r.name
}

// leaveRoom takes the member id out of the room named name, deleting the
// room if it becomes empty. It emits leave-room and delete-room under the
// shard's lock. The caller holds the member's lock.
func (l *Local) leaveRoom(name string, id string) {
	sh := l.roomShard(name)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	r := sh.rooms[name]
	if r == nil {
		return
	}
	if _, ok := r.members[id]; !ok {
		return
	}
	delete(r.members, id)
	r.snap.Store(nil)
	l.events.emit(Event{Kind: LeaveRoom, Room: name, Member: id})
	if len(r.members) == 0 {
		delete(sh.rooms, name)
		l.events.emit(Event{Kind: DeleteRoom, Room: name})
	}
}
