package deliver

import (
	"sync"
	"sync/atomic"

	"github.com/packetd/packetd/internal/stats"
	"github.com/packetd/packetd/rooms"
)

// GroupAny is the delivery group of recipients that any goroutine may
// write to (UDP sessions). TCP event loops get groups 1, 2, ...
const GroupAny = 0

// Executor runs a function on a TCP event loop. gnet's EventLoop.Execute
// wrapped by the transport implements it.
type Executor interface {
	Execute(f func()) error
}

// Hub implements rooms.Sink: it delivers each group of a broadcast's
// recipients from the right goroutine. It is safe for concurrent use.
type Hub struct {
	groups   atomic.Pointer[[]*group] // index = group number; [0] is nil
	mu       sync.Mutex               // serialises AddGroup
	maxInbox int
	stats    *stats.Stats
}

// NewHub returns a Hub whose inboxes hold at most maxInbox bytes each
// (messages beyond are dropped for that loop and counted in
// st.DropInboxFull).
func NewHub(maxInbox int, st *stats.Stats) *Hub {
	h := &Hub{maxInbox: maxInbox, stats: st}
	h.groups.Store(&[]*group{nil})
	return h
}

// AddGroup registers a TCP event loop whose tasks exec runs. It returns the
// loop's group number and the Outbox the loop must use for all its passes
// (its inbox drains into the same Outbox).
func (h *Hub) AddGroup(exec Executor) (int, *Outbox) {
	h.mu.Lock()
	defer h.mu.Unlock()
	old := *h.groups.Load()
	n := len(old)
	g := &group{exec: exec, out: NewOutbox(n, h.stats), max: h.maxInbox, dropped: &h.stats.DropInboxFull}
	g.drainFn = g.drain
	next := append(old[:len(old):len(old)], g)
	h.groups.Store(&next)
	return n, g.out
}

// Deliver implements rooms.Sink. origin must be the *Outbox of the calling
// pass.
func (h *Hub) Deliver(origin any, group int, msg []byte, members []rooms.Member) {
	o := origin.(*Outbox)
	if group == GroupAny || group == o.group {
		for _, m := range members {
			m.(Recipient).Enqueue(o, msg)
		}
		return
	}
	groups := *h.groups.Load()
	if group < 0 || group >= len(groups) {
		return
	}
	groups[group].push(msg, members)
}

// DeliverOne hands frame to r alone, from the right goroutine: at once if
// r can be written from origin's, else through r's group's inbox.
func (h *Hub) DeliverOne(origin *Outbox, frame []byte, r Recipient) {
	g := r.Group()
	if g == GroupAny || g == origin.group {
		r.Enqueue(origin, frame)
		return
	}
	groups := *h.groups.Load()
	if g < 0 || g >= len(groups) {
		return
	}
	groups[g].pushOne(frame, r)
}

// Puller is something that keeps its own queue for a recipient (a QoS 1
// session): Pull moves what is due into o, on the goroutine that may write
// to the recipient.
type Puller interface {
	Pull(o *Outbox)
}

// Wake has p pull from the goroutine that may write to group: at once if
// group is GroupAny or origin's own, else through the group's inbox (no
// bytes are copied, only p).
func (h *Hub) Wake(origin *Outbox, group int, p Puller) {
	if group == GroupAny || group == origin.group {
		p.Pull(origin)
		return
	}
	groups := *h.groups.Load()
	if group < 0 || group >= len(groups) {
		return
	}
	groups[group].wake(p)
}

// Run runs f on the event loop of the given TCP group. It is for rare work
// (timeouts, shutdown); broadcasts go through Deliver.
func (h *Hub) Run(group int, f func()) error {
	groups := *h.groups.Load()
	if group <= GroupAny || group >= len(groups) {
		return errNoGroup
	}
	return groups[group].exec.Execute(f)
}

// Groups returns the number of TCP groups registered so far.
func (h *Hub) Groups() int { return len(*h.groups.Load()) - 1 }

// group is one TCP event loop's inbox: what other goroutines have for its
// connections. Producers append under mu; the loop swaps the buffers and
// drains without holding mu.
type group struct {
	exec    Executor
	out     *Outbox
	drainFn func()
	max     int
	dropped *atomic.Uint64

	mu        sync.Mutex // guards the fields below
	cur       batch      // filled by producers
	scheduled bool       // a drain task is queued and has not swapped yet
	spare     batch      // the drained batch, reused
}

type batch struct {
	bytes   []byte
	members []Recipient
	entries []entry
	pullers []Puller // woken after the entries, in order
}

type entry struct {
	off, n int // the message: bytes[off:off+n]
	lo, hi int // its recipients: members[lo:hi]
}

func (g *group) wake(p Puller) {
	g.mu.Lock()
	g.cur.pullers = append(g.cur.pullers, p)
	g.scheduleLocked()
}

// pushOne queues msg for r alone. It ignores the inbox's bound: it carries
// answers (ACKs) that a client waits for, bounded by its own requests.
func (g *group) pushOne(msg []byte, r Recipient) {
	g.mu.Lock()
	e := entry{off: len(g.cur.bytes), n: len(msg), lo: len(g.cur.members)}
	g.cur.bytes = append(g.cur.bytes, msg...)
	g.cur.members = append(g.cur.members, r)
	e.hi = len(g.cur.members)
	g.cur.entries = append(g.cur.entries, e)
	g.scheduleLocked()
}

// scheduleLocked queues a drain task unless one is queued already; it
// unlocks g.mu.
func (g *group) scheduleLocked() {
	schedule := !g.scheduled
	g.scheduled = true
	g.mu.Unlock()
	if schedule {
		if err := g.exec.Execute(g.drainFn); err != nil {
			// The loop is gone (shutdown): nothing will drain; forget it.
			g.mu.Lock()
			g.dropped.Add(uint64(len(g.cur.members)))
			g.cur.reset()
			g.scheduled = false
			g.mu.Unlock()
		}
	}
}

func (g *group) push(msg []byte, members []rooms.Member) {
	g.mu.Lock()
	if len(g.cur.bytes)+len(msg) > g.max {
		g.mu.Unlock()
		g.dropped.Add(uint64(len(members)))
		return
	}
	e := entry{off: len(g.cur.bytes), n: len(msg), lo: len(g.cur.members)}
	g.cur.bytes = append(g.cur.bytes, msg...)
	for _, m := range members {
		g.cur.members = append(g.cur.members, m.(Recipient))
	}
	e.hi = len(g.cur.members)
	g.cur.entries = append(g.cur.entries, e)
	g.scheduleLocked()
}

// drain runs on the group's event loop.
func (g *group) drain() {
	g.mu.Lock()
	b := g.cur
	g.cur = g.spare
	g.scheduled = false
	g.mu.Unlock()

	for _, e := range b.entries {
		msg := b.bytes[e.off : e.off+e.n : cap(b.bytes)]
		for _, r := range b.members[e.lo:e.hi] {
			r.Enqueue(g.out, msg)
		}
	}
	for _, p := range b.pullers {
		p.Pull(g.out)
	}
	g.out.Flush()

	b.reset()
	g.mu.Lock()
	g.spare = b
	g.mu.Unlock()
}

func (b *batch) reset() {
	clear(b.members)
	clear(b.pullers)
	b.bytes, b.members, b.entries, b.pullers = b.bytes[:0], b.members[:0], b.entries[:0], b.pullers[:0]
}
