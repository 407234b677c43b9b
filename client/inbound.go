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
	arrivalRefused                  // beyond the window, or number 0: dropped, not ACKed
)

// inbound puts a session's QoS 1 MESSAGEs in delivery-number order and
// drops duplicates. The server numbers a session's QoS 1 MESSAGEs 1, 2, 3,
// ... (skipping 0 when the count wraps) within an epoch, and sends number s
// only while s < (the oldest it has not seen ACKed) + window, so an
// arrival is either next, early by less than a window, or a duplicate.
//
// A fresh Client that resumes a session (Dial with ClientID and Persist,
// WELCOME resumed) does not know where the previous Client stopped: the
// protocol does not say. It starts at the first number that arrives: the
// server resends what it did not see acknowledged, in order, so over TCP
// that is the oldest. Over UDP an older one may still come, reordered or
// retransmitted; up to a window below the start such numbers are
// delivered once, late, rather than dropped.
//
// An inbound belongs to the reader goroutine.
type inbound struct {
	next   uint32 // the number expected next; 0 until a fresh resume learns it
	window uint32
	buf    map[uint32]*Message // early arrivals, in (next, next+window)
	known  bool                // a WELCOME was seen
	epoch  uint32              // of the last WELCOME
	sid    string              // of the last WELCOME

	start uint32              // where a fresh resume started; 0 once past it by a window
	below map[uint32]struct{} // numbers below start delivered late

	ready []*Message // scratch for accept's and welcome's result
}

// succ returns the number after n: 0 is skipped.
func succ(n uint32) uint32 {
	if n++; n == 0 {
		n = 1
	}
	return n
}

// dist returns how many numbers lie from a forward to b (0 is skipped,
// so counting across the wrap takes one step fewer).
func dist(a, b uint32) uint32 {
	d := b - a
	if b < a {
		d--
	}
	return d
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
	same := in.known && w.Epoch == in.epoch && (w.Resumed || string(w.SessionID) == in.sid)
	if !same {
		in.ready = in.drainInto(in.ready)
		in.next = 1
		if !in.known && w.Resumed {
			in.next = 0 // learn it from the first MESSAGE
		}
		in.start, in.below = 0, nil
	}
	in.window = w.Inflight
	if in.window == 0 {
		in.window = defaultWindow
	}
	in.known, in.epoch, in.sid = true, w.Epoch, string(w.SessionID)
	return in.ready
}

// accept takes QoS 1 MESSAGE number seq and returns what became of it and
// the messages now deliverable, in order (valid until the next call).
func (in *inbound) accept(seq uint32, m *Message) (arrival, []*Message) {
	in.ready = in.ready[:0]
	if seq == 0 {
		return arrivalRefused, nil
	}
	if in.next == 0 {
		in.next, in.start, in.below = seq, seq, make(map[uint32]struct{})
	}
	d := dist(in.next, seq)
	switch {
	case d == 0:
		in.ready = append(in.ready, m)
		in.next = succ(in.next)
		for {
			b, ok := in.buf[in.next]
			if !ok {
				break
			}
			delete(in.buf, in.next)
			in.ready = append(in.ready, b)
			in.next = succ(in.next)
		}
		if in.start != 0 && dist(in.start, in.next) > in.window {
			// The server has seen everything below start ACKed by now:
			// nothing older can come.
			in.start, in.below = 0, nil
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
	case in.start != 0 && seq != in.start && dist(seq, in.start) <= in.window:
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
	slices.SortFunc(seqs, func(a, b uint32) int { return int(int64(dist(in.next, a)) - int64(dist(in.next, b))) })
	for _, s := range seqs {
		out = append(out, in.buf[s])
	}
	clear(in.buf)
	return out
}
