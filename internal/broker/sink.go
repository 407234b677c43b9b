package broker

import (
	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/rooms"
)

// sessioned is a room member that belongs to a broker session: a Peer, or
// the stand-in of an offline persistent session.
type sessioned interface {
	Session() *Session
}

// Deliver implements rooms.Sink: the adapter calls it with each event
// loop's share of a broadcast's recipients; origin is the broadcasting
// Worker. A QoS 0 broadcast goes to the Hub as it is: the same bytes to
// everyone, now. A QoS 1 broadcast (w.q set) is queued in every recipient
// session, each of which then sends it, under its own window and with its
// own header, from the goroutine that may write to its connection.
func (b *Broker) Deliver(origin any, group int, msg []byte, members []rooms.Member) {
	w := origin.(*Worker)
	if w.q == nil {
		b.hub.Deliver(w.Out, group, msg, members)
		return
	}
	for _, m := range members {
		s := m.(sessioned).Session()
		wake, g, kick := s.offer(w, w.q)
		switch {
		case wake:
			b.hub.Wake(w.Out, g, s)
		case kick != nil:
			// Its queue is full and the policy is to disconnect it: the
			// session goes offline (or ends) and keeps what it has.
			kick.Kick(codec.CodeSlowConsumer)
			b.Detach(w, kick)
		}
	}
}
