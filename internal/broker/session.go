package broker

import (
	"encoding/hex"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/acl"
	"github.com/packetd/packetd/internal/deliver"
)

// Peer is a transport's end of a session: a TCP connection or a UDP
// session entry. A session has at most one peer at a time; a persistent
// session whose peer is gone waits, offline, for the next.
type Peer interface {
	deliver.Recipient
	// Attach binds the peer to its session; Open calls it before the peer
	// becomes a room member, so ID and Session work from then on.
	Attach(s *Session)
	// Session returns the session Attach bound.
	Session() *Session
	// Reliable reports whether the transport delivers in order without
	// loss (TCP): QoS 1 MESSAGEs are then resent only when the session
	// resumes, never on a timer.
	Reliable() bool
	// Kick ends this connection, from any goroutine, after a BYE with
	// code: the session itself lives on (another peer took it over).
	Kick(code codec.Code)
	// MaxPacket is the largest packet the transport can carry to the
	// client (max_datagram for UDP, max_frame for TCP).
	MaxPacket() int
	// Remote returns the client's address (TCP: the connection's peer;
	// UDP: the session's current path), for limits, logs and the admin
	// API. It is safe to call from any goroutine.
	Remote() netip.AddrPort
	// Identity returns the client identity the transport verified, such
	// as a TLS client certificate's subject; "" if none.
	Identity() string
	// DatagramKey returns the secret key the client puts in front of its
	// UDP datagrams, which the WELCOME tells it; 0 over TCP, whose WELCOME
	// carries no key. It never changes for a peer.
	DatagramKey() uint64
}

// Session is the transport-independent state of one session. Its methods
// are safe for concurrent use.
type Session struct {
	b          *Broker
	id         uint64
	name       string                    // "$" + 16 hex digits: the id as text, and the own room's name
	nameArr    [17]byte                  // the name's bytes, for the wire
	clientID   string                    // "" for an anonymous session
	principal  string                    // who authenticated (auth.Grant); "" for anonymous or restored sessions
	perms      atomic.Pointer[acl.Perms] // nil: everything allowed; replaced when a HELLO resumes the session
	authTimer  *time.Timer               // ends the connection when its token expires; guarded by mu
	persistent bool                      // outlives its connection (a client id and clean=false)
	num        uint32                    // a persistent session's number in the store
	offline    *offlineMember

	mu         sync.Mutex // guards the fields below
	limit      *rateLimit // nil until a rate limit applies (Session.allow)
	peer       Peer       // nil while offline
	keepAlive  time.Duration
	expiry     time.Duration
	window     int
	since      int64 // when it went offline, unix nanoseconds
	closed     bool
	qs         *qosState // QoS 1 state, allocated on first use: most sessions never need it
	resumed    bool      // what the last WELCOME said, for a retransmitted HELLO
	missedTold uint64    // likewise
	dirty      bool      // the stored record must be rewritten at the next flush
	progressed bool      // acknowledgements moved on: rewrite the record within a second
}

// setID sets the session's id, once, before the session is published.
func (s *Session) setID(id uint64) {
	b := &s.nameArr
	b[0] = '$'
	var raw [8]byte
	for i := range raw {
		raw[i] = byte(id >> (56 - 8*i))
	}
	hex.Encode(b[1:], raw[:])
	// The name is a view of nameArr, which never changes afterwards: one
	// allocation less per session.
	s.id, s.name = id, unsafe.String(&b[0], len(b))
}

// ID returns the 64-bit session id (public: not the UDP datagram key).
func (s *Session) ID() uint64 { return s.id }

// Name returns the id in text form, which is also its own room's name.
func (s *Session) Name() string { return s.name }

// ClientID returns the client id, "" for an anonymous session.
func (s *Session) ClientID() string { return s.clientID }

// Persistent reports whether the session outlives its connections.
func (s *Session) Persistent() bool { return s.persistent }

// KeepAlive returns the interval the client must send within.
func (s *Session) KeepAlive() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keepAlive
}

// IdleTimeout returns how long the session may stay silent: 1.5 keepalives.
func (s *Session) IdleTimeout() time.Duration { return s.KeepAlive() * 3 / 2 }

// Closed reports whether the session has ended for good.
func (s *Session) Closed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Online reports whether the session has a peer.
func (s *Session) Online() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peer != nil
}

// qosState is a session's QoS 1 traffic in both directions. Sessions that
// only ever use QoS 0 (most idle devices) do without it.
type qosState struct {
	out       outbound          // QoS 1 messages on their way to the client
	pub       recent            // QoS 1 EMIT ids seen from the client
	pubNext   uint32            // the number of the client's next new QoS 1 EMIT
	held      map[uint32][]byte // QoS 1 EMIT bodies that arrived before a gap filled, by number
	heldBytes int
}

// qosLocked returns the session's QoS 1 state, allocating it.
func (s *Session) qosLocked() *qosState {
	if s.qs == nil {
		s.qs = &qosState{pubNext: 1}
		s.qs.out.next = 1
	}
	return s.qs
}

// offlineMember stands in the rooms for a persistent session without a
// connection: QoS 1 messages queue in the session (the broker's Sink sees
// to that); QoS 0 messages are not kept.
type offlineMember struct{ s *Session }

func (m *offlineMember) ID() string                      { return m.s.name }
func (m *offlineMember) Group() int                      { return deliver.GroupAny }
func (m *offlineMember) Session() *Session               { return m.s }
func (m *offlineMember) Enqueue(*deliver.Outbox, []byte) {}
func (m *offlineMember) Flush(*deliver.Outbox)           {}

// pubStatus is what became of a QoS 1 EMIT: its broadcast is waiting for a
// commit, the commit failed, it was acknowledged, or it was refused with a
// code.
type pubStatus uint16

const (
	pubAcked   pubStatus = 0
	pubFailed  pubStatus = 0xFFFE // the store could not write it: a copy is taken again
	pubPending pubStatus = 0xFFFF
)

// recent remembers the status of the last n QoS 1 EMIT ids (a ring), to
// answer a copy the client resends.
type recent struct {
	ids  []uint32
	next int
	set  map[uint32]pubStatus
}

// seen returns id's status, if it is remembered.
func (r *recent) seen(id uint32) (pubStatus, bool) {
	st, ok := r.set[id]
	return st, ok
}

// update sets the status of id, if it is still remembered.
func (r *recent) update(id uint32, st pubStatus) {
	if _, ok := r.set[id]; ok {
		r.set[id] = st
	}
}

// add remembers id with st, forgetting the oldest beyond n.
func (r *recent) add(id uint32, st pubStatus, n int) {
	if n == 0 {
		return
	}
	if r.set == nil {
		r.set = make(map[uint32]pubStatus, n)
		r.ids = make([]uint32, 0, n)
	}
	if _, ok := r.set[id]; ok {
		r.set[id] = st
		return
	}
	if len(r.ids) < n {
		r.ids = append(r.ids, id)
	} else {
		delete(r.set, r.ids[r.next])
		r.ids[r.next] = id
		r.next = (r.next + 1) % n
	}
	r.set[id] = st
}
