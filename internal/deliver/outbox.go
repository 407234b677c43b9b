// Package deliver moves encoded packets from the goroutine that produced them
// to the sockets of their recipients, with as few copies, wake-ups and
// system calls as the transports allow.
//
// The unit of work is a pass: one gnet OnTraffic call, one task run on an
// event loop, or one sweep of a timer goroutine. Each such goroutine owns an
// Outbox. During the pass, packets are encoded once into the Outbox's arena
// and handed to recipients, which only remember them (a TCP connection
// appends the slice to its pending list, a UDP session adds a datagram to
// the Outbox's batch). Flush, at the end of the pass, writes everything: one
// write or writev per TCP connection, one sendmmsg per batch of datagrams.
//
// A TCP connection may only be written on its own event loop, so the Hub
// hands a broadcast's recipients on other loops to those loops: the bytes
// and the recipient list are copied once into the loop's inbox and one task
// drains the inbox on the loop, with at most one task in flight per loop.
// UDP sends are plain sendmmsg calls on a socket, which any goroutine may
// make, so UDP recipients are written from the producing pass directly.
//
// Concurrency: an Outbox belongs to one goroutine at a time. The Hub is safe
// for concurrent use.
package deliver

import (
	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/stats"
	"github.com/packetd/packetd/rooms"
)

// Recipient is a session's transport end as the Hub sees it.
type Recipient interface {
	rooms.Member
	// Enqueue hands frame (a TCP frame: length prefix and packet) to the
	// recipient. It is called on o's goroutine, which for a TCP recipient is
	// its own event loop. frame stays valid until o.Flush returns.
	Enqueue(o *Outbox, frame []byte)
	// Flush writes what Enqueue queued; o.Flush calls it for every
	// recipient that called o.MarkDirty.
	Flush(o *Outbox)
}

// Outbox collects one pass's output. It is not safe for concurrent use.
type Outbox struct {
	group int // the TCP group this outbox's goroutine serves, or NoGroup
	arena []byte
	dirty []Recipient
	dg    datagrams
	// Scratch is a buffer recipients may use during Flush (a TCP
	// connection copies many small pending frames into it to make one
	// write). Its contents do not survive the call that filled it.
	Scratch []byte
	// Traffic counts the packets this Outbox's goroutine receives and
	// queues, by type (never nil).
	Traffic *stats.Traffic
}

// NoGroup is the group of an Outbox that runs on no TCP event loop.
const NoGroup = -1

// NewOutbox returns an Outbox for a goroutine serving the given group
// (NoGroup for a UDP event loop or a timer). st counts its datagram sends.
func NewOutbox(group int, st *stats.Stats) *Outbox {
	o := &Outbox{group: group, arena: make([]byte, 0, 64<<10), Traffic: new(stats.Traffic)}
	if st != nil {
		o.Traffic = st.NewTraffic()
	}
	o.dg.stats = st
	return o
}

// Group returns the group passed to NewOutbox.
func (o *Outbox) Group() int { return o.group }

// maxArena bounds the arena of one pass; a pass that encodes more is flushed
// early, so a burst of large frames cannot hold unbounded memory.
const maxArena = 4 << 20

// Frame encodes a TCP frame (header h, body) into the arena and returns it.
// The result is valid until Flush returns. body may be nil.
func (o *Outbox) Frame(h codec.Header, body codec.Body) []byte {
	if len(o.arena) > maxArena {
		o.Flush()
	}
	start := len(o.arena)
	o.arena = codec.AppendFrame(o.arena, h, body)
	// The result keeps the arena's capacity so that consecutive frames can
	// be recognised as adjacent (see Adjacent).
	return o.arena[start:len(o.arena):cap(o.arena)]
}

// Join copies a and then b into the arena as one slice, valid until Flush
// returns: a frame whose header differs per recipient.
func (o *Outbox) Join(a, b []byte) []byte {
	if len(o.arena) > maxArena {
		o.Flush()
	}
	start := len(o.arena)
	o.arena = append(append(o.arena, a...), b...)
	return o.arena[start:len(o.arena):cap(o.arena)]
}

// MarkDirty asks Flush to call r.Flush. A recipient calls it once per pass,
// from Enqueue, when it first has something pending.
func (o *Outbox) MarkDirty(r Recipient) {
	o.dirty = append(o.dirty, r)
}

// Flush writes everything the pass produced and resets the Outbox.
func (o *Outbox) Flush() {
	for i, r := range o.dirty {
		r.Flush(o)
		o.dirty[i] = nil
	}
	o.dirty = o.dirty[:0]
	o.dg.flush()
	o.arena = o.arena[:0]
}

// Adjacent reports whether b starts exactly where a ends in the same
// backing array, so that a[:len(a)+len(b)] covers both. Frames encoded one
// after another in an arena or an inbox are adjacent; a recipient that
// merges them writes one buffer where it would have written many.
func Adjacent(a, b []byte) bool {
	return len(a) > 0 && len(b) > 0 && cap(a)-len(a) >= len(b) && &a[:len(a)+1][len(a)] == &b[0]
}
