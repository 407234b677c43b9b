package bench

import (
	"math"
	"sync"
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

// maxLocalCount is how many latency values a Local counts before it hands
// them to the Recorder whatever the interval (its counts are 32-bit).
const maxLocalCount = 1<<32 - 1

// Local is one receiver's share of a Recorder: its Flows (one per
// publisher, 8 KiB each) and its latency counts and deliveries since it
// last handed them to the Recorder (a few KiB: see localHist). It hands
// them over when its receiver moves into the next interval, and Tick,
// Finish and Close take them: a receiver that wraps each read's messages
// in Begin and End takes the Local's lock once per read, and no other
// lock nor atomic operation per message.
//
// Observe and Record are called from one goroutine at a time (the
// receiver's). Outside a batch (Begin, End), each takes the lock itself.
type Local struct {
	r        *Recorder
	run      uint32 // r.run, r.start, r.expected: read per message
	start    int64
	expected int64
	batch    bool // between Begin and End; the owner's alone

	mu    sync.Mutex // guards the fields below; taken before r.mu
	reads int64      // AddReads
	split int64
	flows []*Flow // by publisher index, < maxDenseFlows
	more  map[uint32]*Flow
	cur   int64  // the interval hist counts for
	end   int64  // unix nanoseconds when interval cur ends
	limit uint32 // values hist may count before a hand-over: maxLocalCount
	hist  localHist

	index int  // position in r.locals, guarded by r.mu
	done  bool // guarded by r.mu
}

// Begin starts a batch of Observe and Record calls, the messages of one
// read: it takes the Local's lock for them all. End ends the batch. Keep
// a batch short (no blocking call inside): Tick waits for it.
func (l *Local) Begin() {
	l.mu.Lock()
	l.batch = true
}

// End ends the batch Begin started.
func (l *Local) End() {
	l.batch = false
	l.mu.Unlock()
}

// Observe accounts a message received at recv (unix nanoseconds) with
// payload p, whose `data` bin was size bytes: it ignores other runs'
// payloads and those sent before the measurement started, updates the
// publisher's Flow, and counts the latency (recv - p.Sent) of a first copy.
// It allocates only for the first message of a publisher, and for the
// first latency in a new range (a page of localHist).
func (l *Local) Observe(p Payload, recv int64, size int) Outcome {
	if l.batch {
		return l.observeLocked(p, recv, size)
	}
	l.mu.Lock()
	o := l.observeLocked(p, recv, size)
	l.mu.Unlock()
	return o
}

func (l *Local) observeLocked(p Payload, recv int64, size int) Outcome {
	if l.run != 0 && p.Run != l.run {
		return OutcomeForeign
	}
	if p.Sent < l.start {
		return OutcomeEarly
	}
	var f *Flow
	if p.Publisher < uint32(len(l.flows)) {
		f = l.flows[p.Publisher]
	}
	if f == nil {
		f = l.newFlow(p.Publisher)
	}
	gaps := f.gaps()
	o := f.Observe(p.Seq, p.Sent, recv, size)
	if o != OutcomeDuplicate {
		l.recordLocked(recv, recv-p.Sent, size)
		l.hist.lost += f.gaps() - gaps // in recv's interval, as the delivery
	}
	return o
}

// Record counts one delivery measured without a Payload (a handshake, a
// round trip timed by the caller): latency in nanoseconds, received at recv
// (unix nanoseconds), size payload bytes.
func (l *Local) Record(recv, latency int64, size int) {
	if l.batch {
		l.recordLocked(recv, latency, size)
		return
	}
	l.mu.Lock()
	l.recordLocked(recv, latency, size)
	l.mu.Unlock()
}

// recordLocked counts a delivery in the interval of recv, with its
// latency clamped to the histogram's range and, in a fixed-rate run, the
// values hdrhistogram's RecordCorrectedValue would add.
func (l *Local) recordLocked(recv, latency int64, size int) {
	if recv >= l.end {
		l.advanceLocked(recv)
	}
	if latency > histHighest {
		l.r.clamped.Add(1)
	}
	v := min(max(latency, 0), histHighest)
	if l.expected == 0 && l.hist.n < l.limit {
		l.hist.add(v)
	} else {
		l.addCorrectedLocked(v)
	}
	l.hist.packets++
	l.hist.bytes += int64(size)
}

// addCorrectedLocked counts v and, in a fixed-rate run, the values
// hdrhistogram's RecordCorrectedValue would add.
func (l *Local) addCorrectedLocked(v int64) {
	l.addCheckedLocked(v)
	if e := l.expected; e > 0 && v > e {
		for m := v - e; m >= e; m -= e {
			l.addCheckedLocked(m)
		}
	}
}

// addCheckedLocked counts v, handing the counts over first if they are
// full.
func (l *Local) addCheckedLocked(v int64) {
	if l.hist.n >= l.limit {
		l.r.merge(l)
	}
	l.hist.add(v)
}

// advanceLocked moves the Local into the interval of recv, handing over
// what it counted in the one before. A receive time before the current
// interval (a clock stepped back) counts in the current one.
func (l *Local) advanceLocked(recv int64) {
	r := l.r
	if !l.hist.empty() {
		r.merge(l)
	}
	l.cur = max((recv-r.start)/r.interval, 0)
	l.end = r.start + (l.cur+1)*r.interval
}

// Flow returns the Flow of a publisher, creating it on first use. Call it
// as Observe is called, and within a batch if there is one.
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

// eachFlowLocked calls fn for every flow of l.
func (l *Local) eachFlowLocked(fn func(*Flow)) {
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
// it. Call it when the receiver stops, outside a batch; Observe and Record
// must not be called after. Calling it again does nothing. Finish closes
// the Locals still open.
// AddReads counts a receiver's reads: those that delivered a measured
// message, and those that ended inside a frame (TCP). Call it once, when
// the receiver stops, before Close.
func (l *Local) AddReads(reads, split int64) {
	l.mu.Lock()
	l.reads += reads
	l.split += split
	l.mu.Unlock()
}

func (l *Local) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.r.mu.Lock()
	defer l.r.mu.Unlock()
	l.r.closeLocalLocked(l)
}
