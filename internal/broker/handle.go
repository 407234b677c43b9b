package broker

import (
	"errors"
	"unicode/utf8"

	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/rooms"
)

// MaxName is the longest room or event name, in bytes.
const MaxName = 255

// Verdict is what Handle tells the transport to do after a packet.
type Verdict struct {
	// End asks the transport to end the session.
	End bool
	// Code, when End is set, is what to send before ending: an ERROR with
	// this code for protocol violations (CodeNormal: send nothing, the
	// client said BYE). When End is not set and Code is not CodeNormal,
	// the packet's body was invalid: TCP ends the session anyway, UDP drops
	// the datagram (see Handle).
	Code codec.Code
}

var (
	proceed = Verdict{}
	byeSeen = Verdict{End: true}
)

func fatal(c codec.Code) Verdict { return Verdict{End: true, Code: c} }

// Handle processes one packet of an open session: replies and broadcasts go
// to w.Out. Request errors (bad room name, too many rooms, ...) are answered
// here with an ERROR carrying the request's id. The returned Verdict says
// whether the session must end. A body that fails to decode yields
// Verdict{Code: CodeInvalidBody} with End unset: the transport decides (TCP
// closes, UDP drops one datagram and keeps the session).
func (b *Broker) Handle(w *Worker, s *Session, p codec.Packet) Verdict {
	switch p.Type {
	case codec.TypeJoin, codec.TypeLeave:
		return b.joinLeave(w, s, p)
	case codec.TypeEmit:
		return b.emit(w, s, p)
	case codec.TypePing:
		if err := w.dec.Decode(p.Type, p.Body, &w.ping); err != nil {
			return Verdict{Code: codec.CodeInvalidBody}
		}
		w.Reply(s.peer, codec.Header{Type: codec.TypePong, ID: p.ID}, codec.RawBody(p.Body))
		return proceed
	case codec.TypePong, codec.TypeAck:
		// PONG answers the server's PING (the transport checks tokens);
		// ACK is for QoS 1, which this version does not send.
		return proceed
	case codec.TypeBye:
		return byeSeen
	default: // a second HELLO, or a server-to-client type
		return fatal(codec.CodeUnexpectedPacket)
	}
}

func (b *Broker) joinLeave(w *Worker, s *Session, p codec.Packet) Verdict {
	if err := w.dec.Decode(p.Type, p.Body, &w.rooms); err != nil {
		return Verdict{Code: codec.CodeInvalidBody}
	}
	if p.Flags != 0 {
		return fatal(codec.CodeInvalidFlags)
	}
	for _, r := range w.rooms.Rooms {
		if !validName(r, 1) || r[0] == '$' {
			return b.refuse(w, s, p.ID, codec.CodeInvalidRoom)
		}
	}
	var err error
	if p.Type == codec.TypeJoin {
		err = b.adapter.Join(s.name, w.rooms.Rooms...)
	} else {
		err = b.adapter.Leave(s.name, w.rooms.Rooms...)
	}
	switch {
	case err == nil:
		w.Reply(s.peer, codec.Header{Type: codec.TypeAck, ID: p.ID}, nil)
		return proceed
	case errors.Is(err, rooms.ErrTooManyRooms):
		return b.refuse(w, s, p.ID, codec.CodeTooManyRooms)
	case errors.Is(err, rooms.ErrOwnRoom):
		return b.refuse(w, s, p.ID, codec.CodeInvalidRoom)
	default: // the session was removed concurrently (expiry, shutdown)
		return byeSeen
	}
}

func (b *Broker) emit(w *Worker, s *Session, p codec.Packet) Verdict {
	e := &w.emit
	if err := w.dec.Decode(p.Type, p.Body, e); err != nil {
		return Verdict{Code: codec.CodeInvalidBody}
	}
	if p.Flags.QoS() != 0 || p.Flags.Dup() {
		return b.refuse(w, s, p.ID, codec.CodeQoSUnsupported)
	}
	if len(e.Rooms) > b.cfg.MaxTargets || len(e.Except) > b.cfg.MaxTargets {
		return b.refuse(w, s, p.ID, codec.CodeTooManyTargets)
	}
	for _, r := range e.Rooms {
		if !validName(r, 1) {
			return b.refuse(w, s, p.ID, codec.CodeInvalidRoom)
		}
	}
	for _, r := range e.Except {
		if !validName(r, 1) {
			return b.refuse(w, s, p.ID, codec.CodeInvalidRoom)
		}
	}
	if !validName(e.Event, 0) {
		return b.refuse(w, s, p.ID, codec.CodeInvalidEvent)
	}

	w.msg = codec.Message{Rooms: e.Rooms, From: s.nameBytes, Event: e.Event, Data: e.Data}
	if codec.PacketLen(&w.msg) > b.cfg.MaxFrame {
		// The server never sends a frame over the max_frame it announced.
		return b.refuse(w, s, p.ID, codec.CodeTooLarge)
	}
	frame := w.Out.Frame(codec.Header{Type: codec.TypeMessage, ID: b.nextMsgID()}, &w.msg)
	except := append(w.except[:0], e.Except...)
	if !e.Echo {
		except = append(except, s.nameBytes)
	}
	w.except = except
	n := b.adapter.Broadcast(frame, rooms.BroadcastOptions{Rooms: e.Rooms, Except: except, Origin: w.Out})
	clear(w.except) // do not keep the input buffer reachable
	b.stats.Emits.Add(1)
	b.stats.Recipients.Add(uint64(n))
	return proceed
}

func (b *Broker) refuse(w *Worker, s *Session, id uint32, c codec.Code) Verdict {
	b.stats.RequestErrors.Add(1)
	w.Error(s.peer, id, c)
	return proceed
}

// validName reports whether n is a room or event name: UTF-8, at most
// MaxName bytes, at least min.
func validName(n []byte, min int) bool {
	return len(n) >= min && len(n) <= MaxName && utf8.Valid(n)
}
