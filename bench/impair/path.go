package impair

import (
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
)

// dir is a direction of a flow.
type dir uint8

const (
	up   dir = iota // client to server
	down            // server to client
)

func (d dir) String() string {
	if d == up {
		return "up"
	}
	return "down"
}

// A link is where a path's datagrams go. The proxy writes them to a socket
// or to its scheduler; tests record them.
type link interface {
	// write sends b now and counts it in Sent or Errors.
	write(pa *path, b []byte)
	// schedule hands over pkt: a datagram to write at pkt.due, or a
	// reorder timer (pkt.timer) on whose expiry pa.expire is called.
	schedule(pkt *packet)
}

// A path is one direction of one flow: its random source and the state of
// its impairment stages. One reader goroutine feeds it; the scheduler
// releases what it holds.
type path struct {
	dir  dir
	flow *flow // nil in tests
	out  link
	st   *counters

	// queued counts the bytes (queueCost) the path holds (reorder) or has
	// handed to the scheduler. The scheduler decrements it after writing
	// (sent), so a path that sees 0 has nothing in flight that a datagram
	// written now could overtake.
	queued atomic.Int64

	mu   sync.Mutex // guards the fields below
	rng  rand.PCG
	held []*packet // datagrams held by Reorder, in arrival order
	busy int64     // Rate: when the link finishes sending what it has
	last int64     // latest due time handed to the scheduler
	// timed reports that a reorder timer is scheduled, at timerDue, at or
	// before the earliest deadline in held. A path schedules a timer only
	// for a deadline earlier than that, so the scheduler holds about one
	// timer per path, however many datagrams Reorder holds or releases.
	timed    bool
	timerDue int64
}

// seedPCG seeds the random source of a path or a stream from the proxy
// seed, the index of its flow or connection and its direction, so that no
// two share a sequence.
func seedPCG(rng *rand.PCG, seed int64, index uint64, d dir) {
	s1 := splitmix(uint64(seed))
	s2 := splitmix(s1 ^ splitmix(index<<1|uint64(d)))
	rng.Seed(s1, s2)
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// verdict is what the random stages decided for one datagram.
type verdict struct {
	lost, dup, hold bool
	jitter          [2]int64 // for the datagram and its copy, in nanoseconds
}

// decideLocked draws the verdict for the next datagram. It always draws
// five numbers, whatever the outcome, so datagram i's verdict depends only
// on the seed, i and the Config: not on timing, queue drops, or which
// datagrams before it were lost. And since each stage compares its own
// draw with its probability, the datagrams lost at Loss 0.1 are a subset
// of those lost at Loss 0.2 with the same seed.
func (pa *path) decideLocked(c *Config) verdict {
	var u [5]float64
	for i := range u {
		u[i] = float64(pa.rng.Uint64()>>11) * 0x1p-53 // uniform in [0, 1)
	}
	return verdict{
		lost:   u[0] < c.Loss,
		dup:    u[1] < c.Duplicate,
		hold:   u[2] < c.Reorder,
		jitter: [2]int64{int64(u[3] * float64(c.Jitter)), int64(u[4] * float64(c.Jitter))},
	}
}

// ingress takes one datagram from the sending side at time now
// (nanoseconds on the proxy's clock). b is only read during the call.
func (pa *path) ingress(c *Config, b []byte, now int64) {
	pa.mu.Lock()
	defer pa.mu.Unlock()
	pa.st.received.Add(1)
	v := pa.decideLocked(c)
	if v.lost {
		pa.st.lost.Add(1)
		return
	}
	copies := 1
	if v.dup {
		copies = 2
		pa.st.duplicated.Add(1)
	}
	if v.hold {
		for i := range copies {
			pa.holdLocked(c, b, v.jitter[i], now)
		}
		return
	}
	passed := false
	for i := range copies {
		passed = pa.forwardLocked(c, b, nil, v.jitter[i], now) || passed
	}
	if passed {
		pa.overtakeLocked(c, now)
	}
}

// holdLocked copies b into the held list, with a timer by its deadline.
func (pa *path) holdLocked(c *Config, b []byte, jitter, now int64) {
	if !pa.chargeLocked(c, len(b)) {
		return
	}
	pkt := newPacket(pa, b)
	pkt.left = c.ReorderGap
	pkt.jitter = jitter
	pkt.due = now + int64(c.ReorderTimeout)
	pa.held = append(pa.held, pkt)
	pa.timerLocked(pkt.due)
}

// timerLocked schedules a reorder timer at due, unless one is scheduled
// at or before it.
func (pa *path) timerLocked(due int64) {
	if pa.timed && pa.timerDue <= due {
		return
	}
	t := newPacket(pa, nil)
	t.timer = true
	t.due = due
	pa.out.schedule(t)
	pa.timed, pa.timerDue = true, due
}

// chargeLocked adds a datagram of n bytes to the queue, or counts a queue
// drop.
func (pa *path) chargeLocked(c *Config, n int) bool {
	if pa.queued.Load()+queueCost(n) > int64(c.QueueLimit) {
		pa.st.queueDrops.Add(1)
		return false
	}
	pa.queued.Add(queueCost(n))
	return true
}

// sent takes pkt, written by the scheduler, off the queue.
func (pa *path) sent(pkt *packet) { pa.queued.Add(-queueCost(len(pkt.buf))) }

// queueCost is what a datagram of n bytes counts against QueueLimit: its
// bytes, and at least one, so that empty datagrams, each a packet in the
// scheduler, cannot pile up without bound.
func queueCost(n int) int64 { return int64(max(n, 1)) }

// forwardLocked passes one datagram through Rate, Delay and Jitter. It is
// either b, not yet charged to the queue, or pkt, released from the held
// list and already charged. It is written at once when the link is clean
// and nothing is queued ahead of it, and scheduled otherwise. It reports
// false if the queue was full.
func (pa *path) forwardLocked(c *Config, b []byte, pkt *packet, jitter, now int64) bool {
	if pkt == nil {
		if c.clean() && pa.queued.Load() == 0 {
			pa.out.write(pa, b)
			return true
		}
		if !pa.chargeLocked(c, len(b)) {
			return false
		}
		pkt = newPacket(pa, b)
	}
	due := now
	if c.Rate > 0 {
		due = max(due, pa.busy) + int64(len(pkt.buf))*1e9/int64(c.Rate)
		pa.busy = due
	}
	due += int64(c.Delay) + jitter
	if c.Jitter == 0 {
		due = max(due, pa.last) // first in, first out
	}
	pa.last = max(pa.last, due)
	pkt.due = due
	pa.st.delayed.Add(1)
	pa.out.schedule(pkt)
	return true
}

// overtakeLocked records that one more datagram (one that was not lost,
// held or dropped) has overtaken every held one, and forwards, in arrival
// order, those now overtaken ReorderGap times.
func (pa *path) overtakeLocked(c *Config, now int64) {
	if len(pa.held) == 0 {
		return
	}
	kept := pa.held[:0]
	for _, h := range pa.held {
		h.left--
		h.overtaken = true
		if h.left > 0 {
			kept = append(kept, h)
			continue
		}
		pa.st.reordered.Add(1)
		pa.forwardLocked(c, nil, h, h.jitter, now)
	}
	clear(pa.held[len(kept):])
	pa.held = kept
}

// expire is the reorder timer's expiry: it forwards the held datagrams
// whose ReorderTimeout has passed, and sets the timer for the earliest
// deadline left.
func (pa *path) expire(c *Config, now int64) {
	pa.mu.Lock()
	defer pa.mu.Unlock()
	if pa.timerDue <= now { // the timer firing, or one as early
		pa.timed = false
	}
	kept := pa.held[:0]
	next := int64(math.MaxInt64)
	for _, h := range pa.held {
		if h.due > now {
			kept = append(kept, h)
			next = min(next, h.due)
			continue
		}
		if h.overtaken {
			pa.st.reordered.Add(1)
		}
		pa.forwardLocked(c, nil, h, h.jitter, now)
	}
	clear(pa.held[len(kept):])
	pa.held = kept
	if len(kept) > 0 {
		pa.timerLocked(next)
	}
}

// A packet is a datagram held by a path or waiting in the scheduler, or a
// reorder timer.
type packet struct {
	buf  []byte
	path *path
	due  int64  // nanoseconds on the proxy's clock: when to send, or when a held datagram times out
	seq  uint64 // orders equal due times in the scheduler
	// timer marks a reorder timer: no datagram, call path.expire at due.
	timer bool

	// While held by Reorder:
	left      int   // later datagrams still to overtake it
	overtaken bool  // at least one has
	jitter    int64 // drawn on arrival, applied on release
}

var packets = sync.Pool{New: func() any { return new(packet) }}

// newPacket returns a pooled packet holding a copy of b.
func newPacket(pa *path, b []byte) *packet {
	pkt := packets.Get().(*packet)
	pkt.path = pa
	pkt.buf = append(pkt.buf[:0], b...)
	return pkt
}

// free returns pkt, and its buffer, to the pool.
func (pkt *packet) free() {
	*pkt = packet{buf: pkt.buf[:0]}
	packets.Put(pkt)
}
