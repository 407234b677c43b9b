// Package broker is packetd's session layer, the same for both transports:
// it opens and resumes sessions (HELLO → WELCOME), answers JOIN, LEAVE and
// PING, turns an EMIT into one encoded MESSAGE broadcast through the room
// adapter, delivers QoS 1 messages with acknowledgements, retransmission
// and per-session queues that outlive connections, and keeps the durable
// store in step. Transports parse frames and datagrams, keep time, and call
// it with a Worker, the per-goroutine state (Outbox, decoder, scratch).
//
// Concurrency: a Broker is safe for concurrent use. A Worker belongs to one
// goroutine. A Session's methods are safe for concurrent use. Lock order:
// Broker.commitMu, then Session.mu, then Broker.mu, then the adapter's
// locks; no lock is held while the adapter calls the Sink.
package broker

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/auth"
	"github.com/packetd/packetd/internal/deliver"
	"github.com/packetd/packetd/internal/stats"
	"github.com/packetd/packetd/internal/store"
	"github.com/packetd/packetd/rooms"
)

// Broker runs the session layer over a room adapter of its own.
type Broker struct {
	cfg     Config
	adapter *rooms.Local
	hub     *deliver.Hub
	store   store.Store
	stats   *stats.Stats
	log     *slog.Logger
	server  []byte // cfg.Server
	epoch   uint32 // announced in WELCOME: changes when the server restarts
	limits  limits // cfg.PacketRate and ByteRate, or SetLimits's

	sessions atomic.Int64  // sessions, online or stored
	seq      atomic.Uint64 // last message sequence number handed out

	commitMu sync.Mutex // orders session snapshots with their Commit calls
	ackMu    sync.Mutex // guards ackW
	ackW     *Worker    // sends the ACKs that waited for a commit

	mu       sync.Mutex // guards the fields below
	byClient map[string]*Session
	byNum    map[uint32]*Session // persistent sessions by store number
	nextNum  uint32
	watched  map[*Session]struct{} // sessions with messages in flight to an unreliable peer
	progress map[*Session]struct{} // persistent sessions whose records the timer must rewrite

	timer *Worker // the sweeper goroutine's
	stop  chan struct{}
	done  chan struct{}
}

// New returns a Broker delivering through hub, after restoring the
// persistent sessions and their queued messages from cfg.Store.
func New(cfg Config, hub *deliver.Hub, st *stats.Stats) (*Broker, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	b := &Broker{cfg: c, hub: hub, store: c.Store, stats: st, log: c.Logger, server: []byte(c.Server),
		byClient: make(map[string]*Session), byNum: make(map[uint32]*Session),
		watched: make(map[*Session]struct{}), progress: make(map[*Session]struct{}),
		stop: make(chan struct{}), done: make(chan struct{})}
	for b.epoch == 0 {
		b.epoch = uint32(RandomID())
	}
	b.adapter, err = rooms.NewLocal(rooms.Config{MaxRoomsPerMember: c.MaxRooms, MaxMembersPerRoom: c.MaxRoomMembers, Sink: b})
	if err != nil {
		return nil, err
	}
	b.limits.packetRate.Store(int64(c.PacketRate))
	b.limits.byteRate.Store(int64(c.ByteRate))
	b.timer = b.NewWorker(deliver.NewOutbox(deliver.NoGroup, st))
	b.ackW = b.NewWorker(deliver.NewOutbox(deliver.NoGroup, st))
	if err := b.recover(); err != nil {
		return nil, err
	}
	go b.sweeper()
	return b, nil
}

// Config returns the configuration in force, defaults filled in.
func (b *Broker) Config() Config { return b.cfg }

// Adapter returns the room adapter the broker delivers through.
func (b *Broker) Adapter() *rooms.Local { return b.adapter }

// Online reports whether the session of clientID exists and has a
// connection.
func (b *Broker) Online(clientID string) bool {
	b.mu.Lock()
	s := b.byClient[clientID]
	b.mu.Unlock()
	return s != nil && s.Online()
}

// Sessions returns the number of sessions, online or stored.
func (b *Broker) Sessions() int { return int(b.sessions.Load()) }

// Close stops the broker's timer, writes what is pending and closes the
// store. Call it after the transports stopped.
func (b *Broker) Close() error {
	close(b.stop)
	<-b.done
	return b.store.Close()
}

func (b *Broker) newSession(clientID string, persistent bool) *Session {
	s := &Session{b: b, clientID: clientID, persistent: persistent}
	if persistent {
		s.offline = &offlineMember{s: s}
		s.qosLocked() // a persistent session exists to queue
	}
	return s
}

// Open answers a HELLO: it creates a session, or resumes the persistent
// session of the HELLO's client id, takes it over from any other
// connection, and queues the WELCOME (whose id echoes the HELLO's) and
// then whatever the session has waiting. On failure it returns the code
// the transport must send before closing.
func (b *Broker) Open(w *Worker, p Peer, h codec.Header, body []byte) (*Session, codec.Code) {
	hello := &w.hello
	if err := w.dec.Decode(codec.TypeHello, body, hello); err != nil || !utf8.Valid(hello.ClientID) || !utf8.Valid(hello.User) {
		return nil, codec.CodeInvalidBody
	}
	if h.Flags != 0 {
		return nil, codec.CodeInvalidFlags
	}
	grant, code := b.authenticate(w, p, hello)
	if code != codec.CodeNormal {
		return nil, code
	}
	cid := string(hello.ClientID)
	if cid != "" {
		b.mu.Lock()
		old := b.byClient[cid]
		b.mu.Unlock()
		if old != nil {
			if !b.mayTakeOver(old, grant.Principal, p) {
				return nil, codec.CodeNotAuthorized
			}
			if hello.Persist && old.persistent {
				if s := b.resume(w, old, p, h, hello, grant); s != nil {
					b.prune(w, s)
					b.expireAt(s, p, grant.Expires)
					return s, codec.CodeNormal
				}
			} else {
				b.discard(w, old) // a clean start, or the old session was not persistent
			}
		}
	}
	if n := b.sessions.Add(1); n > int64(b.cfg.MaxSessions) {
		b.sessions.Add(-1)
		b.stats.SessionsRefused.Add(1)
		return nil, codec.CodeServerFull
	}
	s := b.newSession(cid, hello.Persist)
	s.principal = grant.Principal
	s.perms.Store(grant.Perms)
	s.keepAlive = b.keepAlive(hello.KeepAlive)
	s.window = b.window(hello.Inflight)
	if s.persistent {
		s.expiry = b.expiry(hello.Expiry)
	}
	s.peer = p
	for {
		s.setID(RandomID())
		p.Attach(s)
		err := b.adapter.Add(p)
		if err == nil {
			break
		}
		if !errors.Is(err, rooms.ErrDuplicateMember) {
			b.sessions.Add(-1)
			b.log.Error("adding session to adapter", "session", s.name, "client", cid, "remote", p.Remote(), "err", err)
			return nil, codec.CodeServerFull
		}
	}
	if cid != "" {
		b.mu.Lock()
		if other := b.byClient[cid]; other != nil {
			// Another HELLO with this id won the race: it is older news.
			b.mu.Unlock()
			b.discard(w, other)
			b.mu.Lock()
		}
		b.byClient[cid] = s
		if s.persistent {
			s.num = b.allocNumLocked()
			b.byNum[s.num] = s
		}
		b.mu.Unlock()
	}
	if s.persistent {
		s.mu.Lock()
		s.dirtyLocked(w)
		s.mu.Unlock()
	}
	b.stats.SessionsOpened.Add(1)
	b.debugSession("session opened", s, p)
	b.expireAt(s, p, grant.Expires)
	b.welcome(w, s, p, h, false, 0)
	return s, codec.CodeNormal
}

// resume gives the persistent session s to p: rooms and queue are kept,
// messages in flight are sent again (DUP) after the WELCOME, and the
// session's previous connection, if any, gets BYE 306. It returns nil if s
// ended meanwhile.
func (b *Broker) resume(w *Worker, s *Session, p Peer, h codec.Header, hello *codec.Hello, grant auth.Grant) *Session {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	old := s.peer
	s.peer = p
	p.Attach(s)
	if err := b.adapter.Rebind(p); err != nil {
		s.peer = old
		s.mu.Unlock()
		return nil
	}
	s.keepAlive = b.keepAlive(hello.KeepAlive)
	s.window = b.window(hello.Inflight)
	s.expiry = b.expiry(hello.Expiry)
	s.perms.Store(grant.Perms) // the new credentials' permissions
	missed := s.qs.out.missed
	s.qs.out.missed = 0
	s.dirtyLocked(w)
	s.dropHeldLocked()
	s.dropUnfitLocked(w, p)
	s.resumeLocked()
	b.welcome(w, s, p, h, true, missed)
	s.pullLocked(w.Out, p, time.Now())
	s.mu.Unlock()
	if old != nil {
		old.Kick(codec.CodeTakenOver)
	}
	b.stats.SessionsResumed.Add(1)
	b.debugSession("session resumed", s, p)
	return s
}

// welcome queues the WELCOME for s, answering the HELLO with header h, and
// remembers what it said for a retransmitted HELLO.
func (b *Broker) welcome(w *Worker, s *Session, p Peer, h codec.Header, resumed bool, missed uint64) {
	s.resumed, s.missedTold = resumed, missed
	body := b.welcomeBody(s, p, resumed, missed)
	w.Reply(p, codec.Header{Type: codec.TypeWelcome, ID: h.ID}, &body)
}

// welcomeBody returns the WELCOME body for s, whose mu the caller holds
// (or which is new, and has no QoS 1 state to read). A resumed session's
// WELCOME always carries next and pub_next, 0 included (a number after a
// wrap), so that a client can tell them from absent. A UDP peer's WELCOME
// carries its datagram key instead of max_frame, a TCP limit: the key
// (14 bytes) fits where max_frame (up to 15) was, so the WELCOME stays
// within MaxWelcome on either transport.
func (b *Broker) welcomeBody(s *Session, p Peer, resumed bool, missed uint64) codec.Welcome {
	maxFrame, key := uint32(b.cfg.MaxFrame), p.DatagramKey()
	if key != 0 {
		maxFrame = 0
	}
	return codec.Welcome{
		SessionID:   s.nameArr[:],
		Key:         key,
		KeepAlive:   uint32(s.keepAlive / time.Second),
		MaxFrame:    maxFrame,
		MaxDatagram: uint32(b.cfg.MaxDatagram),
		MaxRooms:    uint32(b.cfg.MaxRooms),
		Server:      b.server,
		Resumed:     resumed,
		Missed:      missed,
		Expiry:      uint32(s.expiry / time.Second),
		Inflight:    uint32(s.window),
		Epoch:       b.epoch,
		Next:        s.firstLocked(resumed),
		PubNext:     s.pubNextFor(resumed),
		HasNext:     resumed,
		HasPubNext:  resumed,
	}
}

// Welcome queues the WELCOME of s again, answering a retransmitted HELLO
// (UDP).
func (b *Broker) Welcome(w *Worker, p Peer, h codec.Header) {
	s := p.Session()
	s.mu.Lock()
	defer s.mu.Unlock()
	b.welcome(w, s, p, h, s.resumed, s.missedTold)
}

// Validated tells the broker that p's address was just validated (UDP):
// what was sent before, under the anti-amplification budget, may have
// been held back, so the messages in flight go again (DUP) at once rather
// than after their retransmission timeout. They go at the end of w's
// pass, after the datagram that validated the address has been handled:
// if it was the ACK of a message in flight, that message is not resent.
func (b *Broker) Validated(w *Worker, p Peer) {
	if p.Session() != nil {
		w.validated = append(w.validated, p)
	}
}

// revalidate resends, to the peers whose addresses were validated during
// w's pass, the messages they still have in flight.
func (b *Broker) revalidate(w *Worker) {
	now := time.Now()
	for i, p := range w.validated {
		w.validated[i] = nil
		s := p.Session()
		s.mu.Lock()
		if s.peer == p && !s.closed && s.qs != nil && s.qs.out.unacked > 0 {
			s.resumeLocked()
			s.pullLocked(w.Out, p, now)
		}
		s.mu.Unlock()
	}
	w.validated = w.validated[:0]
}

// Detach tells the broker that p, a session's connection, is gone (closed,
// silent too long, or the client said BYE). A persistent session goes
// offline and keeps its rooms and queue until it expires; any other ends.
// It does nothing if p no longer holds its session (another connection
// took it over). Safe from any goroutine; w is the caller's Worker.
func (b *Broker) Detach(w *Worker, p Peer) {
	s := p.Session()
	if s == nil {
		return
	}
	s.mu.Lock()
	if s.peer != p || s.closed {
		s.mu.Unlock()
		return
	}
	s.peer = nil
	if s.persistent {
		s.since = time.Now().UnixNano()
		if err := b.adapter.Rebind(s.offline); err != nil {
			b.log.Error("taking a session offline", "session", s.name, "client", s.clientID, "err", err)
		}
		s.dirtyLocked(w)
		s.mu.Unlock()
		b.debugSession("session offline", s, p)
		return
	}
	s.mu.Unlock()
	b.end(w, s)
}

// discard ends s for good, after kicking its connection (BYE 306): a
// HELLO with its client id asked for a clean start.
func (b *Broker) discard(w *Worker, s *Session) {
	s.mu.Lock()
	p := s.peer
	s.mu.Unlock()
	if p != nil {
		p.Kick(codec.CodeTakenOver)
	}
	b.end(w, s)
}

// end ends a session for good: it leaves every room, its messages are
// released, and a persistent session is deleted from the store.
func (b *Broker) end(w *Worker, s *Session) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.peer = nil
	if s.authTimer != nil {
		s.authTimer.Stop()
	}
	s.dropAllLocked(w)
	s.mu.Unlock()
	b.adapter.Remove(s.name)
	b.mu.Lock()
	if s.clientID != "" && b.byClient[s.clientID] == s {
		delete(b.byClient, s.clientID)
	}
	if s.persistent && b.byNum[s.num] == s {
		delete(b.byNum, s.num)
	}
	delete(b.watched, s)
	delete(b.progress, s)
	b.mu.Unlock()
	if s.persistent {
		w.batch.DeleteSession(s.clientID)
	}
	b.sessions.Add(-1)
	b.debugSession("session ended", s, nil)
}

// allocNumLocked returns a store number no live session uses.
func (b *Broker) allocNumLocked() uint32 {
	for {
		n := b.nextNum
		b.nextNum++
		if _, used := b.byNum[n]; !used && n != 0 {
			return n
		}
	}
}

// keepAlive clamps a client's requested keepalive (seconds, 0 = default).
func (b *Broker) keepAlive(secs uint32) time.Duration {
	if secs == 0 {
		return b.cfg.KeepAlive
	}
	d := time.Duration(secs) * time.Second
	return min(max(d, b.cfg.MinKeepAlive), b.cfg.MaxKeepAlive)
}

// window clamps a client's requested inflight window (0 = default).
func (b *Broker) window(n uint32) int {
	if n == 0 {
		return b.cfg.Inflight
	}
	return min(int(n), b.cfg.MaxInflight)
}

// expiry clamps a client's requested session expiry (seconds, 0 = default).
func (b *Broker) expiry(secs uint32) time.Duration {
	if secs == 0 {
		return b.cfg.Expiry
	}
	return min(time.Duration(secs)*time.Second, b.cfg.MaxExpiry)
}

// nextSeq returns a message sequence number whose low 32 bits are not 0.
func (b *Broker) nextSeq() uint64 {
	for {
		if seq := b.seq.Add(1); uint32(seq) != 0 {
			return seq
		}
	}
}

// watch asks the timer to retransmit to s.
func (b *Broker) watch(s *Session) {
	b.mu.Lock()
	b.watched[s] = struct{}{}
	b.mu.Unlock()
}

// RandomID returns a random nonzero 64-bit value from crypto/rand: session
// ids, the epoch, and the UDP transport's datagram keys.
func RandomID() uint64 {
	var b [8]byte
	for {
		_, _ = rand.Read(b[:])
		if id := binary.BigEndian.Uint64(b[:]); id != 0 {
			return id
		}
	}
}
