package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/packetd/packetd/codec"
)

// sendPlan is when and how fast the senders of a run send.
type sendPlan struct {
	measure time.Time     // payloads sent from here on are measured
	end     time.Time     // nothing is sent from here on
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
	measured atomic.Int64 // measured messages sent
	total    atomic.Int64 // messages sent, warmup included
	phase    time.Duration
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
		interval = int64(float64(time.Second) / p.rate)
		next = time.Now().UnixNano() + int64(s.phase)
	}
	for ctx.Err() == nil {
		if p.count > 0 && s.measured.Load() >= p.count {
			return nil
		}
		k := p.batch
		now := time.Now().UnixNano()
		if interval > 0 {
			pace.sleepUntil(ctx, next)
			now = time.Now().UnixNano()
			k = int(min(max((now-next)/interval+1, 1), 1024))
		}
		if p.closed {
			k = 1
		}
		if p.ahead != nil {
			p.ahead.wait(ctx)
			now = time.Now().UnixNano()
		}
		if now >= end {
			return nil
		}
		if p.count > 0 && now >= measure {
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
			t := s.stamp(now, next+int64(i)*interval, interval)
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
		if m > 0 {
			s.measured.Add(m)
			s.rec.AddSent(m, m*int64(s.size))
		}
		if p.closed {
			s.await(ctx, p.timeout)
		}
	}
	return nil
}

// backlog bounds the deliveries on their way when TCP publishers flood:
// without it a publisher fills the kernel's socket buffers (megabytes,
// seconds of fan-out to many subscribers), the latency measured is the
// time spent in them, and a short measurement counts the warmup's
// backlog. Publishers wait while more than limit deliveries are
// outstanding; what stays outstanding for a while (dropped by the server
// for a slow consumer) is written off, so that a loss cannot stall them.
type backlog struct {
	t     *traffic
	fan   int64 // receivers per message
	limit int64 // deliveries outstanding

	mu    sync.Mutex // guards the fields below
	lost  int64      // deliveries written off
	seen  int64      // deliveries at the last look
	moved time.Time  // when they last changed
}

// outstanding returns the deliveries sent and neither received nor
// written off.
func (b *backlog) outstandingLocked() int64 {
	var sent, got int64
	for _, s := range b.t.senders {
		sent += s.total.Load()
	}
	for i := range b.t.expects {
		got += b.t.receivers[i].all.Load()
	}
	if got != b.seen {
		b.seen, b.moved = got, time.Now()
	}
	return sent*b.fan - got - b.lost
}

// wait blocks while too much is outstanding.
func (b *backlog) wait(ctx context.Context) {
	for ctx.Err() == nil {
		b.mu.Lock()
		n := b.outstandingLocked()
		if n <= b.limit {
			b.mu.Unlock()
			return
		}
		if time.Since(b.moved) > 50*time.Millisecond {
			b.lost += n // nothing arrives: it will not
			b.moved = time.Now()
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		time.Sleep(100 * time.Microsecond)
	}
}

// stamp returns a message's send time: now when flooding; at a fixed
// rate, its scheduled time, so that a sender held up by a slow server
// counts the wait as latency (no coordinated omission), but now if the
// pacing itself was late by less than one interval (nanosleep wakes tens
// of microseconds late; that is not the server's).
func (s *sender) stamp(now, scheduled, interval int64) int64 {
	if interval == 0 || now-scheduled <= min(interval, int64(time.Millisecond)) {
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
func (s *sender) await(ctx context.Context, timeout time.Duration) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-s.credit:
	case <-t.C:
	case <-ctx.Done():
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

// sleepUntil sleeps until t (unix nanoseconds) or ctx's end.
func sleepUntil(ctx context.Context, t int64, precise bool) {
	p := pacer{precise: precise}
	p.sleepUntil(ctx, t)
	p.stop()
}

// pacer sleeps until given times, reusing one timer. Go's timers wake up
// to a millisecond late on Linux; a precise pacer ends each sleep with
// nanosleep(2), which wakes within the thread's timer slack.
type pacer struct {
	precise bool
	timer   *time.Timer
}

func (p *pacer) sleepUntil(ctx context.Context, t int64) {
	const slack = 10 * time.Microsecond
	for ctx.Err() == nil {
		d := time.Duration(t - time.Now().UnixNano())
		switch {
		case d <= 0:
			return
		case !p.precise || d > 3*time.Millisecond:
			if p.precise {
				d -= 2 * time.Millisecond
			}
			if p.timer == nil {
				p.timer = time.NewTimer(d)
			} else {
				p.timer.Reset(d)
			}
			select {
			case <-p.timer.C:
			case <-ctx.Done():
			}
		default:
			if d > 2*slack {
				d -= slack
			}
			ts := syscall.NsecToTimespec(int64(d))
			_ = syscall.Nanosleep(&ts, nil)
		}
	}
}

func (p *pacer) stop() {
	if p.timer != nil {
		p.timer.Stop()
	}
}

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
	d := 50 * time.Millisecond
	if w.udp {
		w.mu.Lock()
		now := time.Now().UnixNano()
		for id := w.base; id != w.next; id++ {
			if sl := &w.slots[id%w.size]; !sl.acked {
				d = min(d, time.Duration(sl.due-now))
			}
		}
		w.mu.Unlock()
		if d <= 0 {
			return nil
		}
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
