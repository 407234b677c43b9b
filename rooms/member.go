package rooms

// Member is a session as the adapter sees it.
//
// Both methods must return the same values for the member's whole lifetime
// and must be safe to call from any goroutine: the adapter calls them
// concurrently and does not cache Group.
type Member interface {
	// ID returns the session id. It is also the name of the member's own
	// room, and the name by which a broadcast excludes the member.
	ID() string

	// Group returns the member's delivery group, >= 0. The server uses the
	// index of the event loop that owns the connection, so that one
	// broadcast becomes one task per loop.
	Group() int
}

// Sink delivers broadcasts.
//
// Deliver is called once per delivery group that has recipients, with exactly
// the recipients of that group: excluded members are already removed, and
// each member appears at most once across all the calls of one Broadcast.
// The calls of one Broadcast are made one after another, in ascending group
// order, from the goroutine that called Broadcast; calls of different
// Broadcasts may run concurrently, so a Sink must be safe for concurrent use.
//
// members is valid only during the call and must not be modified: it may be
// a view of the adapter's own snapshot. The sink copies what it keeps. msg
// is the caller's buffer, passed through untouched.
//
// Deliver is called with no adapter lock held, so it may call back into the
// adapter (for example Remove a member whose connection failed).
type Sink interface {
	Deliver(origin any, group int, msg []byte, members []Member)
}

// SinkFunc adapts a function to the Sink interface.
type SinkFunc func(origin any, group int, msg []byte, members []Member)

// Deliver calls f(origin, group, msg, members).
func (f SinkFunc) Deliver(origin any, group int, msg []byte, members []Member) {
	f(origin, group, msg, members)
}
