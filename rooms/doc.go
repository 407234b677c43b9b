// Package rooms is packetd's room adapter: which sessions are in which rooms,
// and the fan-out of one broadcast to the union of some rooms minus others.
// It is pure logic, with no networking, modelled on socket.io's in-memory
// Adapter. A Redis-backed Adapter will implement the same interface, so
// nothing here assumes one process: members are named by id strings, and a
// broadcast excludes rooms by name (excluding a session means excluding its
// own room).
//
// # Rooms
//
// Every member is in a room named by its own id, its own room: Add joins it
// and only Remove leaves it. A room exists while it has members: the first
// join creates it and the last leave deletes it. The adapter lets a member
// join any room, including another member's own room (the server forbids
// that; the adapter does not care); a member's own room that contains others
// is a normal room, and outlives its owner's Remove while others are in it.
//
// A member alone in its own room, as almost every session is, costs no room:
// Local keeps such a room implicit in the member's registration and builds
// its snapshot only when a broadcast names it. The events and every method's
// results are as if it were stored.
//
// # Broadcast
//
// Broadcast reaches every member of at least one target room (every member
// when no room is named) that is in none of the excluded rooms, once, even
// when it is in several target rooms. The recipients go to the Sink grouped
// by Member.Group, one Deliver call per group with recipients, with no lock
// held, so the Sink may call back into the adapter.
//
// A broadcast does not allocate in steady state. Each room keeps an
// immutable snapshot of its members sorted by group, rebuilt by the first
// broadcast after a membership change; a broadcast to one room with no
// exclusion hands the Sink views of it, and other broadcasts filter and
// deduplicate into pooled scratch space.
//
// # Events
//
// Subscribe registers a handler for the four events of socket.io's Adapter:
// create-room, delete-room, join-room and leave-room. They fire in this
// order, [brackets] marking the conditional ones:
//
//	Add(m)               [create-room(m.ID()) if it did not exist],
//	                     join-room(m.ID(), m.ID())
//	Join(id, rooms...)   for each room r in argument order that id is not
//	                     in yet (repeats skipped): [create-room(r) if it did
//	                     not exist], join-room(r, id)
//	Leave(id, rooms...)  for each room r in argument order that id is in:
//	                     leave-room(r, id), [delete-room(r) if now empty]
//	Remove(id)           for each room r of id in join order, own room
//	                     first: leave-room(r, id), [delete-room(r) if now
//	                     empty]
//
// A call that returns an error emits nothing.
//
// Handlers run synchronously, in the goroutine making the change, while the
// adapter holds the lock that orders the change: the events of one room are
// totally ordered as its changes happened, and so are the events of one
// member; events of unrelated rooms and members have no order between them.
// A handler must be quick and must not call any method of the adapter (it
// would deadlock); to act on an event, hand it to another goroutine.
//
// # Concurrency
//
// Every method of Local is safe for concurrent use by many goroutines.
// Rooms and members live in separate sets of 64 shards, each behind its own
// lock; a per-member lock orders one member's changes (lock order: member,
// then room shard, then member shard).
package rooms
