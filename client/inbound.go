package client

import (
	"math"
	"slices"

	"github.com/packetd/packetd/codec"
)

// defaultWindow is the server's default inflight window, assumed if a
// WELCOME announces none.
const defaultWindow = 20

// arrival is what became of one QoS 1 MESSAGE.
type arrival uint8

const (
	arrivalDelivered arrival = iota // the number expected: delivered, with any buffered successors
	arrivalBuffered                 // early: held until the numbers before it arrive
	arrivalDuplicate                // delivered or buffered before: dropped (and ACKed again)
	arrivalLate                     // below where a fresh client started: delivered out of order
	arrivalRefused                  // beyond the window: dropped, not ACKed
)

// inbound puts a session's QoS 1 MESSAGEs in delivery-number order and
// drops duplicates. The server numbers a session's QoS 1 MESSAGEs 1, 2, 3,
// ... modulo 2^32 (0 follows 4294967295) within an epoch, and sends
// number s only while s < (the oldest it has not seen ACKed) + window, so
// an arrival is next, early by less than a window, or a duplicate.
//
// A fresh Client that resumes a session (Dial with ClientID and Persist,
// WELCOME resumed) starts at the WELCOME's next, 0 included. A server
// that predates next does not say where the previous Client stopped; the
// Client then starts at the first number that arrives: the server resends
// what it did not see acknowledged, in order, so over TCP that is the
// oldest. Over UDP an older one may still come, reordered or
// retransmitted; up to a window below the start such numbers are
// delivered once, late, rather than dropped.
//
// An inbound belongs to the reader goroutine.
type inbound struct {
	next   uint32 // the number expected next
	window uint32 // the largest of the session's WELCOMEs: resends may span it
	buf    map[uint32]*Message
	known  bool   // a WELCOME was seen
	epoch  uint32 // of the last WELCOME
	sid    string // of the last WELCOME

	learn bool                // next is not known yet: the first arrival sets it
	late  bool                // numbers below start may still come
	start uint32              // where a fresh resume started
	below map[uint32]struct{} // numbers below start delivered late

	ready []*Message // scratch for accept's and welcome's result
}

// welcome applies a WELCOME: numbering carries on if it resumed the
// session of the last WELCOME in the same epoch, and restarts at 1
// otherwise (a fresh client that resumed a session learns it from the
// first MESSAGE). Messages held for a gap the new numbering will never
// fill (they were ACKed) are returned for delivery, in order. A resumed
// session keeps its id, so a WELCOME with the last one's id and epoch
// continues the numbering even if it says resumed=false, as servers
// before fc9ba32 did when answering a retransmitted HELLO.
func (in *inbound) welcome(w *codec.Welcome) []*Message {
	in.ready = in.ready[:0]
	window := w.Inflight
	if window == 0 {
		window = defaultWindow
	}
	same := in.known && w.Epoch == in.epoch && (w.Resumed || string(w.SessionID) == in.sid)
	if same {
		window = max(window, in.window)
	} else {
		in.ready = in.drainInto(in.ready)
		in.next = 1
		if w.Resumed && w.HasNext {
			in.next = w.Next // where the server resumes the numbering (0 after a wrap)
		}
		// A server that predates next does not say: learn it.
		in.learn = !in.known && w.Resumed && !w.HasNext
		in.late, in.below = false, nil
	}
	in.window = window
	in.known, in.epoch, in.sid = true, w.Epoch, string(w.SessionID)
	return in.ready
}

// accept takes QoS 1 MESSAGE number seq and returns what became of it and
// the messages now deliverable, in order (valid until the next call).
func (in *inbound) accept(seq uint32, m *Message) (arrival, []*Message) {
	in.ready = in.ready[:0]
	if in.learn {
		in.learn, in.late = false, true
		in.next, in.start, in.below = seq, seq, make(map[uint32]struct{})
	}
	d := seq - in.next // modulo 2^32: numbers below next give d > MaxUint32/2
	switch {
	case d == 0:
		in.ready = append(in.ready, m)
		in.next++
		for {
			b, ok := in.buf[in.next]
			if !ok {
				break
			}
			delete(in.buf, in.next)
			in.ready = append(in.ready, b)
			in.next++
		}
		if in.late && in.next-in.start > in.window {
			// The server has seen everything below start ACKed by now:
			// nothing older can come.
			in.late, in.below = false, nil
		}
		return arrivalDelivered, in.ready
	case d < in.window:
		if _, ok := in.buf[seq]; ok {
			return arrivalDuplicate, nil
		}
		if in.buf == nil {
			in.buf = make(map[uint32]*Message)
		}
		in.buf[seq] = m
		return arrivalBuffered, nil
	case in.late && seq != in.start && in.start-seq <= in.window:
		if _, ok := in.below[seq]; ok {
			return arrivalDuplicate, nil
		}
		in.below[seq] = struct{}{}
		return arrivalLate, append(in.ready, m)
	case d > math.MaxUint32/2:
		return arrivalDuplicate, nil // behind next
	default:
		return arrivalRefused, nil
	}
}

// drainInto appends the buffered messages to out in number order and
// empties the buffer.
func (in *inbound) drainInto(out []*Message) []*Message {
	if len(in.buf) == 0 {
		return out
	}
	seqs := make([]uint32, 0, len(in.buf))
	for s := range in.buf {
		seqs = append(seqs, s)
	}
	slices.SortFunc(seqs, func(a, b uint32) int { return int(int64(a-in.next) - int64(b-in.next)) })
	for _, s := range seqs {
		out = append(out, in.buf[s])
	}
	clear(in.buf)
	return out
}
