package bench

import (
	"math"
	"sync/atomic"
)

// FlowWindow is how many of the latest sequence numbers a Flow remembers
// to tell a duplicate from a late first copy.
const FlowWindow = 1 << 16

// Outcome says how Flow.Observe or Local.Observe classified a message.
type Outcome uint8

const (
	// OutcomeInOrder: the highest sequence number of the flow so far
	// (including the first message and any after a gap). Counted.
	OutcomeInOrder Outcome = iota
	// OutcomeOutOfOrder: lower than the highest seen and not seen before
	// (or too old to tell: more than FlowWindow below the highest).
	// Counted as delivered and as out of order.
	OutcomeOutOfOrder
	// OutcomeDuplicate: seen before. Counted as a duplicate only: no
	// delivery, no latency sample, no jitter update.
	OutcomeDuplicate
	// OutcomeForeign: another run's payload (Local only). Ignored.
	OutcomeForeign
	// OutcomeEarly: sent before the measurement started, during warmup
	// (Local only). Ignored.
	OutcomeEarly
)

var outcomeNames = [...]string{"in order", "out of order", "duplicate", "foreign", "early"}

func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "invalid"
}

// Flow tracks one (receiver, publisher) stream of sequence numbers:
// deliveries, duplicates, reordering and interarrival jitter. The zero value
// is ready to use; a Flow is about 8 KiB (the duplicate bitmap). It is not
// safe for concurrent use: one receiver owns it.
type Flow struct {
	delivered  int64 // first copies, in order or not
	bytes      int64
	duplicates int64
	outOfOrder int64
	lo, hi     uint64 // lowest and highest sequence numbers seen
	started    bool

	// RFC 3550 section 6.4.1 interarrival jitter, as iperf3 computes it:
	// D = transit(i) - transit(i-1) in arrival order, J += (|D| - J)/16.
	jitter   float64 // nanoseconds
	transit  int64   // recv - sent of the previous message
	jittered int64   // number of D values folded into jitter

	// seen has bit s%FlowWindow set for every sequence number s in
	// (hi-FlowWindow, hi] seen so far.
	seen [FlowWindow / 64]uint64
}

// Observe accounts one message: its sequence number, send and receive
// times (unix nanoseconds) and payload size in bytes. It never allocates.
func (f *Flow) Observe(seq uint64, sent, recv int64, size int) Outcome {
	o := OutcomeInOrder
	switch {
	case !f.started:
		f.started = true
		f.lo, f.hi = seq, seq
		f.mark(seq)
	case seq > f.hi:
		if seq-f.hi >= FlowWindow {
			clear(f.seen[:])
		} else {
			f.clearRange(f.hi+1, seq-f.hi-1)
		}
		f.hi = seq
		f.mark(seq)
	case f.hi-seq >= FlowWindow:
		// Too old to remember: a late first copy as far as we can tell.
		o = OutcomeOutOfOrder
	case f.marked(seq):
		f.duplicates++
		return OutcomeDuplicate
	default:
		f.mark(seq)
		o = OutcomeOutOfOrder
	}
	if o == OutcomeOutOfOrder {
		f.outOfOrder++
		f.lo = min(f.lo, seq)
	}
	f.delivered++
	f.bytes += int64(size)

	transit := recv - sent
	if f.delivered > 1 {
		d := math.Abs(float64(transit - f.transit))
		f.jitter += (d - f.jitter) / 16
		f.jittered++
	}
	f.transit = transit
	return o
}

func (f *Flow) mark(seq uint64) {
	i := seq % FlowWindow
	f.seen[i/64] |= 1 << (i % 64)
}

func (f *Flow) marked(seq uint64) bool {
	i := seq % FlowWindow
	return f.seen[i/64]&(1<<(i%64)) != 0
}

// clearRange forgets n < FlowWindow sequence numbers from seq on.
func (f *Flow) clearRange(seq, n uint64) {
	for n > 0 {
		i := seq % FlowWindow
		bit := i % 64
		k := min(64-bit, n)
		f.seen[i/64] &^= (math.MaxUint64 >> (64 - k)) << bit
		seq += k
		n -= k
	}
}

// gaps returns how many sequence numbers between the lowest and the
// highest seen have not arrived (yet): iperf3's running loss count.
func (f *Flow) gaps() int64 {
	if !f.started {
		return 0
	}
	return int64(f.hi-f.lo+1) - f.delivered
}

// FlowStats is a snapshot of a Flow's counters.
type FlowStats struct {
	Delivered  int64   // first copies received
	Bytes      int64   // payload bytes of the first copies
	Duplicates int64   // copies of a sequence number already received
	OutOfOrder int64   // first copies below the highest sequence number then
	Lowest     uint64  // lowest sequence number received
	Highest    uint64  // highest sequence number received
	Gaps       int64   // numbers in [Lowest, Highest] not received
	JitterMs   float64 // RFC 3550 interarrival jitter, milliseconds
	Jittered   int64   // messages the jitter estimate is made of
}

// Stats returns the flow's counters.
func (f *Flow) Stats() FlowStats {
	return FlowStats{
		Delivered:  f.delivered,
		Bytes:      f.bytes,
		Duplicates: f.duplicates,
		OutOfOrder: f.outOfOrder,
		Lowest:     f.lo,
		Highest:    f.hi,
		Gaps:       f.gaps(),
		JitterMs:   f.jitter / 1e6,
		Jittered:   f.jittered,
	}
}

// maxDenseFlows bounds the publisher indices a Local keeps in a slice;
// larger ones go to a map.
const maxDenseFlows = 1 << 16

// sample is one delivered message waiting in a Local's ring.
type sample struct {
	recv int64 // unix nanoseconds
	lat  int64 // nanoseconds
	size int64 // payload bytes
}

// Local is one receiver's share of a Recorder: its Flows (one per
// publisher, 8 KiB each) and a ring of latency samples (24 bytes each,
// RecorderConfig.LocalBuffer of them) that the Recorder drains at interval
// boundaries (Tick, Finish) and the receiver itself when the ring is full,
// so that no lock is taken per message. Observe and Record must be called
// from one goroutine at a time (the receiver's); Close ends it.
type Local struct {
	r     *Recorder
	flows []*Flow // by publisher index, < maxDenseFlows
	more  map[uint32]*Flow
	index int  // position in r.locals, guarded by r.mu
	done  bool // guarded by r.mu

	// Counters of rare events, read live by Tick for progress lines.
	gaps atomic.Int64

	// Single-producer single-consumer ring: the owner writes ring[head]
	// then publishes head; drains (under r.mu) read up to head and publish
	// tail. len(ring) is a power of two.
	ring []sample
	mask uint64 // len(ring) - 1
	h    uint64 // owner's copy of head
	head atomic.Uint64
	_    [56]byte // keep the owner's and the drainer's words apart
	tail atomic.Uint64
}

// Observe accounts a message received at recv (unix nanoseconds) with
// payload p, whose `data` bin was size bytes: it ignores other runs'
// payloads and those sent before the measurement started, updates the
// publisher's Flow, and queues the latency (recv - p.Sent) of a first copy.
// It allocates only for the first message of a publisher.
func (l *Local) Observe(p Payload, recv int64, size int) Outcome {
	r := l.r
	if r.run != 0 && p.Run != r.run {
		return OutcomeForeign
	}
	if p.Sent < r.start {
		return OutcomeEarly
	}
	f := l.flow(p.Publisher)
	g := f.gaps()
	o := f.Observe(p.Seq, p.Sent, recv, size)
	if d := f.gaps() - g; d != 0 {
		l.gaps.Add(d)
	}
	if o != OutcomeDuplicate {
		l.push(sample{recv: recv, lat: recv - p.Sent, size: int64(size)})
	}
	return o
}

// Record queues one delivery measured without a Payload (a handshake, a
// round trip timed by the caller): latency in nanoseconds, received at recv
// (unix nanoseconds), size payload bytes.
func (l *Local) Record(recv, latency int64, size int) {
	l.push(sample{recv: recv, lat: latency, size: int64(size)})
}

// Flow returns the Flow of a publisher, creating it on first use.
func (l *Local) Flow(publisher uint32) *Flow { return l.flow(publisher) }

func (l *Local) flow(p uint32) *Flow {
	if p < uint32(len(l.flows)) {
		if f := l.flows[p]; f != nil {
			return f
		}
	}
	return l.newFlow(p)
}

func (l *Local) newFlow(p uint32) *Flow {
	f := new(Flow)
	if p >= maxDenseFlows {
		if f0 := l.more[p]; f0 != nil {
			return f0
		}
		if l.more == nil {
			l.more = make(map[uint32]*Flow)
		}
		l.more[p] = f
		return f
	}
	if p >= uint32(len(l.flows)) {
		l.flows = append(l.flows, make([]*Flow, int(p)+1-len(l.flows))...)
	}
	l.flows[p] = f
	return f
}

func (l *Local) push(s sample) {
	if l.h-l.tail.Load() == uint64(len(l.ring)) {
		l.r.drain(l)
	}
	l.ring[l.h&l.mask] = s
	l.h++
	l.head.Store(l.h)
}

// eachFlow calls fn for every flow of l. Only when the owner has stopped.
func (l *Local) eachFlow(fn func(*Flow)) {
	for _, f := range l.flows {
		if f != nil {
			fn(f)
		}
	}
	for _, f := range l.more {
		fn(f)
	}
}

// Close hands the receiver's final counts to the Recorder and unregisters
// it. Call it when the receiver stops; Observe and Record must not be
// called after. Calling it again does nothing. Finish closes the Locals
// still open.
func (l *Local) Close() {
	l.r.mu.Lock()
	defer l.r.mu.Unlock()
	l.r.closeLocalLocked(l)
}
