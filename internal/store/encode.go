package store

import (
	"encoding/binary"
	"errors"
	"time"
)

// Record layout, format version 1. Keys: a message's is its Seq as 8 bytes
// big-endian, so keys sort in Seq order; a session's is its ClientID.
// Values are varints (binary.AppendUvarint, zigzag AppendVarint for signed):
//
//	message: Time varint | n uvarint | n × Recipient uvarint | len uvarint | Frame
//	session: Num uvarint | SID uvarint | n uvarint | n × (len uvarint | Room) |
//	         Expiry varint | KeepAlive varint | Window varint | Floor uvarint |
//	         n uvarint | n × Done uvarint | Missed uvarint | LastSeen varint |
//	         Created varint
//
// A value is exactly as long as its fields: trailing bytes are corruption.
// Any change to this layout bumps formatVersion.

var (
	errTruncated = errors.New("truncated")
	errOverflow  = errors.New("varint overflows")
	errTrailing  = errors.New("trailing bytes")
	errRange     = errors.New("value out of range")
)

func messageKey(b []byte, seq uint64) []byte { return binary.BigEndian.AppendUint64(b, seq) }

func appendMessage(b []byte, m *Message) []byte {
	b = binary.AppendVarint(b, m.Time)
	b = binary.AppendUvarint(b, uint64(len(m.Recipients)))
	for _, r := range m.Recipients {
		b = binary.AppendUvarint(b, uint64(r))
	}
	b = binary.AppendUvarint(b, uint64(len(m.Frame)))
	return append(b, m.Frame...)
}

// parseMessage decodes a message value. The result shares no memory with v.
func parseMessage(seq uint64, v []byte) (Message, int, error) {
	r := reader{b: v}
	m := Message{Seq: seq, Time: r.varint()}
	if n := r.count(1); n > 0 {
		m.Recipients = make([]uint32, n)
		for i := range m.Recipients {
			m.Recipients[i] = r.uint32()
		}
	}
	m.Frame = r.bytes()
	return m, r.off, r.end()
}

func appendSession(b []byte, s *Session) []byte {
	b = binary.AppendUvarint(b, uint64(s.Num))
	b = binary.AppendUvarint(b, s.SID)
	b = binary.AppendUvarint(b, uint64(len(s.Rooms)))
	for _, room := range s.Rooms {
		b = binary.AppendUvarint(b, uint64(len(room)))
		b = append(b, room...)
	}
	b = binary.AppendVarint(b, int64(s.Expiry))
	b = binary.AppendVarint(b, int64(s.KeepAlive))
	b = binary.AppendVarint(b, int64(s.Window))
	b = binary.AppendUvarint(b, s.Floor)
	b = binary.AppendUvarint(b, uint64(len(s.Done)))
	for _, d := range s.Done {
		b = binary.AppendUvarint(b, d)
	}
	b = binary.AppendUvarint(b, s.Missed)
	b = binary.AppendVarint(b, s.LastSeen)
	return binary.AppendVarint(b, s.Created)
}

// parseSession decodes a session value. The result shares no memory with
// key or v.
func parseSession(key, v []byte) (Session, int, error) {
	r := reader{b: v}
	s := Session{ClientID: string(key), Num: r.uint32(), SID: r.uvarint()}
	if n := r.count(1); n > 0 {
		s.Rooms = make([]string, n)
		for i := range s.Rooms {
			s.Rooms[i] = string(r.bytes())
		}
	}
	s.Expiry = time.Duration(r.varint())
	s.KeepAlive = time.Duration(r.varint())
	s.Window = int(r.varint())
	s.Floor = r.uvarint()
	if n := r.count(1); n > 0 {
		s.Done = make([]uint64, n)
		for i := range s.Done {
			s.Done[i] = r.uvarint()
		}
	}
	s.Missed = r.uvarint()
	s.LastSeen = r.varint()
	s.Created = r.varint()
	return s, r.off, r.end()
}

// reader decodes varints from b. The first error sticks; later reads
// return zero values.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		r.fail(n)
		return 0
	}
	r.off += n
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b[r.off:])
	if n <= 0 {
		r.fail(n)
		return 0
	}
	r.off += n
	return v
}

func (r *reader) fail(n int) {
	if n == 0 {
		r.err = errTruncated
	} else {
		r.err = errOverflow
	}
}

func (r *reader) uint32() uint32 {
	v := r.uvarint()
	if v > 1<<32-1 && r.err == nil {
		r.err = errRange
		return 0
	}
	return uint32(v)
}

// count reads a element count and checks it against the bytes left, each
// element taking at least size bytes, before anything is allocated for it.
func (r *reader) count(size int) int {
	n := r.uvarint()
	if r.err == nil && n > uint64((len(r.b)-r.off)/size) {
		r.err = errTruncated
		return 0
	}
	return int(n)
}

// bytes reads a length-prefixed byte string and returns a copy of it
// (nil when empty).
func (r *reader) bytes() []byte {
	n := r.count(1)
	if n == 0 {
		return nil
	}
	out := make([]byte, n)
	r.off += copy(out, r.b[r.off:])
	return out
}

// end reports the first error, or errTrailing if bytes are left over.
func (r *reader) end() error {
	if r.err == nil && r.off != len(r.b) {
		return errTrailing
	}
	return r.err
}
