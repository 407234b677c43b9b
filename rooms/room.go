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
	members memberSet // guarded by the shard's mu

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
	s := newSnapshot(seed, r.members.appendTo(make([]Member, 0, r.members.len())))
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
	if r := sh.rooms[string(name)]; r != nil {
		return r.snapshotLocked(l.seed)
	}
	// A member's own room, alone in it.
	st, m := l.ownerBytes(name)
	if st == nil || !st.ownIn {
		return nil
	}
	if s := st.own.Load(); s != nil {
		return s
	}
	s := newSnapshot(l.seed, []Member{m})
	if !st.own.CompareAndSwap(nil, s) {
		return st.own.Load()
	}
	return s
}

// enterOwnRoom puts the member st, being added, in its own room: a virtual
// one, unless others have made a room of that name (then it joins it).
// The caller holds st.mu.
func (l *Local) enterOwnRoom(st *memberState) {
	sh := l.roomShard(st.id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if r := sh.rooms[st.id]; r != nil {
		r.members.set(st.id, st.m)
		r.snap.Store(nil)
		l.events.emit(Event{Kind: JoinRoom, Room: r.name, Member: st.id})
		return
	}
	st.ownIn = true
	l.events.emit(Event{Kind: CreateRoom, Room: st.id})
	l.events.emit(Event{Kind: JoinRoom, Room: st.id, Member: st.id})
}

// leaveOwnRoom takes the member st, being removed, out of its own room,
// virtual or real. The caller holds st.mu.
func (l *Local) leaveOwnRoom(st *memberState) {
	sh := l.roomShard(st.id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if !st.ownIn {
		l.leaveRoomLocked(sh, st.id, st.id)
		return
	}
	st.ownIn = false
	st.own.Store(nil)
	l.events.emit(Event{Kind: LeaveRoom, Room: st.id, Member: st.id})
	l.events.emit(Event{Kind: DeleteRoom, Room: st.id})
}

// rebindOwnRoom makes the own room of st reach m, after Rebind changed
// st.m. The caller holds st.mu.
func (l *Local) rebindOwnRoom(st *memberState, m Member) {
	sh := l.roomShard(st.id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if r := sh.rooms[st.id]; r != nil && r.members.has(st.id) {
		r.members.set(st.id, m)
		r.snap.Store(nil)
	}
	st.own.Store(nil)
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
		r = &room{name: name}
		if o, om := l.owner(name); o != nil && o.ownIn {
			// Another member's own room, where it was alone: it becomes
			// a real room with its owner in it. It existed already.
			o.ownIn = false
			o.own.Store(nil)
			r.members.set(name, om)
		} else {
			l.events.emit(Event{Kind: CreateRoom, Room: name})
		}
		sh.rooms[name] = r
	}
	r.members.set(id, m)
	r.snap.Store(nil)
	l.events.emit(Event{Kind: JoinRoom, Room: r.name, Member: id})
	return r.name
}

// roomSize returns how many members the room named name holds (0 if
// there is no such room; a member's own room, stored only once another
// member joins it, is not counted while its member is alone).
func (l *Local) roomSize(name string) int {
	sh := l.roomShard(name)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	if r := sh.rooms[name]; r != nil {
		return r.members.len()
	}
	return 0
}

// leaveRoom takes the member id out of the room named name, deleting the
// room if it becomes empty. It emits leave-room and delete-room under the
// shard's lock. The caller holds the member's lock.
func (l *Local) leaveRoom(name string, id string) {
	sh := l.roomShard(name)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	l.leaveRoomLocked(sh, name, id)
}

// leaveRoomLocked is leaveRoom with the shard's lock held.
func (l *Local) leaveRoomLocked(sh *roomShard, name string, id string) {
	r := sh.rooms[name]
	if r == nil {
		return
	}
	if !r.members.del(id) {
		return
	}
	r.snap.Store(nil)
	l.events.emit(Event{Kind: LeaveRoom, Room: name, Member: id})
	if r.members.len() == 0 {
		delete(sh.rooms, name)
		l.events.emit(Event{Kind: DeleteRoom, Room: name})
	}
}

// memberSet is a room's members by id: a slice while the room is small
// (most rooms are, every session's own room among them: a map costs
// hundreds of bytes even for one entry), a map once it holds more than
// smallRoom members.
type memberSet struct {
	small []memberEntry
	big   map[string]Member
}

type memberEntry struct {
	id string
	m  Member
}

const smallRoom = 8

func (s *memberSet) len() int {
	if s.big != nil {
		return len(s.big)
	}
	return len(s.small)
}

func (s *memberSet) has(id string) bool {
	if s.big != nil {
		_, ok := s.big[id]
		return ok
	}
	for _, e := range s.small {
		if e.id == id {
			return true
		}
	}
	return false
}

// set adds the member id, or replaces it.
func (s *memberSet) set(id string, m Member) {
	if s.big != nil {
		s.big[id] = m
		return
	}
	for i := range s.small {
		if s.small[i].id == id {
			s.small[i].m = m
			return
		}
	}
	if len(s.small) < smallRoom {
		s.small = append(s.small, memberEntry{id, m})
		return
	}
	s.big = make(map[string]Member, 2*smallRoom)
	for _, e := range s.small {
		s.big[e.id] = e.m
	}
	s.big[id] = m
	s.small = nil
}

// del removes the member id and reports whether it was there.
func (s *memberSet) del(id string) bool {
	if s.big != nil {
		if _, ok := s.big[id]; !ok {
			return false
		}
		delete(s.big, id)
		return true
	}
	for i := range s.small {
		if s.small[i].id == id {
			last := len(s.small) - 1
			s.small[i] = s.small[last]
			s.small[last] = memberEntry{}
			s.small = s.small[:last]
			return true
		}
	}
	return false
}

func (s *memberSet) appendTo(ms []Member) []Member {
	if s.big != nil {
		for _, m := range s.big {
			ms = append(ms, m)
		}
		return ms
	}
	for _, e := range s.small {
		ms = append(ms, e.m)
	}
	return ms
}

func (s *memberSet) appendIDs(ids []string) []string {
	if s.big != nil {
		for id := range s.big {
			ids = append(ids, id)
		}
		return ids
	}
	for _, e := range s.small {
		ids = append(ids, e.id)
	}
	return ids
}
