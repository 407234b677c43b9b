package broker

import (
	"fmt"
	"slices"
	"time"

	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/store"
)

// dirtyLocked records that the session's stored record must be rewritten,
// by w at its next flush (unless another worker already has it listed).
func (s *Session) dirtyLocked(w *Worker) {
	if !s.persistent || s.dirty {
		return
	}
	s.dirty = true
	w.dirty = append(w.dirty, s)
}

// progressLocked records that the session's acknowledgements or losses
// moved on. Unlike its rooms and settings, that need not be durable at
// once (after a crash, messages acknowledged since are delivered again, as
// at-least-once allows): the timer writes it within a second, so that a
// busy session costs one record per second, not one per ACK.
func (s *Session) progressLocked() {
	if !s.persistent || s.progressed {
		return
	}
	s.progressed = true
	s.b.mu.Lock()
	s.b.progress[s] = struct{}{}
	s.b.mu.Unlock()
}

// saveProgress has the timer write the records of sessions whose progress
// moved since the last time.
func (b *Broker) saveProgress() {
	b.mu.Lock()
	list := make([]*Session, 0, len(b.progress))
	for s := range b.progress {
		list = append(list, s)
	}
	clear(b.progress)
	b.mu.Unlock()
	for _, s := range list {
		s.mu.Lock()
		s.progressed = false
		s.dirtyLocked(b.timer)
		s.mu.Unlock()
	}
}

// recordLocked builds the session's stored record. Floor is one below the
// oldest message still queued or in flight (everything older was
// acknowledged, dropped, or never meant for this session); acked lists
// what above the floor is done.
func (s *Session) recordLocked() store.Session {
	floor := s.b.seq.Load()
	for _, f := range s.qs.out.window() {
		if f.q != nil {
			floor = min(floor, f.q.seq-1)
		}
	}
	for _, q := range s.qs.out.queue[s.qs.out.head:] {
		floor = min(floor, q.seq-1)
	}
	done := s.qs.out.acked[:0]
	for _, seq := range s.qs.out.acked {
		if seq > floor {
			done = append(done, seq)
		}
	}
	slices.Sort(done)
	s.qs.out.acked = done
	last := time.Now()
	if s.peer == nil {
		last = time.Unix(0, s.since)
	}
	return store.Session{
		ClientID:  s.clientID,
		Num:       s.num,
		SID:       s.id,
		Rooms:     s.b.adapter.RoomsOf(s.name)[1:],
		Expiry:    s.expiry,
		KeepAlive: s.keepAlive,
		Window:    s.window,
		Floor:     floor,
		Done:      slices.Clone(done),
		Missed:    s.qs.out.missed,
		LastSeen:  last.UnixNano(),
	}
}

// pendingAck is an ACK to send once a commit is durable.
type pendingAck struct {
	peer Peer
	id   uint32
	pub  bool // answers a QoS 1 EMIT: mark it acked for deduplication
}

// commit writes what w gathered during its pass (messages, deletions,
// session records) and sends the ACKs that waited for it once the store
// says it is durable. Snapshots and Commit calls are serialised so that a
// session's records reach the store in the order they were taken.
func (b *Broker) commit(w *Worker) {
	if w.batch.Len() == 0 && len(w.dirty) == 0 && len(w.acks) == 0 {
		return
	}
	b.commitMu.Lock()
	for _, s := range w.dirty {
		s.mu.Lock()
		if s.dirty && !s.closed {
			s.dirty, s.progressed = false, false
			rec := s.recordLocked()
			w.batch.PutSession(&rec)
		}
		s.mu.Unlock()
	}
	clear(w.dirty)
	w.dirty = w.dirty[:0]
	var acks []pendingAck
	if len(w.acks) > 0 {
		acks = slices.Clone(w.acks)
		clear(w.acks)
		w.acks = w.acks[:0]
	}
	b.stats.StoreBatches.Add(1)
	start := time.Now()
	b.store.Commit(&w.batch, func(err error) {
		b.stats.StoreCommit.Observe(time.Since(start))
		b.committed(acks, err)
	})
	b.commitMu.Unlock()
	w.batch.Reset()
}

// committed runs when a batch is durable (or failed): it sends the ACKs
// that waited for it, through the Hub, from the committer's Worker.
func (b *Broker) committed(acks []pendingAck, err error) {
	if err != nil {
		b.stats.StoreErrors.Add(1)
		b.log.Error("store commit failed; QoS 1 ACKs withheld (clients will resend)", "err", err, "acks", len(acks))
		for _, a := range acks {
			if a.pub {
				// The copy the client resends is below the number the
				// session expects next: mark it so that it is taken
				// (broadcast and committed) again rather than answered
				// as a copy whose ACK is on its way.
				s := a.peer.Session()
				s.mu.Lock()
				s.qs.pub.update(a.id, pubFailed)
				s.mu.Unlock()
			}
		}
		return
	}
	if len(acks) == 0 {
		return
	}
	b.ackMu.Lock()
	defer b.ackMu.Unlock()
	w := b.ackW
	for _, a := range acks {
		// The session may have moved to another connection meanwhile: the
		// ACK goes to where it is now (a session offline gets none; its
		// client resends and is answered from the dedup memory).
		s := a.peer.Session()
		s.mu.Lock()
		if a.pub {
			s.qs.pub.add(a.id, pubAcked, b.cfg.DedupIDs)
		}
		p := s.peer
		s.mu.Unlock()
		if p != nil {
			b.hub.DeliverOne(w.Out, w.Out.Frame(ackHeader(a.id), nil), p)
			w.Out.Traffic.Out(byte(codec.TypeAck), 1, codec.HeaderLen)
		}
	}
	w.Out.Flush()
}

// recover rebuilds the persistent sessions and their queues from the
// store, as they were at the last commit.
func (b *Broker) recover() error {
	st, err := b.store.Load()
	if err != nil {
		return fmt.Errorf("broker: loading the store: %w", err)
	}
	b.seq.Store(st.NextSeq)
	b.nextNum = st.NextNum
	now := time.Now()
	byNum := make(map[uint32]*Session, len(st.Sessions))
	done := make(map[uint32]map[uint64]bool)
	floors := make(map[uint32]uint64)
	for i := range st.Sessions {
		r := &st.Sessions[i]
		s := b.newSession(r.ClientID, true)
		s.setID(r.SID)
		s.num = r.Num
		s.keepAlive, s.expiry, s.window = r.KeepAlive, r.Expiry, r.Window
		s.qs.out.missed = r.Missed
		// Expiry counts from the restart: while the server was down no
		// client could come back.
		s.since = now.UnixNano()
		if err := b.adapter.Add(s.offline); err != nil {
			return fmt.Errorf("broker: restoring session %s: %w", r.ClientID, err)
		}
		rooms := make([][]byte, len(r.Rooms))
		for j, room := range r.Rooms {
			rooms[j] = []byte(room)
		}
		if err := b.adapter.Join(s.name, rooms...); err != nil {
			b.log.Warn("restoring a session's rooms", "session", s.name, "client", r.ClientID, "err", err)
		}
		b.byClient[r.ClientID] = s
		b.byNum[r.Num] = s
		byNum[r.Num] = s
		d := make(map[uint64]bool, len(r.Done))
		for _, seq := range r.Done {
			d[seq] = true
		}
		done[r.Num] = d
		floors[r.Num] = r.Floor
		b.sessions.Add(1)
	}
	w := b.timer
	for i := range st.Messages {
		m := &st.Messages[i]
		q := &qmsg{seq: m.Seq, body: m.Frame, time: time.Unix(0, m.Time)}
		q.stored.Store(true)
		for _, num := range m.Recipients {
			s := byNum[num]
			if s == nil || m.Seq <= floors[num] || done[num][m.Seq] {
				continue
			}
			q.refs.Add(1)
			q.recips = append(q.recips, num)
			s.qs.out.push(q)
		}
		if q.refs.Load() == 0 {
			w.batch.DeleteMessage(m.Seq) // everyone had it: left over from before a crash
		}
	}
	if w.batch.Len() > 0 {
		errc := make(chan error, 1)
		b.store.Commit(&w.batch, func(err error) { errc <- err })
		if err := <-errc; err != nil {
			return fmt.Errorf("broker: cleaning the store: %w", err)
		}
		w.batch.Reset()
	}
	if len(st.Sessions) > 0 {
		b.log.Info("restored persistent sessions", "sessions", len(st.Sessions), "messages", len(st.Messages))
	}
	return nil
}
