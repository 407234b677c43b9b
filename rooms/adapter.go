package rooms

import (
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"
)

// Adapter is the room adapter the server uses: membership, broadcast and
// membership events. Local implements it in memory; a Redis-backed
// implementation will follow, so its users must not assume one process.
// Implementations are safe for concurrent use.
type Adapter interface {
	// Add registers m and puts it in its own room, the room named m.ID().
	// It returns ErrDuplicateMember if the id is taken.
	Add(m Member) error

	// Join puts the member id in rooms, all or nothing. A room the member
	// is already in, or that appears earlier in rooms, is skipped. It
	// returns ErrUnknownMember, or ErrTooManyRooms if the rooms left after
	// skipping would exceed the limit (then nothing is joined).
	Join(id string, rooms ...[]byte) error

	// Leave takes the member id out of rooms. A room the member is not in
	// is skipped. It returns ErrUnknownMember, or ErrOwnRoom if rooms
	// contains id (then nothing is left).
	Leave(id string, rooms ...[]byte) error

	// Remove takes the member id out of every room, its own included, and
	// forgets it. It does nothing if id is unknown.
	Remove(id string)

	// Rebind replaces the registered member with m's id by m, in every room
	// it is in, without any event: the same session, reached another way
	// (a new connection, or none while it is offline). Broadcasts that
	// start after Rebind returns reach m. It returns ErrUnknownMember if
	// the id is not registered.
	Rebind(m Member) error

	// Broadcast hands msg to the Sink for every member of the union of
	// opts.Rooms (every member if empty) that is in none of opts.Except,
	// each recipient once, and returns the number of recipients.
	Broadcast(msg []byte, opts BroadcastOptions) int

	// RoomsOf returns the rooms of the member id in join order, its own
	// room first, or nil if id is unknown. The slice is the caller's.
	RoomsOf(id string) []string

	// Members returns the ids of the members of room, in no particular
	// order, or nil if the room does not exist. The slice is the caller's.
	Members(room string) []string

	// Subscribe calls fn for every membership event until cancel is
	// called. See the package documentation for the order and the rules
	// fn must follow.
	Subscribe(fn func(Event)) (cancel func())
}

var _ Adapter = (*Local)(nil)

// Local is the in-memory Adapter. Its methods are safe for concurrent use.
//
// Rooms live in 64 shards by a hash of their name, members in 64 shards by
// a hash of their id, each shard behind its own RWMutex. A per-member mutex
// orders the changes of one member. Lock order: member, then room shard,
// then member shard (a room shard's holder may look a member up, to find a
// member's own room, which is not stored while the member is alone in it);
// no two shards of one kind are ever held together, and no lock is held
// while calling the Sink.
type Local struct {
	maxRooms   int
	maxMembers atomic.Int64 // per room; 0: no limit
	sink       Sink
	seed       maphash.Seed
	events     subscribers
	scratch    sync.Pool // of *scratch, for broadcasts that filter or merge
	rooms      [numShards]roomShard
	members    [numShards]memberShard
}

// NewLocal returns an empty in-memory adapter configured by cfg. It returns
// an error wrapping ErrInvalidConfig if cfg.Sink is nil or
// cfg.MaxRoomsPerMember is negative.
func NewLocal(cfg Config) (*Local, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	l := &Local{
		maxRooms: cfg.MaxRoomsPerMember,
		sink:     cfg.Sink,
		seed:     maphash.MakeSeed(),
	}
	l.maxMembers.Store(int64(cfg.MaxMembersPerRoom))
	l.scratch.New = func() any { return new(scratch) }
	for i := range l.rooms {
		l.rooms[i].rooms = make(map[string]*room)
	}
	for i := range l.members {
		l.members[i].states = make(map[string]*memberState)
	}
	return l, nil
}

// Add registers m and puts it in its own room, emitting create-room (if the
// room did not exist) and join-room. It returns ErrDuplicateMember if a
// member with the same id is registered. It is safe for concurrent use.
func (l *Local) Add(m Member) error {
	id := m.ID()
	st := &memberState{m: m, id: id}
	// Lock st before publishing it so that no Join or Remove of id can run
	// before its own room exists.
	st.mu.Lock()
	defer st.mu.Unlock()

	sh := l.memberShard(id)
	sh.mu.Lock()
	if _, ok := sh.states[id]; ok {
		sh.mu.Unlock()
		return ErrDuplicateMember
	}
	sh.states[id] = st
	sh.snap.Store(nil)
	sh.mu.Unlock()

	l.enterOwnRoom(st)
	return nil
}

// Join puts the member id in rooms, in argument order, emitting create-room
// (for a room that did not exist) and join-room for each. Rooms the member is
// already in, and repeats within rooms, are skipped. It is all or nothing:
// it returns ErrUnknownMember if id is not registered, and ErrTooManyRooms,
// joining nothing, if the member would be in more than
// Config.MaxRoomsPerMember rooms besides its own. It is safe for concurrent
// use.
func (l *Local) Join(id string, rooms ...[]byte) error {
	st, err := l.lockMember(id)
	if err != nil {
		return err
	}
	defer st.mu.Unlock()

	var buf [16]int
	fresh := buf[:0] // indexes in rooms of the rooms to join
	for i, name := range rooms {
		if string(name) == st.id || indexOf(st.rooms, name) >= 0 || repeated(rooms, fresh, name) {
			continue
		}
		if len(st.rooms)+len(fresh)+1 > l.maxRooms {
			return ErrTooManyRooms
		}
		fresh = append(fresh, i)
	}
	if most := int(l.maxMembers.Load()); most > 0 {
		// Checked before any is joined, so that a full room leaves the
		// member as it was. Joins racing for a room's last places may
		// take it a few members past the limit: each checks alone.
		for _, i := range fresh {
			if l.roomSize(string(rooms[i])) >= most {
				return ErrRoomFull
			}
		}
	}
	for _, i := range fresh {
		st.rooms = append(st.rooms, l.joinRoom(string(rooms[i]), st.id, st.m))
	}
	return nil
}

// SetMaxMembersPerRoom changes Config.MaxMembersPerRoom for the Joins
// from now on (members beyond it stay); n < 0 counts as 0, no limit.
func (l *Local) SetMaxMembersPerRoom(n int) { l.maxMembers.Store(int64(max(n, 0))) }

// lockMember returns the state of member id with its lock held, or
// ErrUnknownMember if there is no such member (or it is being removed).
func (l *Local) lockMember(id string) (*memberState, error) {
	st := l.lookup(id)
	if st == nil {
		return nil, ErrUnknownMember
	}
	st.mu.Lock()
	if st.removed {
		st.mu.Unlock()
		return nil, ErrUnknownMember
	}
	return st, nil
}

// repeated reports whether name equals one of rooms[i] for i in fresh.
func repeated(rooms [][]byte, fresh []int, name []byte) bool {
	for _, i := range fresh {
		if string(rooms[i]) == string(name) {
			return true
		}
	}
	return false
}

// Leave takes the member id out of rooms, in argument order, emitting
// leave-room and (for a room left empty) delete-room for each. Rooms the
// member is not in are skipped. It returns ErrUnknownMember if id is not
// registered, and ErrOwnRoom, leaving nothing, if rooms contains id. It is
// safe for concurrent use.
func (l *Local) Leave(id string, rooms ...[]byte) error {
	st, err := l.lockMember(id)
	if err != nil {
		return err
	}
	defer st.mu.Unlock()
	for _, name := range rooms {
		if string(name) == id {
			return ErrOwnRoom
		}
	}
	for _, name := range rooms {
		i := indexOf(st.rooms, name)
		if i < 0 {
			continue
		}
		room := st.rooms[i]
		st.rooms = slices.Delete(st.rooms, i, i+1)
		l.leaveRoom(room, id)
	}
	return nil
}

// Remove takes the member id out of every room in join order, its own room
// first, emitting leave-room and (for a room left empty) delete-room for
// each, and forgets the member. It does nothing if id is unknown. It is safe
// for concurrent use, including from a Sink's Deliver.
func (l *Local) Remove(id string) {
	st := l.lookup(id)
	if st == nil {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.removed {
		return
	}
	st.removed = true
	l.leaveOwnRoom(st)
	for _, room := range st.rooms {
		l.leaveRoom(room, id)
	}
	st.rooms = nil

	// Unregister last, so that an Add of the same id cannot join the own
	// room before this member has left it.
	sh := l.memberShard(id)
	sh.mu.Lock()
	if sh.states[id] == st {
		delete(sh.states, id)
		sh.snap.Store(nil)
	}
	sh.mu.Unlock()
}

// Rebind replaces the member registered under m.ID() by m in every room it
// is in, emitting no event. It returns ErrUnknownMember if the id is not
// registered. It is safe for concurrent use.
func (l *Local) Rebind(m Member) error {
	st, err := l.lockMember(m.ID())
	if err != nil {
		return err
	}
	defer st.mu.Unlock()
	for _, name := range st.rooms {
		sh := l.roomShard(name)
		sh.mu.Lock()
		if r := sh.rooms[name]; r != nil {
			if r.members.has(st.id) {
				r.members.set(st.id, m)
				r.snap.Store(nil)
			}
		}
		sh.mu.Unlock()
	}
	sh := l.memberShard(st.id)
	sh.mu.Lock()
	st.m = m
	sh.snap.Store(nil)
	sh.mu.Unlock()
	l.rebindOwnRoom(st, m)
	return nil
}

// RoomsOf returns the rooms of the member id in join order, its own room
// first, or nil if id is unknown. It is safe for concurrent use.
func (l *Local) RoomsOf(id string) []string {
	st := l.lookup(id)
	if st == nil {
		return nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.removed {
		return nil
	}
	return append([]string{st.id}, st.rooms...)
}

// Members returns the ids of the members of room, in no particular order, or
// nil if the room does not exist. It is safe for concurrent use.
func (l *Local) Members(room string) []string {
	sh := l.roomShard(room)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	r := sh.rooms[room]
	if r == nil {
		if st, _ := l.owner(room); st != nil && st.ownIn {
			return []string{room}
		}
		return nil
	}
	return r.members.appendIDs(make([]string, 0, r.members.len()))
}

// Subscribe calls fn for every membership event until cancel is called, and
// returns cancel. fn runs synchronously under the adapter's locks: it must be
// quick and must not call any method of the adapter. cancel may be called
// more than once. A change already under way when cancel is called may still
// call fn once. Subscribe and cancel are safe for concurrent use with every
// other method. A nil fn is ignored.
func (l *Local) Subscribe(fn func(Event)) (cancel func()) {
	return l.events.subscribe(fn)
}
