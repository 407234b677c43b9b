package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"runtime"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/packetd/packetd/codec"
)

// sendPlan is when and how fast the senders of a run send.
type sendPlan struct {
	start   time.Time     // the senders start (the warmup's start)
	measure time.Time     // payloads sent from here on are measured
	end     time.Time     // nothing is sent from here on, but what a rate scheduled before it
	count   int64         // measured messages per sender; 0: until end
	rate    float64       // messages/s per sender; 0: as fast as possible
	closed  bool          // closed loop: the next message after the echo
	precise bool          // pace with nanosleep (few senders, high rates)
	batch   int           // messages per write when flooding
	timeout time.Duration // closed loop: give up waiting for an echo
	ahead   *backlog      // flooding over TCP: bounds what is on its way
}

// sender publishes measured messages from one session: EMITs to its
// rooms, each carrying a Payload. It is built once and run by one
// goroutine; its counters are atomic.
type sender struct {
	sess   session
	rec    *Recorder
	index  uint32 // Payload.Publisher
	runID  uint32
	size   int
	prefix []byte // the EMIT as appendPacket makes it, before the data value
	suffix []byte // and after it
	hdr    int    // offset of the packet header in a record
	win    *window
	credit chan struct{} // closed loop: the reader saw an echo

	seq      uint64
	phase    time.Duration // at a rate: the schedule's offset from the plan's start
	due      int64         // at a rate: the measured messages the schedule holds
	measured atomic.Int64  // measured messages sent
	total    atomic.Int64  // messages sent, warmup included
	lastSent atomic.Int64  // unix nanoseconds of the latest send
}

// newSender builds a sender from an EMIT body; its Data is replaced by each
// message's payload.
func newSender(s session, rec *Recorder, index, run uint32, size int, emit codec.Emit, qos1 bool, window int) *sender {
	marker := Payload{Publisher: 0x7a7a7a7a, Seq: 0x7a7a7a7a7a7a7a7a, Sent: 0x7a7a7a7a7a7a7a7a, Run: 0x7a7a7a7a}
	data := AppendPayload(nil, marker, size)
	emit.Data = data
	h := codec.Header{Type: codec.TypeEmit, ID: 1}
	if qos1 {
		h.Flags = codec.FlagQoS1
	}
	rec0 := s.appendPacket(nil, h, &emit)
	at := bytes.Index(rec0, data)
	sn := &sender{
		sess:   s,
		rec:    rec,
		index:  index,
		runID:  run,
		size:   size,
		prefix: rec0[:at],
		suffix: rec0[at+len(data):],
		hdr:    s.headerOffset(),
		credit: make(chan struct{}, 1),
	}
	if qos1 {
		_, udp := s.(*udpSession)
		sn.win = newWindow(window, udp)
	}
	return sn
}

// appendMsg appends one message stamped sent, with QoS 1 id (0 at QoS 0).
func (s *sender) appendMsg(b []byte, sent int64, id uint32) []byte {
	s.seq++
	start := len(b)
	b = append(b, s.prefix...)
	if id != 0 {
		binary.BigEndian.PutUint32(b[start+s.hdr+4:], id)
	}
	b = AppendPayload(b, Payload{Publisher: s.index, Seq: s.seq, Sent: sent, Run: s.runID}, s.size)
	b = append(b, s.suffix...)
	if s.win != nil && s.win.udp {
		s.win.keep(id, b[start:])
	}
	return b
}

// run sends until the plan ends or ctx is done. It returns the error of
// a failed write; ctx's end is no error.
//
// At a rate, message i of the sender is scheduled at the plan's start +
// phase + i/rate, whenever the sender got going: one that falls behind
// (held up by the server, a full QoS 1 window, a busy machine) sends
// what is due at once, stamped with its scheduled time, and after the
// end still sends what was scheduled before it, until ctx ends. What it
// could not send by then is s.due - s.measured.
func (s *sender) run(ctx context.Context, p *sendPlan) error {
	var buf []byte
	measure, end := p.measure.UnixNano(), p.end.UnixNano()
	var interval int64
	var next int64 // rate: the next message's scheduled time
	if p.precise && p.rate > 0 {
		// nanosleep wakes within the thread's timer slack, 50 us by
		// default: give this sender a thread of its own with 1 us.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		_ = unix.Prctl(unix.PR_SET_TIMERSLACK, 1000, 0, 0, 0)
	}
	pace := pacer{precise: p.precise}
	defer pace.stop()
	if p.rate > 0 {
		interval = max(int64(float64(time.Second)/p.rate), 1)
		next = p.start.UnixNano() + int64(s.phase)
		s.due = scheduled(next, interval, measure, end, p.count)
	} else {
		pace.sleepUntil(ctx, p.start.UnixNano())
	}
	for ctx.Err() == nil {
		if p.count > 0 && s.measured.Load() >= p.count {
			return nil
		}
		k := p.batch
		now := time.Now().UnixNano()
		if interval > 0 {
			if next >= end {
				return nil // the schedule is done
			}
			pace.sleepUntil(ctx, next)
			if ctx.Err() != nil {
				return nil
			}
			now = time.Now().UnixNano()
			k = int(min(max((now-next)/interval+1, 1), 1024, (end-next+interval-1)/interval))
		}
		if p.closed {
			k = 1
		}
		if p.ahead != nil {
			p.ahead.wait(ctx)
			now = time.Now().UnixNano()
		}
		if interval == 0 && now >= end {
			return nil
		}
		if p.count > 0 && (interval == 0 && now >= measure || interval > 0 && next+int64(k-1)*interval >= measure) {
			k = int(min(int64(k), p.count-s.measured.Load()))
		}
		buf = buf[:0]
		var n, m int64
		for i := range k {
			id := uint32(0)
			if s.win != nil {
				var err error
				if id, buf, err = s.acquire(ctx, buf, i == 0); err != nil {
					return err
				}
				if id == 0 {
					break // the window is full: send what we have
				}
			}
			t := stamp(now, next+int64(i)*interval, interval, measure)
			buf = s.appendMsg(buf, t, id)
			n++
			if t >= measure {
				m++
			}
		}
		next += n * interval
		if n == 0 {
			continue
		}
		s.total.Add(n)
		if err := s.sess.send(buf); err != nil {
			return err
		}
		s.lastSent.Store(time.Now().UnixNano())
		if m > 0 {
			s.measured.Add(m)
			s.rec.AddSent(m, m*int64(s.size))
		}
		if p.closed {
			if err := s.await(ctx, p.timeout); err != nil {
				return err
			}
		}
	}
	return nil
}

// scheduled returns how many messages a schedule from first, one every
// interval, holds in [measure, end): the measured ones, at most count
// (if count > 0).
func scheduled(first, interval, measure, end, count int64) int64 {
	// Message i is at first + i*interval; the first measured is the
	// first at or after measure, the last the last before end.
	from := int64(0)
	if measure > first {
		from = (measure - first + interval - 1) / interval
	}
	to := int64(0)
	if end > first {
		to = (end - first + interval - 1) / interval
	}
	n := max(to-from, 0)
	if count > 0 {
		n = min(n, count)
	}
	return n
}

// stamp returns a message's send time: now when flooding; at a fixed
// rate, its scheduled time, so that a sender held up by a slow server
// counts the wait as latency (no coordinated omission), but now if the
// pacing itself was late by less than one interval or 1 ms (nanosleep
// wakes tens of microseconds late; that is not the server's). A message
// scheduled in the warmup stays in it: the receivers tell measured
// messages by their stamp, and the schedule says how many there are.
func stamp(now, scheduled, interval, measure int64) int64 {
	if interval == 0 {
		return now
	}
	if now-scheduled <= min(interval, int64(time.Millisecond)) && (scheduled >= measure || now < measure) {
		return now
	}
	return scheduled
}

// acquire returns the id of a free place in the QoS 1 window, after
// appending to buf the EMITs due for retransmission. When the window is
// full it waits if wait is true, else returns id 0.
func (s *sender) acquire(ctx context.Context, buf []byte, wait bool) (uint32, []byte, error) {
	for {
		buf = s.win.appendDue(buf, s.hdr)
		if id := s.win.take(); id != 0 || !wait {
			return id, buf, nil
		}
		if len(buf) > 0 { // retransmissions go out while we wait
			if err := s.sess.send(buf); err != nil {
				return 0, buf, err
			}
			buf = buf[:0]
		}
		if err := s.win.wait(ctx); err != nil {
			return 0, buf, nil // ctx ended: the caller sees it
		}
	}
}

// await waits for the echo of the message just sent (closed loop).
// Over UDP at QoS 1 it resends the EMIT meanwhile as its timer expires.
func (s *sender) await(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		d := time.Until(deadline)
		if s.win != nil {
			d = min(d, s.win.untilDue(d))
		}
		t.Reset(max(d, 0))
		select {
		case <-s.credit:
			return nil
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if s.win != nil {
			if buf := s.win.appendDue(nil, s.hdr); len(buf) > 0 {
				if err := s.sess.send(buf); err != nil {
					return err
				}
			}
		}
		if !time.Now().Before(deadline) {
			return nil
		}
	}
}

// echoed tells a closed-loop sender that its message came back.
func (s *sender) echoed() {
	select {
	case s.credit <- struct{}{}:
	default:
	}
}

// settle waits until every QoS 1 EMIT is acknowledged, resending over UDP
// as their timers expire, or until ctx is done.
func (s *sender) settle(ctx context.Context) error {
	if s.win == nil {
		return nil
	}
	var buf []byte
	for !s.win.empty() {
		buf = s.win.appendDue(buf[:0], s.hdr)
		if len(buf) > 0 {
			if err := s.sess.send(buf); err != nil {
				return err
			}
		}
		if s.win.wait(ctx) != nil {
			return nil
		}
	}
	return nil
}
