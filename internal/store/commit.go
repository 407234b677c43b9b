package store

import (
	"fmt"
	"time"
)

// group is a copy of the batches committed since the last transaction:
// their changes back to back, and where each batch ends.
type group struct {
	buf     []byte
	ops     []op
	batches []queued
}

type queued struct {
	done func(error)
	ops  int   // end of the batch's changes in group.ops
	size int   // Batch.Size
	err  error // the batch was invalid: none of its changes were copied
}

func (g *group) add(b *Batch, done func(error)) {
	if b.err != nil {
		g.batches = append(g.batches, queued{done: done, ops: len(g.ops), err: b.err})
		return
	}
	base := len(g.buf)
	g.buf = append(g.buf, b.buf...)
	for _, o := range b.ops {
		o.key += base
		o.val += base
		o.end += base
		g.ops = append(g.ops, o)
	}
	g.batches = append(g.batches, queued{done: done, ops: len(g.ops), size: len(b.buf)})
}

// reset empties g, keeping buffers of up to keep bytes: a backlog's peak
// is not held for ever.
func (g *group) reset(keep int) {
	if cap(g.buf) > keep {
		*g = group{}
		return
	}
	g.buf = g.buf[:0]
	g.ops = g.ops[:0]
	clear(g.batches) // let go of the callbacks
	g.batches = g.batches[:0]
}

// Commit queues a copy of b for the writer; see Store.
// After Close, done gets ErrClosed before Commit returns.
func (s *Bolt) Commit(b *Batch, done func(error)) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.failed.Add(1)
		if done != nil {
			done(ErrClosed)
		}
		return
	}
	s.pending.add(b, done)
	s.inflight.Add(1)
	s.mu.Unlock()
	s.signal()
}

func (s *Bolt) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run is the writer: it swaps the pending group for its own empty one and
// writes it, until Close. Batches committed meanwhile form the next group.
func (s *Bolt) run() {
	defer close(s.exited)
	g := new(group)
	for {
		<-s.wake
		s.mu.Lock()
		idle := len(s.pending.batches) == 0 && !s.closed // a token left by gather
		s.mu.Unlock()
		if idle {
			continue
		}
		s.gather()
		s.mu.Lock()
		g, s.pending = s.pending, g
		closed := s.closed
		s.mu.Unlock()
		s.write(g)
		g.reset(s.cfg.MaxBatchBytes)
		if closed {
			return
		}
	}
}

// gather waits up to MaxBatchDelay for more batches.
func (s *Bolt) gather() {
	if s.cfg.MaxBatchDelay <= 0 {
		return
	}
	s.timer.Reset(s.cfg.MaxBatchDelay)
	defer s.timer.Stop()
	for {
		s.mu.Lock()
		enough := len(s.pending.buf) >= s.cfg.MaxBatchBytes || s.closed
		s.mu.Unlock()
		if enough {
			return
		}
		select {
		case <-s.timer.C:
			return
		case <-s.wake:
		}
	}
}

// write writes g in transactions of up to MaxBatchBytes of whole batches,
// calling each batch's done after its transaction.
func (s *Bolt) write(g *group) {
	for start := 0; start < len(g.batches); {
		end, size := start+1, g.batches[start].size
		for end < len(g.batches) && size+g.batches[end].size <= s.cfg.MaxBatchBytes {
			size += g.batches[end].size
			end++
		}
		first := 0
		if start > 0 {
			first = g.batches[start-1].ops
		}
		var err error
		if ops := g.ops[first:g.batches[end-1].ops]; len(ops) > 0 {
			began := time.Now()
			if err = s.apply(g.buf, ops); err == nil && s.cfg.Observe != nil {
				s.cfg.Observe(time.Since(began))
			}
			if err != nil {
				err = fmt.Errorf("store: commit: %w", err)
				s.cfg.Logger.Error("store: commit failed", "batches", end-start, "bytes", size, "err", err)
			}
		}
		for _, q := range g.batches[start:end] {
			s.finish(q, err)
		}
		start = end
	}
}

// apply writes ops in one transaction.
func (s *Bolt) apply(buf []byte, ops []op) error {
	tx, err := s.db.Begin(true)
	if err != nil {
		return err
	}
	defer tx.Rollback() // a no-op after Commit
	msgs, sessions := tx.Bucket(bucketMessages), tx.Bucket(bucketSessions)
	high := msgs.Sequence()
	for _, o := range ops {
		key := buf[o.key:o.val]
		switch o.kind {
		case opPutMessage:
			err = msgs.Put(key, buf[o.val:o.end])
			high = max(high, o.seq(buf))
		case opDeleteMessage:
			err = msgs.Delete(key)
		case opPutSession:
			err = sessions.Put(key, buf[o.val:o.end])
		case opDeleteSession:
			err = sessions.Delete(key)
		}
		if err != nil {
			return err
		}
	}
	if high != msgs.Sequence() {
		if err := msgs.SetSequence(high); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	s.txs.Add(1)
	if !s.cfg.NoSync {
		s.syncs.Add(1)
	}
	return nil
}

func (s *Bolt) finish(q queued, err error) {
	if q.err != nil {
		err = q.err
	}
	if err != nil {
		s.failed.Add(1)
	} else {
		s.batches.Add(1)
		s.bytes.Add(uint64(q.size))
	}
	s.inflight.Add(-1)
	if q.done != nil {
		q.done(err)
	}
}

var _ Store = (*Bolt)(nil)
