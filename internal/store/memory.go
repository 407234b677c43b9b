package store

import (
	"bytes"
	"maps"
	"slices"
	"sync"
)

// Memory is a Store that keeps its records in memory: nothing survives the
// process. It encodes and loads records exactly as Bolt does. Commit applies
// the batch and calls done before returning, without holding a lock, so a
// done may call Commit; done of concurrent Commits may run concurrently
// (Commits ordered by the caller have their done run in that order). Values
// are copied: in memory mode a message is held by the broker and by the
// store. It is safe for concurrent use.
type Memory struct {
	mu       sync.Mutex // guards the fields below
	messages map[uint64][]byte
	sessions map[string][]byte
	high     uint64 // largest Seq ever put
	closed   bool
	stats    Stats
}

// NewMemory returns an empty Memory store.
func NewMemory() *Memory {
	return &Memory{messages: make(map[uint64][]byte), sessions: make(map[string][]byte)}
}

// Load returns everything committed so far.
func (m *Memory) Load() (*State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var l loader
	for _, id := range slices.Sorted(maps.Keys(m.sessions)) {
		if err := l.session([]byte(id), m.sessions[id]); err != nil {
			return nil, err
		}
	}
	for _, seq := range slices.Sorted(maps.Keys(m.messages)) {
		if err := l.message(messageKey(nil, seq), m.messages[seq]); err != nil {
			return nil, err
		}
	}
	return l.state(m.high), nil
}

// Commit applies b and calls done, before returning; see Store.
func (m *Memory) Commit(b *Batch, done func(error)) {
	err := m.apply(b)
	if done != nil {
		done(err)
	}
}

func (m *Memory) apply(b *Batch) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.closed:
		m.stats.Failed++
		return ErrClosed
	case b.err != nil:
		m.stats.Failed++
		return b.err
	}
	for _, o := range b.ops {
		key, val := b.buf[o.key:o.val], b.buf[o.val:o.end]
		switch o.kind {
		case opPutMessage:
			m.messages[o.seq(b.buf)] = bytes.Clone(val)
			m.high = max(m.high, o.seq(b.buf))
		case opDeleteMessage:
			delete(m.messages, o.seq(b.buf))
		case opPutSession:
			m.sessions[string(key)] = bytes.Clone(val)
		case opDeleteSession:
			delete(m.sessions, string(key))
		}
	}
	if len(b.ops) > 0 {
		m.stats.Transactions++
	}
	m.stats.Batches++
	m.stats.Bytes += uint64(len(b.buf))
	return nil
}

// Stats returns the store's counters.
func (m *Memory) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stats
}

// Close makes later commits fail with ErrClosed. It is idempotent.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}

var _ Store = (*Memory)(nil)
