package rooms

import (
	"slices"
	"strings"
)

// RoomSize is a room's name and its number of members.
type RoomSize struct {
	Name    string
	Members int
}

// RoomCount returns the number of rooms that members joined by name: the
// own room of a member alone in it is not counted. It takes each room
// shard's read lock in turn, so under concurrent changes the count is of
// no single moment. It is safe for concurrent use.
func (l *Local) RoomCount() int {
	n := 0
	for i := range l.rooms {
		sh := &l.rooms[i]
		sh.mu.RLock()
		n += len(sh.rooms)
		sh.mu.RUnlock()
	}
	return n
}

// RoomSizes returns the rooms RoomCount counts, with their member counts,
// sorted by name. Like RoomCount it reads one shard at a time. It is safe
// for concurrent use.
func (l *Local) RoomSizes() []RoomSize {
	var out []RoomSize
	for i := range l.rooms {
		sh := &l.rooms[i]
		sh.mu.RLock()
		for name, r := range sh.rooms {
			out = append(out, RoomSize{Name: name, Members: r.members.len()})
		}
		sh.mu.RUnlock()
	}
	slices.SortFunc(out, func(a, b RoomSize) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// AllMembers returns every registered member, in no particular order. It
// reads one member shard at a time, holding none while the caller uses
// the result. It is safe for concurrent use.
func (l *Local) AllMembers() []Member {
	var out []Member
	for i := range l.members {
		sh := &l.members[i]
		sh.mu.RLock()
		for _, st := range sh.states {
			out = append(out, st.m)
		}
		sh.mu.RUnlock()
	}
	return out
}

// Member returns the registered member with id, or nil.
func (l *Local) Member(id string) Member {
	_, m := l.owner(id)
	return m
}
