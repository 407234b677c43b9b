package store

import (
	"encoding/binary"
	"fmt"
)

// Batch is a list of changes committed together: all of them or none become
// durable. Records are encoded into the batch when added, so the caller may
// reuse what it passed (a Message's Frame, a Session's slices) at once.
//
// A Batch is reusable (Reset) and not safe for concurrent use. Adding to a
// reused Batch does not allocate once its buffers have grown.
type Batch struct {
	buf []byte // keys and values, back to back
	ops []op
	err error // the first invalid record: the batch will fail with it
}

type opKind uint8

const (
	opPutMessage opKind = iota + 1
	opDeleteMessage
	opPutSession
	opDeleteSession
)

// op is one change; its key is buf[key:val] and its value buf[val:end].
type op struct {
	kind          opKind
	key, val, end int
}

// PutMessage stores m, replacing any message with the same Seq. Seq must be
// at least 1.
func (b *Batch) PutMessage(m *Message) {
	if m.Seq == 0 {
		b.invalid("message with Seq 0")
		return
	}
	k := len(b.buf)
	b.buf = messageKey(b.buf, m.Seq)
	v := len(b.buf)
	b.buf = appendMessage(b.buf, m)
	b.ops = append(b.ops, op{opPutMessage, k, v, len(b.buf)})
}

// DeleteMessage removes the message with this Seq, if there is one.
func (b *Batch) DeleteMessage(seq uint64) {
	k := len(b.buf)
	b.buf = messageKey(b.buf, seq)
	b.ops = append(b.ops, op{opDeleteMessage, k, len(b.buf), len(b.buf)})
}

// PutSession stores s, replacing the session with the same ClientID.
func (b *Batch) PutSession(s *Session) {
	if !validClientID(s.ClientID) {
		b.invalid(fmt.Sprintf("session ClientID of %d bytes", len(s.ClientID)))
		return
	}
	k := len(b.buf)
	b.buf = append(b.buf, s.ClientID...)
	v := len(b.buf)
	b.buf = appendSession(b.buf, s)
	b.ops = append(b.ops, op{opPutSession, k, v, len(b.buf)})
}

// DeleteSession removes the session with this ClientID, if there is one.
func (b *Batch) DeleteSession(clientID string) {
	if !validClientID(clientID) {
		b.invalid(fmt.Sprintf("session ClientID of %d bytes", len(clientID)))
		return
	}
	k := len(b.buf)
	b.buf = append(b.buf, clientID...)
	b.ops = append(b.ops, op{opDeleteSession, k, len(b.buf), len(b.buf)})
}

// Len returns the number of changes in the batch.
func (b *Batch) Len() int { return len(b.ops) }

// Size returns the encoded size of the batch's changes in bytes, the
// measure MaxBatchBytes applies to.
func (b *Batch) Size() int { return len(b.buf) }

// Reset empties the batch, keeping its buffers.
func (b *Batch) Reset() {
	b.buf = b.buf[:0]
	b.ops = b.ops[:0]
	b.err = nil
}

func (b *Batch) invalid(what string) {
	if b.err == nil {
		b.err = fmt.Errorf("%w: %s", ErrInvalidBatch, what)
	}
}

func validClientID(id string) bool { return len(id) > 0 && len(id) <= MaxClientIDLen }

func (o op) seq(buf []byte) uint64 { return binary.BigEndian.Uint64(buf[o.key:o.val]) }
