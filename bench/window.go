package bench

import (
	"context"
	"sync"
	"time"

	"github.com/packetd/packetd/codec"
)

// window is a QoS 1 publisher's unacknowledged EMITs, numbered 1, 2, 3
// ... as the server expects (PROTOCOL.md 9.2), at most size at once. Over
// UDP it keeps each EMIT's bytes and resends it (DUP) when its timer
// expires, with RFC 6298's estimator and Karn's rule. The sender takes and
// resends; the session's reader acknowledges.
type window struct {
	udp   bool
	size  uint32
	space chan struct{} // a token whenever an ACK frees a place

	mu      sync.Mutex // guards the fields below
	base    uint32     // oldest unacknowledged id
	next    uint32     // the next id to take
	slots   []wslot    // by id % size
	srtt    time.Duration
	rttvar  time.Duration
	rto     time.Duration
	resends int64
	acked   int64
}

type wslot struct {
	sent  int64 // unix nanoseconds of the first send
	due   int64 // when to resend, unix nanoseconds
	tries int
	acked bool
	pkt   []byte // UDP: the record to resend
}

const (
	initialRTO = time.Second
	minRTO     = 200 * time.Millisecond
	maxRTO     = 8 * time.Second
)

func newWindow(size int, udp bool) *window {
	return &window{
		udp:   udp,
		size:  uint32(size),
		space: make(chan struct{}, 1),
		base:  1,
		next:  1,
		slots: make([]wslot, size),
		rto:   initialRTO,
	}
}

// take returns the next id if the window has room, else 0.
func (w *window) take() uint32 {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.next-w.base >= w.size {
		return 0
	}
	id := w.next
	w.next++
	now := time.Now().UnixNano()
	sl := &w.slots[id%w.size]
	sl.sent, sl.due, sl.tries, sl.acked = now, now+int64(w.rto), 1, false
	return id
}

// keep stores the bytes of EMIT id for resending.
func (w *window) keep(id uint32, rec []byte) {
	w.mu.Lock()
	sl := &w.slots[id%w.size]
	sl.pkt = append(sl.pkt[:0], rec...)
	w.mu.Unlock()
}

// ack records the server's ACK of id; it ignores ids it is not waiting for.
func (w *window) ack(id uint32) {
	w.mu.Lock()
	if id-w.base >= w.next-w.base {
		w.mu.Unlock()
		return
	}
	sl := &w.slots[id%w.size]
	if !sl.acked {
		sl.acked = true
		w.acked++
		if sl.tries == 1 && w.udp {
			w.sampleLocked(time.Duration(time.Now().UnixNano() - sl.sent))
		}
	}
	for w.base != w.next && w.slots[w.base%w.size].acked {
		w.base++
	}
	w.mu.Unlock()
	select {
	case w.space <- struct{}{}:
	default:
	}
}

// sampleLocked updates the RTO from a round-trip sample (RFC 6298).
func (w *window) sampleLocked(rtt time.Duration) {
	if w.srtt == 0 {
		w.srtt, w.rttvar = rtt, rtt/2
	} else {
		d := w.srtt - rtt
		if d < 0 {
			d = -d
		}
		w.rttvar = (3*w.rttvar + d) / 4
		w.srtt = (7*w.srtt + rtt) / 8
	}
	w.rto = min(max(w.srtt+4*w.rttvar, minRTO), maxRTO)
}

// appendDue appends the EMITs whose timers expired, flagged DUP, and
// rearms their timers with exponential backoff. Over TCP it does nothing.
func (w *window) appendDue(buf []byte, hdr int) []byte {
	if !w.udp {
		return buf
	}
	now := time.Now().UnixNano()
	w.mu.Lock()
	defer w.mu.Unlock()
	for id := w.base; id != w.next; id++ {
		sl := &w.slots[id%w.size]
		if sl.acked || sl.due > now {
			continue
		}
		sl.tries++
		sl.due = now + int64(min(w.rto<<min(sl.tries-1, 6), maxRTO))
		w.resends++
		start := len(buf)
		buf = append(buf, sl.pkt...)
		buf[start+hdr+2] |= byte(codec.FlagDup)
	}
	return buf
}

// wait blocks until an ACK arrives, the earliest retransmission is due,
// or ctx ends (its error).
func (w *window) wait(ctx context.Context) error {
	d := w.untilDue(50 * time.Millisecond)
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-w.space:
		return nil
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// untilDue returns the time until the earliest retransmission is due, at
// most limit (over TCP: limit).
func (w *window) untilDue(limit time.Duration) time.Duration {
	if !w.udp {
		return limit
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	now := time.Now().UnixNano()
	for id := w.base; id != w.next; id++ {
		if sl := &w.slots[id%w.size]; !sl.acked {
			limit = min(limit, time.Duration(sl.due-now))
		}
	}
	return limit
}

// empty reports whether every EMIT taken was acknowledged.
func (w *window) empty() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.base == w.next
}

// counts returns the resends and ACKs so far.
func (w *window) counts() (resends, acked int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.resends, w.acked
}
