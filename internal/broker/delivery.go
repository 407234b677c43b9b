package broker

import (
	"encoding/binary"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/deliver"
)

// qmsg is a QoS 1 message: its MESSAGE body, encoded once and shared by
// every recipient. Each recipient's copy gets its own 8-byte header, whose
// id is the recipient session's delivery sequence number.
type qmsg struct {
	seq    uint64    // global sequence: the store key
	body   []byte    // the MESSAGE body (msgpack map)
	time   time.Time // when the server accepted it
	refs   atomic.Int32
	recips []uint32    // numbers of the persistent sessions it was queued for
	stored atomic.Bool // written to the store: its deletion must be too
}

// outbound is a session's QoS 1 traffic to its client: a FIFO queue of
// messages not sent yet, and the window of messages sent and not yet
// acknowledged. Guarded by the session's mu.
type outbound struct {
	queue []*qmsg // not sent yet, oldest first, from head
	head  int
	bytes int // of the queued bodies
	// inflight holds the window, from ihead: the entry at ihead+i has
	// sequence number base()+i, so an ACK finds its entry by subtraction.
	// Acknowledged entries have a nil q until the window's start passes
	// them.
	inflight []flight
	ihead    int
	unacked  int      // entries not settled
	resends  int      // entries marked for resending
	voids    int      // void entries that have no copy to send yet
	next     uint32   // sequence number of the next message sent: 1 first, then +1 modulo 2^32
	missed   uint64   // messages lost to the queue's limits, not yet reported
	acked    []uint64 // store seqs acknowledged or dropped (persistent sessions)

	srtt, rttvar time.Duration // round-trip estimate (RFC 6298)
	sampled      bool
}

// flight is one number sent and not yet acknowledged.
//
// A number once sent is never withdrawn: the client may be waiting for it
// in its in-order window. When the session's connection cannot carry the
// message a number was sent with (a session that moved from TCP to UDP
// with a message over max_datagram in flight), the message is counted as
// lost and the entry becomes void: it is sent instead with a copy of the
// next message that fits, one numbered after it or the next one queued, as
// soon as there is one. A client that had received the original drops the
// copy as a duplicate; one that had not delivers the copy, and that
// message again under its own number: at least once, without a gap.
type flight struct {
	q        *qmsg  // the message sent under seq (a copy if void); nil once settled, or void with nothing to send yet
	seq      uint32 // the session's delivery sequence number: the header id
	sent     time.Time
	deadline time.Time // for the next retransmission (unreliable peers)
	tries    int       // transmissions on the current connection (the backoff and the give-up count)
	sends    int       // transmissions in all (DUP after the first; Karn samples only single ones)
	resend   bool      // to be sent again at the next pull (after a resume)
	void     bool      // seq's own message was dropped: q, if set, is a copy of a later one
}

// open reports whether f is still waiting for its ACK.
func (f *flight) open() bool { return f.q != nil || f.void }

func (o *outbound) queued() int { return len(o.queue) - o.head }

func (o *outbound) push(q *qmsg) {
	if o.head > 64 && o.head > len(o.queue)/2 {
		n := copy(o.queue, o.queue[o.head:])
		clear(o.queue[n:])
		o.queue, o.head = o.queue[:n], 0
	}
	o.queue = append(o.queue, q)
	o.bytes += len(q.body)
}

func (o *outbound) pop() *qmsg {
	q := o.queue[o.head]
	o.queue[o.head] = nil
	o.head++
	o.bytes -= len(q.body)
	if o.head == len(o.queue) {
		o.queue, o.head = o.queue[:0], 0
	}
	return q
}

// canSend reports whether the window admits the next sequence number: the
// client holds at most window messages beyond the oldest unacknowledged.
func (o *outbound) canSend(window int) bool {
	return o.ihead == len(o.inflight) || int(o.next-o.inflight[o.ihead].seq) < window
}

// first returns the number of the first message a resumed session's new
// connection gets (the oldest unacknowledged, or the next new one), and 0
// for a session that did not resume (its numbering starts at 1).
func (o *outbound) first(resumed bool) uint32 {
	switch {
	case !resumed:
		return 0
	case o.ihead < len(o.inflight):
		return o.inflight[o.ihead].seq
	default:
		return o.next
	}
}

// firstLocked is first for the session's QoS 1 state: 1 for a resumed
// session that was never sent a QoS 1 message.
func (s *Session) firstLocked(resumed bool) uint32 {
	switch {
	case !resumed:
		return 0
	case s.qs == nil:
		return 1
	}
	return s.qs.out.first(true)
}

// window returns the entries from the oldest unacknowledged on.
func (o *outbound) window() []flight { return o.inflight[o.ihead:] }

// find returns the entry of sequence number seq, or nil if it is not in
// flight (acknowledged already, or never sent).
func (o *outbound) find(seq uint32) *flight {
	w := o.window()
	if len(w) == 0 {
		return nil
	}
	off := seq - w[0].seq
	if int(off) >= len(w) || !w[off].open() {
		return nil
	}
	return &w[off]
}

// settle marks f acknowledged (or dropped) and moves the window's start
// past settled entries.
func (o *outbound) settle(f *flight) {
	if f.void && f.q == nil {
		o.voids--
	}
	f.q, f.void = nil, false
	o.unacked--
	for o.ihead < len(o.inflight) && !o.inflight[o.ihead].open() {
		o.ihead++
	}
	if o.ihead == len(o.inflight) {
		o.inflight, o.ihead = o.inflight[:0], 0
	} else if o.ihead > 64 && o.ihead > len(o.inflight)/2 {
		n := copy(o.inflight, o.inflight[o.ihead:])
		clear(o.inflight[n:])
		o.inflight, o.ihead = o.inflight[:n], 0
	}
}

// rto returns the retransmission timeout before backoff: randomised from
// cfg.RetryTimeout until a round trip was measured (CoAP), then RFC 6298's
// SRTT + 4 RTTVAR with a floor.
func (o *outbound) rto(cfg *Config) time.Duration {
	if !o.sampled {
		return cfg.RetryTimeout + time.Duration(rand.Int64N(int64(cfg.RetryTimeout)/2+1))
	}
	return max(o.srtt+4*o.rttvar, cfg.MinRTO)
}

// sample feeds one round trip into the estimate (Karn's rule: the caller
// only samples messages sent once).
func (o *outbound) sample(rtt time.Duration) {
	if !o.sampled {
		o.srtt, o.rttvar, o.sampled = rtt, rtt/2, true
		return
	}
	d := o.srtt - rtt
	if d < 0 {
		d = -d
	}
	o.rttvar = (3*o.rttvar + d) / 4
	o.srtt = (7*o.srtt + rtt) / 8
}

// offer queues q for the session, applying the queue's limits, and
// reports whether the session should be pulled now (online with room in
// its window), and from which group; or, under the Disconnect policy, the
// peer to disconnect. It runs on the publisher's goroutine.
func (s *Session) offer(w *Worker, q *qmsg) (wake bool, group int, kick Peer) {
	cfg := &s.b.cfg
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false, 0, nil
	}
	o := &s.qosLocked().out
	if o.queued() >= cfg.QueueMessages || o.bytes+len(q.body) > cfg.QueueBytes {
		switch cfg.Overflow {
		case DropNewest:
			s.lostLocked(w, nil)
			return false, 0, nil
		case Disconnect:
			s.lostLocked(w, nil)
			return false, 0, s.peer
		default: // DropOldest
			for o.queued() > 0 && (o.queued() >= cfg.QueueMessages || o.bytes+len(q.body) > cfg.QueueBytes) {
				s.lostLocked(w, o.pop())
			}
			if o.queued() >= cfg.QueueMessages || len(q.body) > cfg.QueueBytes {
				s.lostLocked(w, nil) // a queue of size 0, or a message larger than the queue
				return false, 0, nil
			}
		}
	}
	if s.peer != nil && !fits(q, s.peer) {
		// Its connection could never carry it (a UDP member and a message
		// over max_datagram): lost for this session, now, rather than
		// retransmitted until the client counts as gone.
		s.b.stats.DropTooLargeForUDP.Add(1)
		s.lostLocked(w, nil)
		return false, 0, nil
	}
	q.refs.Add(1)
	if s.persistent {
		q.recips = append(q.recips, s.num)
	}
	o.push(q)
	if s.peer == nil || !(o.canSend(s.window) || o.voids > 0) {
		return false, 0, nil
	}
	return true, s.peer.Group(), nil
}

// lostLocked counts a message the session's queue could not keep; q is the
// dropped message, or nil for one refused before it was queued.
func (s *Session) lostLocked(w *Worker, q *qmsg) {
	s.qs.out.missed++
	s.progressLocked()
	s.b.stats.QueueDrops.Add(1)
	if q != nil {
		s.releaseLocked(w, q)
	}
}

// Pull implements deliver.Puller: it sends what is due, on the goroutine
// that may write to the session's peer (re-routing itself there if the
// peer moved).
func (s *Session) Pull(o *deliver.Outbox) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.peer
	if p == nil || s.closed {
		return
	}
	if g := p.Group(); g != deliver.GroupAny && g != o.Group() {
		s.b.hub.Wake(o, g, s) // the peer is on another loop: go there
		return
	}
	s.pullLocked(o, p, time.Now())
}

// pullLocked sends to p, first the numbers marked for resending (void
// ones with the copy that fills them), then new ones while the window
// allows.
func (s *Session) pullLocked(o *deliver.Outbox, p Peer, now time.Time) {
	if s.qs == nil {
		return
	}
	out := &s.qs.out
	if out.voids > 0 {
		out.fill()
	}
	if out.resends > 0 {
		win := out.window()
		for i := range win {
			if f := &win[i]; f.q != nil && f.resend {
				f.resend = false
				s.transmitLocked(o, p, f, now)
			}
		}
		out.resends = 0
	}
	for out.queued() > 0 && out.canSend(s.window) {
		out.inflight = append(out.inflight, flight{q: out.pop(), seq: out.next})
		out.unacked++
		out.next++
		s.transmitLocked(o, p, &out.inflight[len(out.inflight)-1], now)
	}
	if out.unacked > 0 && !p.Reliable() {
		s.b.watch(s)
	}
}

// fill gives each void entry that has nothing to send a copy of the next
// message after it that has a number, or else of the first queued one,
// and marks it for sending. Entries for which there is none yet stay as
// they are: the next message queued fills them.
func (o *outbound) fill() {
	var next *qmsg
	if o.queued() > 0 {
		next = o.queue[o.head]
	}
	win := o.window()
	for i := len(win) - 1; i >= 0; i-- {
		f := &win[i]
		switch {
		case f.q != nil:
			next = f.q
		case f.void && next != nil:
			next.refs.Add(1)
			f.q = next
			f.resend = true
			o.resends++
			o.voids--
		}
	}
}

// transmitLocked sends f (again, with DUP, if it was sent before) and arms
// its retransmission timer.
func (s *Session) transmitLocked(o *deliver.Outbox, p Peer, f *flight, now time.Time) {
	var hdr [codec.LenPrefixLen + codec.HeaderLen]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(codec.HeaderLen+len(f.q.body)))
	flags := codec.FlagQoS1
	if f.sends > 0 {
		flags |= codec.FlagDup
		s.b.stats.Retransmits.Add(1)
	}
	codec.Header{Type: codec.TypeMessage, Flags: flags, ID: f.seq}.Append(hdr[:codec.LenPrefixLen])
	p.Enqueue(o, o.Join(hdr[:], f.q.body))
	o.Traffic.Out(byte(codec.TypeMessage), 1, codec.HeaderLen+len(f.q.body))
	f.tries++
	f.sends++
	f.sent = now
	f.deadline = now.Add(backoff(s.qs.out.rto(&s.b.cfg), f.tries))
}

// MaxBackoff caps the doubled retransmission timeout: RFC 6298 (2.5)
// allows a cap of at least 60 s. Without one, -max-retries 20 would wait
// days for the last retry, and past 35 the doubling overflows.
const MaxBackoff = 60 * time.Second

// backoff returns the timeout before try tries+1: rto doubled for each
// try after the first, at most MaxBackoff (or rto, if larger).
func backoff(rto time.Duration, tries int) time.Duration {
	d := rto << min(tries-1, 16)
	return min(d, max(MaxBackoff, rto))
}

// ack handles the client's ACK of sequence number seq and refills the
// window. It runs on the peer's goroutine.
func (s *Session) ack(w *Worker, p Peer, seq uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.qs == nil {
		return // an ACK for nothing ever sent at QoS 1
	}
	out := &s.qs.out
	f := out.find(seq)
	if f == nil {
		return // a duplicate ACK, or one for a message sent before a restart
	}
	if f.sends == 1 {
		rtt := time.Since(f.sent)
		out.sample(rtt)
		s.b.stats.AckLatency.Observe(rtt)
	}
	q, copied := f.q, f.void
	out.settle(f)
	s.b.stats.Acked.Add(1)
	switch {
	case copied && q != nil:
		s.releaseCopyLocked(w, q)
	case q != nil:
		s.releaseLocked(w, q)
	}
	if s.peer == p && !s.closed {
		s.pullLocked(w.Out, p, time.Now())
	}
}

// releaseLocked is the session letting go of q: acknowledged or dropped.
func (s *Session) releaseLocked(w *Worker, q *qmsg) {
	if s.persistent {
		s.qs.out.acked = append(s.qs.out.acked, q.seq)
		s.progressLocked()
	}
	s.releaseCopyLocked(w, q)
}

// releaseCopyLocked lets go of one reference to q, such as the copy that
// fills a void number: q itself is still due under its own number, so the
// session's stored progress does not move.
func (s *Session) releaseCopyLocked(w *Worker, q *qmsg) {
	if q.refs.Add(-1) == 0 && q.stored.Load() {
		w.batch.DeleteMessage(q.seq)
	}
}

// retransmit resends what is overdue to an unreliable peer. It reports
// false when a message went unacknowledged through every retry: the client
// is gone. It runs on the broker's timer.
func (s *Session) retransmit(w *Worker, now time.Time) (alive, watching bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.peer
	if p == nil || s.closed || p.Reliable() || s.qs == nil || s.qs.out.unacked == 0 {
		return true, false
	}
	win := s.qs.out.window()
	for i := range win {
		f := &win[i]
		if f.q == nil || now.Before(f.deadline) {
			continue
		}
		if f.tries > s.b.cfg.MaxRetries {
			return false, false
		}
		s.transmitLocked(w.Out, p, f, now)
	}
	return true, true
}

// fits reports whether p's transport can carry q.
func fits(q *qmsg, p Peer) bool { return codec.HeaderLen+len(q.body) <= p.MaxPacket() }

// dropUnfitLocked drops the messages the new peer p cannot carry (a
// session that moved from TCP to UDP): queued ones, which have no number
// yet, and the messages of numbers in flight, whose entries become void
// (see flight) rather than leave a gap in the numbering.
func (s *Session) dropUnfitLocked(w *Worker, p Peer) {
	if s.qs == nil {
		return
	}
	o := &s.qs.out
	kept := o.queue[o.head:o.head]
	for _, q := range o.queue[o.head:] {
		if fits(q, p) {
			kept = append(kept, q)
			continue
		}
		o.bytes -= len(q.body)
		s.b.stats.DropTooLargeForUDP.Add(1)
		s.lostLocked(w, q)
	}
	clear(o.queue[o.head+len(kept):])
	o.queue = o.queue[:o.head+len(kept)]
	win := o.window()
	for i := range win {
		f := &win[i]
		if f.q == nil || fits(f.q, p) {
			continue
		}
		q := f.q
		f.q = nil
		o.voids++
		if f.void {
			s.releaseCopyLocked(w, q) // a copy that no longer fits: another fills the number
			continue
		}
		f.void = true
		s.b.stats.DropTooLargeForUDP.Add(1)
		s.lostLocked(w, q)
	}
}

// resumeLocked marks every message in flight for resending with DUP: the
// new connection may not have received them.
func (s *Session) resumeLocked() {
	if s.qs == nil {
		return
	}
	win := s.qs.out.window()
	for i := range win {
		win[i].resend = true
		win[i].tries = 0 // a new connection: a fresh retransmission schedule
	}
	s.qs.out.resends = len(win)
}

// expireQueueLocked drops queued messages older than the age limit.
func (s *Session) expireQueueLocked(w *Worker, now time.Time) {
	for s.qs != nil && s.qs.out.queued() > 0 && now.Sub(s.qs.out.queue[s.qs.out.head].time) > s.b.cfg.QueueAge {
		s.lostLocked(w, s.qs.out.pop())
	}
}

// dropAllLocked releases every message of a session that ends.
func (s *Session) dropAllLocked(w *Worker) {
	if s.qs == nil {
		return
	}
	for s.qs.out.queued() > 0 {
		s.releaseLocked(w, s.qs.out.pop())
	}
	for _, f := range s.qs.out.window() {
		switch {
		case f.q != nil && f.void:
			s.releaseCopyLocked(w, f.q)
		case f.q != nil:
			s.releaseLocked(w, f.q)
		}
	}
	s.qs.out.inflight, s.qs.out.ihead, s.qs.out.unacked, s.qs.out.voids = nil, 0, 0, 0
}
