package broker

import (
	"errors"
	"time"
	"unicode/utf8"

	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/store"
	"github.com/packetd/packetd/rooms"
)

// MaxName is the longest room or event name, in bytes.
const MaxName = 255

// Verdict is what Handle tells the transport to do after a packet.
type Verdict struct {
	// End asks the transport to end the connection.
	End bool
	// Code, when End is set, is what to send before ending: an ERROR with
	// this code for protocol violations (CodeNormal: send nothing, the
	// client said BYE). When End is not set and Code is not CodeNormal,
	// the packet's body was invalid: TCP ends the connection anyway, UDP
	// drops one datagram and keeps the session (see Handle).
	Code codec.Code
}

var (
	proceed = Verdict{}
	byeSeen = Verdict{End: true}
)

func fatal(c codec.Code) Verdict { return Verdict{End: true, Code: c} }

// Handle processes one packet that p, a peer with an open session,
// received: replies and broadcasts go to w.Out, writes to w's store batch.
// Request errors (bad room name, too many rooms, ...) are answered here
// with an ERROR carrying the request's id. The returned Verdict says
// whether the connection must end. A body that fails to decode yields
// Verdict{Code: CodeInvalidBody} with End unset: the transport decides (TCP
// closes, UDP drops one datagram and keeps the session). Over UDP (an
// unreliable peer) a QoS 1 EMIT with such a body has been numbered and
// refused with ERROR 206 by then: the verdict only tells the transport
// that the datagram was invalid.
func (b *Broker) Handle(w *Worker, p Peer, pkt codec.Packet) Verdict {
	s := p.Session()
	if pkt.Type != codec.TypeAck && pkt.Type != codec.TypePong && pkt.Type != codec.TypeBye &&
		!s.allow(&b.limits, codec.HeaderLen+len(pkt.Body)) {
		if !p.Reliable() {
			// Over UDP a datagram beyond the limit costs only itself, as
			// an invalid one does: dropped, counted, the session goes on.
			b.stats.RateLimitedDrops.Add(1)
			return proceed
		}
		b.stats.RateLimited.Add(1)
		b.log.Warn("session over its rate limit: disconnected", "session", s.name, "client", s.clientID,
			"remote", p.Remote().String(), "packets_per_second", b.limits.packetRate.Load(), "bytes_per_second", b.limits.byteRate.Load())
		return fatal(codec.CodeRateLimited)
	}
	switch pkt.Type {
	case codec.TypeJoin, codec.TypeLeave:
		return b.joinLeave(w, p, s, pkt)
	case codec.TypeEmit:
		return b.emit(w, p, s, pkt)
	case codec.TypeAck:
		s.ack(w, p, pkt.ID)
		return proceed
	case codec.TypePing:
		if err := w.dec.Decode(pkt.Type, pkt.Body, &w.ping); err != nil {
			return Verdict{Code: codec.CodeInvalidBody}
		}
		w.Reply(p, codec.Header{Type: codec.TypePong, ID: pkt.ID}, codec.RawBody(pkt.Body))
		return proceed
	case codec.TypePong:
		return proceed // answers the server's PING (the transport checks tokens)
	case codec.TypeBye:
		return byeSeen
	default: // a second HELLO, or a server-to-client type
		return fatal(codec.CodeUnexpectedPacket)
	}
}

func (b *Broker) joinLeave(w *Worker, p Peer, s *Session, pkt codec.Packet) Verdict {
	if err := w.dec.Decode(pkt.Type, pkt.Body, &w.rooms); err != nil {
		return Verdict{Code: codec.CodeInvalidBody}
	}
	if pkt.Flags != 0 {
		return fatal(codec.CodeInvalidFlags)
	}
	for _, r := range w.rooms.Rooms {
		if !validName(r, 1) || r[0] == '$' {
			return b.refuse(w, p, pkt.ID, codec.CodeInvalidRoom)
		}
	}
	if perms := s.perms.Load(); perms != nil && pkt.Type == codec.TypeJoin {
		for _, r := range w.rooms.Rooms {
			if !perms.CanJoin(r) {
				return b.forbid(w, p, s, pkt.ID, r, "join")
			}
		}
	}
	var err error
	if pkt.Type == codec.TypeJoin {
		err = b.adapter.Join(s.name, w.rooms.Rooms...)
	} else {
		err = b.adapter.Leave(s.name, w.rooms.Rooms...)
	}
	switch {
	case err == nil:
		if s.persistent {
			// The rooms of a persistent session are stored: answer once
			// they are durable.
			s.mu.Lock()
			s.dirtyLocked(w)
			s.mu.Unlock()
			w.acks = append(w.acks, pendingAck{peer: p, id: pkt.ID})
			return proceed
		}
		w.Reply(p, ackHeader(pkt.ID), nil)
		return proceed
	case errors.Is(err, rooms.ErrTooManyRooms):
		return b.refuse(w, p, pkt.ID, codec.CodeTooManyRooms)
	case errors.Is(err, rooms.ErrRoomFull):
		b.stats.RoomFull.Add(1)
		return b.refuse(w, p, pkt.ID, codec.CodeRoomFull)
	case errors.Is(err, rooms.ErrOwnRoom):
		return b.refuse(w, p, pkt.ID, codec.CodeInvalidRoom)
	default: // the session ended concurrently (expiry, takeover, shutdown)
		return byeSeen
	}
}

func (b *Broker) emit(w *Worker, p Peer, s *Session, pkt codec.Packet) Verdict {
	valid := w.dec.Decode(pkt.Type, pkt.Body, &w.emit) == nil
	qos1 := pkt.Flags.QoS() == 1
	if !valid && (!qos1 || p.Reliable()) {
		return Verdict{Code: codec.CodeInvalidBody}
	}
	if !qos1 {
		b.publish(w, p, s, pkt.ID, false)
		return proceed
	}
	// Over UDP a QoS 1 EMIT whose body is invalid still takes its number
	// and is refused (ERROR 206): dropped, it would leave the session
	// waiting for that number for good. The transport still counts the
	// datagram as invalid.
	verdict := proceed
	if !valid {
		verdict = Verdict{Code: codec.CodeInvalidBody}
	}
	// A client numbers its QoS 1 EMITs 1, 2, 3, ... (modulo 2^32), and the
	// server broadcasts them in that order: one that arrives early (UDP
	// lost or reordered the one before) waits for the gap to fill; one
	// from before is a copy the client resent.
	s.mu.Lock()
	switch d := pkt.ID - s.qosLocked().pubNext; {
	case d == 0:
		s.qs.pubNext++
		s.mu.Unlock()
	case d < 1<<31:
		held := s.holdLocked(pkt.ID, pkt.Body, &b.cfg)
		s.mu.Unlock()
		if held {
			b.stats.HeldEmits.Add(1)
		} else {
			b.stats.DroppedEmits.Add(1) // beyond the window: the client resends it
		}
		return verdict
	default:
		st, seen := s.qs.pub.seen(pkt.ID)
		if seen && st == pubFailed && valid {
			// Its first copy was broadcast but the store failed to write
			// it, and its ACK was withheld: take this copy again.
			s.qs.pub.update(pkt.ID, pubPending)
			s.mu.Unlock()
			b.publish(w, p, s, pkt.ID, true)
			return proceed
		}
		s.mu.Unlock()
		b.stats.DupPublishes.Add(1)
		switch {
		case !seen || st == pubPending || st == pubFailed: // its ACK is on its way, or it was never taken
		case st == pubAcked:
			w.Reply(p, ackHeader(pkt.ID), nil)
		default:
			w.Error(p, pkt.ID, codec.Code(st))
		}
		return verdict
	}
	b.take(w, p, s, pkt.ID, valid)
	for { // the EMITs that waited for this one, in order
		s.mu.Lock()
		body, ok := s.qs.held[s.qs.pubNext]
		if !ok {
			s.mu.Unlock()
			return verdict
		}
		id := s.qs.pubNext
		delete(s.qs.held, id)
		s.qs.heldBytes -= len(body)
		s.qs.pubNext++
		s.mu.Unlock()
		b.take(w, p, s, id, w.dec.Decode(codec.TypeEmit, body, &w.emit) == nil)
	}
}

// take takes the QoS 1 EMIT numbered id: it publishes the body decoded in
// w.emit, or, if the body was invalid (UDP), refuses it with ERROR 206,
// which a copy then gets too.
func (b *Broker) take(w *Worker, p Peer, s *Session, id uint32, valid bool) {
	if valid {
		b.publish(w, p, s, id, true)
		return
	}
	s.mu.Lock()
	s.qs.pub.add(id, pubStatus(codec.CodeInvalidEmit), b.cfg.DedupIDs)
	s.mu.Unlock()
	b.refuse(w, p, id, codec.CodeInvalidEmit)
}

// dropHeldLocked forgets the early QoS 1 EMITs the session holds: a new
// connection's client either kept its state, and resends them, or lost
// it, and numbers its new EMITs from pub_next, where held ones would be
// taken for copies of them.
func (s *Session) dropHeldLocked() {
	if s.qs == nil {
		return
	}
	s.qs.held, s.qs.heldBytes = nil, 0
}

// holdLocked keeps a copy of an early QoS 1 EMIT's body, within the
// window of remembered ids and the queue's byte limit.
func (s *Session) holdLocked(id uint32, body []byte, cfg *Config) bool {
	if _, dup := s.qs.held[id]; dup {
		return true
	}
	if int(id-s.qs.pubNext) >= cfg.DedupIDs || s.qs.heldBytes+len(body) > cfg.QueueBytes {
		return false
	}
	if s.qs.held == nil {
		s.qs.held = make(map[uint32][]byte)
	}
	s.qs.held[id] = append([]byte(nil), body...)
	s.qs.heldBytes += len(body)
	return true
}

// pubNextFor returns what WELCOME says of the client's EMIT numbering:
// where it continues on a resumed session (1 if it never published at
// QoS 1), nothing on a new one.
func (s *Session) pubNextFor(resumed bool) uint32 {
	switch {
	case !resumed:
		return 0
	case s.qs == nil:
		return 1
	}
	return s.qs.pubNext
}

// publish validates and broadcasts the EMIT decoded in w.emit, with id,
// at QoS 0 or 1, and answers the publisher.
func (b *Broker) publish(w *Worker, p Peer, s *Session, id uint32, qos1 bool) {
	e := &w.emit
	code := codec.CodeNormal
	switch {
	case len(e.Rooms) > b.cfg.MaxTargets || len(e.Except) > b.cfg.MaxTargets:
		code = codec.CodeTooManyTargets
	case !validNames(e.Rooms) || !validNames(e.Except):
		code = codec.CodeInvalidRoom
	case !validName(e.Event, 0):
		code = codec.CodeInvalidEvent
	}
	w.msg = codec.Message{Rooms: e.Rooms, From: s.nameArr[:], Event: e.Event, Data: e.Data}
	if code == codec.CodeNormal && codec.PacketLen(&w.msg) > b.cfg.MaxFrame {
		// The server never sends a frame over the max_frame it announced.
		code = codec.CodeTooLarge
	}
	var denied []byte // the first room the session may not emit to
	if perms := s.perms.Load(); code == codec.CodeNormal && perms != nil {
		for _, r := range e.Rooms {
			if !perms.CanEmit(r) {
				code, denied = codec.CodeForbidden, r
				break
			}
		}
	}
	if code != codec.CodeNormal {
		if qos1 {
			s.mu.Lock()
			s.qs.pub.add(id, pubStatus(code), b.cfg.DedupIDs)
			s.mu.Unlock()
		}
		if denied != nil {
			b.forbid(w, p, s, id, denied, "emit")
			return
		}
		b.refuse(w, p, id, code)
		return
	}
	except := append(w.except[:0], e.Except...)
	if !e.Echo {
		except = append(except, s.nameArr[:])
	}
	w.except = except
	opts := rooms.BroadcastOptions{Rooms: e.Rooms, Except: except, Origin: w}
	var n int
	if qos1 {
		n = b.emitQoS1(w, p, s, id, opts)
	} else {
		frame := w.Out.Frame(codec.Header{Type: codec.TypeMessage, ID: uint32(b.nextSeq())}, &w.msg)
		n = b.adapter.Broadcast(frame, opts)
		w.Out.Traffic.Out(byte(codec.TypeMessage), n, n*(len(frame)-codec.LenPrefixLen))
	}
	clear(w.except) // do not keep the input buffer reachable
	b.stats.Emits.Add(1)
	b.stats.Recipients.Add(uint64(n))
}

// emitQoS1 broadcasts w.msg at QoS 1: one body, queued in every recipient
// session. The publisher's ACK goes out once the message is durable for
// the persistent sessions that will receive it (at once if none will).
func (b *Broker) emitQoS1(w *Worker, p Peer, s *Session, id uint32, opts rooms.BroadcastOptions) int {
	s.mu.Lock()
	s.qs.pub.add(id, pubPending, b.cfg.DedupIDs)
	s.mu.Unlock()
	q := &qmsg{seq: b.nextSeq(), time: time.Now()}
	q.body = w.msg.Append(make([]byte, 0, w.msg.Len()))
	w.q = q
	n := b.adapter.Broadcast(q.body, opts)
	w.q = nil
	b.stats.QoS1Emits.Add(1)
	if len(q.recips) > 0 && q.refs.Load() > 0 {
		q.stored.Store(true)
		w.batch.PutMessage(&store.Message{Seq: q.seq, Frame: q.body, Recipients: q.recips, Time: q.time.UnixNano()})
		w.acks = append(w.acks, pendingAck{peer: p, id: id, pub: true})
		return n
	}
	w.Reply(p, ackHeader(id), nil)
	s.mu.Lock()
	s.qs.pub.add(id, pubAcked, b.cfg.DedupIDs)
	s.mu.Unlock()
	return n
}

func (b *Broker) refuse(w *Worker, p Peer, id uint32, c codec.Code) Verdict {
	b.stats.RequestErrors.Add(1)
	w.Error(p, id, c)
	return proceed
}

// validNames reports whether every name in l is a valid room name.
func validNames(l [][]byte) bool {
	for _, n := range l {
		if !validName(n, 1) {
			return false
		}
	}
	return true
}

// validName reports whether n is a room or event name: UTF-8, at most
// MaxName bytes, at least min.
func validName(n []byte, min int) bool {
	return len(n) >= min && len(n) <= MaxName && utf8.Valid(n)
}
