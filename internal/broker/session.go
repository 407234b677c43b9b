package broker

import (
	"encoding/hex"
	"sync/atomic"
	"time"

	"github.com/packetd/packetd/internal/deliver"
)

// Peer is a transport's end of a session: a TCP connection or a UDP
// session entry.
type Peer interface {
	deliver.Recipient
	// Attach binds the peer to its session; Open calls it before the
	// session joins its own room, so ID() works from then on.
	Attach(s *Session)
}

// Session is the transport-independent state of one session. Its methods
// are safe for concurrent use.
type Session struct {
	id        uint64
	name      string // "$" + 16 hex digits: the id as text, and the own room's name
	nameBytes []byte
	keepAlive time.Duration
	peer      Peer
	closed    atomic.Bool
}

func (s *Session) setID(id uint64) {
	var b [17]byte
	b[0] = '$'
	var raw [8]byte
	for i := range raw {
		raw[i] = byte(id >> (56 - 8*i))
	}
	hex.Encode(b[1:], raw[:])
	s.id, s.name, s.nameBytes = id, string(b[:]), b[:]
}

// ID returns the 64-bit session id (the UDP datagram prefix).
func (s *Session) ID() uint64 { return s.id }

// Name returns the id in text form, which is also its own room's name.
func (s *Session) Name() string { return s.name }

// KeepAlive returns the interval the client must send within.
func (s *Session) KeepAlive() time.Duration { return s.keepAlive }

// IdleTimeout returns how long the session may stay silent: 1.5 keepalives.
func (s *Session) IdleTimeout() time.Duration { return s.keepAlive * 3 / 2 }

// Closed reports whether Broker.Close has run for the session.
func (s *Session) Closed() bool { return s.closed.Load() }
