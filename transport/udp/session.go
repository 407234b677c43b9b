package udp

import (
	"crypto/rand"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/broker"
	"github.com/packetd/packetd/internal/deliver"
)

// session is one UDP session: the broker's Session plus where its client
// is. It is safe for concurrent use: every event loop may deliver to it.
type session struct {
	srv  *Server
	sess *broker.Session
	// key is the secret prefix of the client's datagrams, the key in
	// Server.table: random, never 0, new with each HELLO (the WELCOME
	// tells it). It is not the session id, which is public.
	key      uint64
	helloID  uint32         // the HELLO's header id, to recognise a retransmitted HELLO
	helloAP  netip.AddrPort // where the HELLO came from: the key in Server.hellos
	indexed  bool           // may be in Server.hellos; used by the sweep only
	pending  bool           // counted in Server.pending; guarded by Server.hellosMu
	created  int64          // unix nanoseconds of the HELLO
	lastSeen atomic.Int64   // unix nanoseconds of the last datagram
	ended    atomic.Bool

	mu   sync.Mutex // serialises path changes
	path atomic.Pointer[path]
}

// path is an address a session's client was seen at, and how much may be
// sent there. It is replaced, not changed, when the address changes.
type path struct {
	ap        netip.AddrPort
	sa        deliver.Sockaddr
	fd        int // the socket the address's datagrams arrive on; replies leave from it
	validated atomic.Bool
	in, out   atomic.Int64 // bytes received from and sent to ap while unvalidated
	// token, when set, is the PING token whose echo validates the path (a
	// path reached by rebinding); a fresh session's first path is validated
	// by any datagram carrying its key.
	token      []byte
	challenged atomic.Int64 // unix nanoseconds of the last PING with token
}

var _ broker.Peer = (*session)(nil)

func newPath(l *loop, ap netip.AddrPort, n int) *path {
	p := &path{ap: ap, sa: deliver.SockaddrOf(ap, l.v6), fd: l.fd}
	p.in.Store(int64(n))
	return p
}

// spend reserves n bytes of the anti-amplification budget: before
// validation the server sends at most three times what it received.
func (p *path) spend(n int) bool {
	if p.validated.Load() {
		return true
	}
	for {
		out := p.out.Load()
		if out+int64(n) > 3*p.in.Load() {
			return false
		}
		if p.out.CompareAndSwap(out, out+int64(n)) {
			return true
		}
	}
}

// ID implements rooms.Member.
func (ss *session) ID() string { return ss.sess.Name() }

// Group implements rooms.Member: UDP sessions can be written from any pass.
func (ss *session) Group() int { return deliver.GroupAny }

// Attach implements broker.Peer.
func (ss *session) Attach(s *broker.Session) { ss.sess = s }

// Session implements broker.Peer.
func (ss *session) Session() *broker.Session { return ss.sess }

// Reliable implements broker.Peer: UDP loses and reorders.
func (ss *session) Reliable() bool { return false }

// MaxPacket implements broker.Peer.
func (ss *session) MaxPacket() int { return ss.srv.cfg.MaxDatagram }

// Remote implements broker.Peer: the session's current address.
func (ss *session) Remote() netip.AddrPort { return ss.path.Load().ap }

// Identity implements broker.Peer: UDP verifies no identity.
func (ss *session) Identity() string { return "" }

// DatagramKey implements broker.Peer.
func (ss *session) DatagramKey() uint64 { return ss.key }

// Kick implements broker.Peer: a BYE with code (unless CodeNormal), sent
// straight from the calling goroutine, and the entry is forgotten; the
// broker session lives on with its new peer.
func (ss *session) Kick(code codec.Code) {
	if !ss.srv.forget(ss) {
		return
	}
	if code == codec.CodeNormal {
		return
	}
	p := ss.path.Load()
	bye := codec.AppendPacket(nil, codec.Header{Type: codec.TypeBye},
		&codec.Error{Code: uint16(code), Msg: broker.ByeText(code)})
	if p.spend(len(bye)) {
		_ = deliver.SendTo(p.fd, &p.sa, bye)
		ss.srv.timer.Out.Traffic.Out(byte(codec.TypeBye), 1, len(bye)) // atomic: safe from any goroutine
	}
}

// Enqueue implements deliver.Recipient: the packet goes out as one datagram
// at o.Flush, if it fits the datagram limit and the address's budget.
func (ss *session) Enqueue(o *deliver.Outbox, frame []byte) {
	pkt := frame[codec.LenPrefixLen:]
	if len(pkt) > ss.srv.cfg.MaxDatagram {
		ss.srv.stats.DropTooLargeForUDP.Add(1)
		return
	}
	p := ss.path.Load()
	if !p.spend(len(pkt)) {
		ss.srv.stats.DropAmplification.Add(1)
		return
	}
	o.Datagram(p.fd, &p.sa, pkt)
}

// Flush implements deliver.Recipient; datagrams are flushed by the Outbox.
func (ss *session) Flush(*deliver.Outbox) {}

// receive handles one datagram from ap.
func (s *Server) receive(l *loop, ap netip.AddrPort, buf []byte) {
	s.stats.DatagramsIn.Add(1)
	if len(buf) > s.cfg.MaxDatagram {
		s.stats.DatagramOversize.Add(1)
		return
	}
	key, p, err := codec.ParseDatagram(buf)
	if err != nil {
		s.stats.DatagramMalformed.Add(1)
		s.log.Debug("udp: malformed datagram", "from", ap, "err", err)
		return
	}
	l.w.Out.Traffic.In(byte(p.Type), codec.HeaderLen+len(p.Body))
	if key == 0 {
		if p.Type != codec.TypeHello {
			s.stats.DatagramMalformed.Add(1)
			return
		}
		s.hello(l, ap, p, len(buf))
		return
	}
	// Only the key finds a session: a session id, public as the "from" of
	// its MESSAGEs, is no key (unless the random key equals it, 2^-64).
	ss := s.table.get(key)
	if ss == nil {
		s.stats.DatagramNoSession.Add(1)
		s.statelessError(l, ap, len(buf), p.ID, codec.CodeUnknownSession)
		return
	}
	path := ss.arrive(l, ap, len(buf))
	if p.Type == codec.TypePong && path.token != nil && !path.validated.Load() {
		var pong codec.Ping
		if l.w.Decode(p, &pong) == nil && string(pong.Token) == string(path.token) {
			path.validated.Store(true)
			s.unpend(ss)
			s.broker.Validated(l.w, ss)
		}
	}
	switch v := s.broker.Handle(l.w, ss, p); {
	case v.End && v.Code == codec.CodeNormal: // BYE
		s.end(l.w, ss)
	case v.Code != codec.CodeNormal:
		// Over UDP a bad packet costs only itself: drop it and go on.
		s.stats.DatagramMalformed.Add(1)
		s.log.Debug("udp: invalid packet", "session", ss.sess.Name(), "client", ss.sess.ClientID(), "from", ap, "type", p.Type, "code", v.Code)
	}
}

// helloMemory is how long a validated session's HELLO is remembered, so
// that a copy of it gets the same WELCOME: a client resends a HELLO for at
// most 31 s (PROTOCOL.md section 6.2).
const helloMemory = 32 * time.Second

// hello opens a session, or answers a retransmitted HELLO with the same
// WELCOME.
func (s *Server) hello(l *loop, ap netip.AddrPort, p codec.Packet, n int) {
	if n < codec.MinHelloDatagram {
		s.stats.HelloTooSmall.Add(1)
		return
	}
	s.hellosMu.Lock()
	old := s.hellos[ap]
	full := s.pending >= s.cfg.MaxPending
	s.hellosMu.Unlock()
	if old != nil && old.helloID == p.ID && !old.ended.Load() {
		// A retransmitted HELLO, or a late copy of it: same session, same
		// WELCOME.
		if path := old.path.Load(); path.ap == ap {
			path.in.Add(int64(n))
		}
		s.broker.Welcome(l.w, old, p.Header)
		return
	}
	if full {
		// Spoofed HELLOs cost a session each until the handshake timeout;
		// this bound keeps them from crowding out validated sessions.
		s.stats.HelloPendingFull.Add(1)
		return
	}
	ss := &session{srv: s, key: s.table.newKey(), helloID: p.ID, helloAP: ap, indexed: true, created: time.Now().UnixNano()}
	ss.lastSeen.Store(ss.created)
	ss.path.Store(newPath(l, ap, n))
	_, code := s.broker.Open(l.w, ss, p.Header, p.Body) // Attach sets ss.sess; the WELCOME tells ss.key
	switch {
	case code == codec.CodeNormal:
	case code < 200: // a malformed HELLO: dropped like any malformed datagram
		s.stats.DatagramMalformed.Add(1)
		s.log.Debug("udp: invalid HELLO", "from", ap, "code", code)
		return
	default: // the server is full: say so, within the 3x budget
		s.statelessError(l, ap, n, p.ID, code)
		return
	}
	s.table.put(ss.key, ss)
	s.hellosMu.Lock()
	s.hellos[ap] = ss
	s.hellosPeak = max(s.hellosPeak, len(s.hellos))
	ss.pending = true
	s.pending++
	s.hellosMu.Unlock()
	s.stats.UDPSessions.Add(1)
}

// arrive records a datagram of n bytes from ap for the session and returns
// the session's path, moving it to ap if the client's address changed.
func (ss *session) arrive(l *loop, ap netip.AddrPort, n int) *path {
	ss.lastSeen.Store(time.Now().UnixNano())
	p := ss.path.Load()
	if p.ap != ap {
		p = ss.rebind(l, ap, n)
	} else if !p.validated.Load() {
		p.in.Add(int64(n))
		if p.token == nil {
			// Only the client at ap saw the WELCOME, so a datagram carrying
			// the key from ap proves the address.
			p.validated.Store(true)
			ss.srv.unpend(ss)
			ss.srv.broker.Validated(l.w, ss)
		}
	}
	return p
}

// rebind moves the session to a new address, unvalidated until the client
// echoes a PING token from there.
func (ss *session) rebind(l *loop, ap netip.AddrPort, n int) *path {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if p := ss.path.Load(); p.ap == ap {
		p.in.Add(int64(n))
		return p
	}
	p := newPath(l, ap, n)
	p.token = make([]byte, 8)
	_, _ = rand.Read(p.token)
	ss.path.Store(p)
	ss.srv.stats.PathChallenges.Add(1)
	ss.challenge(l.w, p, time.Now())
	return p
}

// unpend takes ss out of the count of sessions awaiting validation.
// challenge sends the PING whose echo validates path p.
func (ss *session) challenge(w *broker.Worker, p *path, now time.Time) {
	p.challenged.Store(now.UnixNano())
	w.Reply(ss, codec.Header{Type: codec.TypePing}, &codec.Ping{Token: p.token})
}

func (s *Server) unpend(ss *session) {
	s.hellosMu.Lock()
	if ss.pending {
		ss.pending = false
		s.pending--
	}
	s.hellosMu.Unlock()
}

// statelessError answers a datagram that belongs to no session, within
// three times its size.
func (s *Server) statelessError(l *loop, ap netip.AddrPort, n int, id uint32, code codec.Code) {
	frame := l.w.Out.Frame(codec.Header{Type: codec.TypeError, ID: id}, &codec.Error{Code: uint16(code), Msg: []byte(code.String())})
	pkt := frame[codec.LenPrefixLen:]
	if len(pkt) > 3*n {
		s.stats.DropAmplification.Add(1)
		return
	}
	sa := deliver.SockaddrOf(ap, l.v6)
	l.w.Out.Datagram(l.fd, &sa, pkt)
	l.w.Out.Traffic.Out(byte(codec.TypeError), 1, len(pkt))
}

// end removes a session entry and detaches it from its broker session
// (which ends, or goes offline if persistent). Idempotent.
func (s *Server) end(w *broker.Worker, ss *session) {
	if !s.forget(ss) {
		return
	}
	s.broker.Detach(w, ss)
}

// forget removes the entry from the table and the HELLO index and stops
// counting it; it reports false if that was done before.
func (s *Server) forget(ss *session) bool {
	if !ss.ended.CompareAndSwap(false, true) {
		return false
	}
	s.table.del(ss.key, ss)
	s.unindex(ss)
	s.unpend(ss)
	s.stats.UDPSessions.Add(-1)
	return true
}

// unindex takes ss out of the HELLO index.
func (s *Server) unindex(ss *session) {
	s.hellosMu.Lock()
	if s.hellos[ss.helloAP] == ss {
		delete(s.hellos, ss.helloAP)
	}
	s.hellosMu.Unlock()
}

// sweep ends sessions that were silent too long: an unvalidated one after
// the handshake timeout, silently; a validated one after 1.5 keepalives,
// with ERROR 302.
func (s *Server) sweep(now time.Time) {
	s.timerMu.Lock()
	defer s.timerMu.Unlock()
	for _, ss := range s.table.all() {
		idle := now.Sub(time.Unix(0, ss.lastSeen.Load()))
		p := ss.path.Load()
		switch {
		case !p.validated.Load() && p.token == nil && idle > s.cfg.HandshakeTimeout:
			s.end(s.timer, ss)
		case idle > ss.sess.IdleTimeout():
			s.stats.IdleTimeouts.Add(1)
			s.timer.Error(ss, 0, codec.CodeIdleTimeout)
			s.end(s.timer, ss)
		case p.token != nil && !p.validated.Load() && now.Sub(time.Unix(0, p.challenged.Load())) >= time.Second:
			// The PING or its PONG was lost: ask again (within the budget).
			ss.challenge(s.timer, p, now)
		case ss.indexed && p.validated.Load() && now.Sub(time.Unix(0, ss.created)) > helloMemory:
			// Past the client's HELLO retransmissions, no copy of its
			// HELLO is on the way: the index need not hold it (an entry
			// costs ~100 bytes).
			ss.indexed = false
			s.unindex(ss)
		}
	}
	s.timer.Out.Flush()
	s.compactHellos()
}

// compactHellos rebuilds the HELLO index once it holds under a quarter of
// its peak: a Go map keeps the memory of its largest size, and a burst of
// HELLOs (a fleet reconnecting) would otherwise cost it for good.
func (s *Server) compactHellos() {
	s.hellosMu.Lock()
	defer s.hellosMu.Unlock()
	if s.hellosPeak < 1024 || len(s.hellos) > s.hellosPeak/4 {
		return
	}
	m := make(map[netip.AddrPort]*session, len(s.hellos))
	for ap, ss := range s.hellos {
		m[ap] = ss
	}
	s.hellos, s.hellosPeak = m, len(m)
}

// table is the session table, keyed by the datagram key and sharded to
// keep event loops from contending.
type table struct {
	shards [64]tableShard
}

type tableShard struct {
	mu sync.RWMutex // guards m
	m  map[uint64]*session
}

func (t *table) init() {
	for i := range t.shards {
		t.shards[i].m = make(map[uint64]*session)
	}
}

func (t *table) shard(key uint64) *tableShard { return &t.shards[key%uint64(len(t.shards))] }

// newKey returns a random key for a new session: from crypto/rand, so
// unpredictable, never 0 (the HELLO's prefix) and not the key of a live
// session. Two HELLOs handled at once drawing the same key (a chance of
// 2^-64) is the one collision it does not rule out.
func (t *table) newKey() uint64 {
	for {
		if key := broker.RandomID(); t.get(key) == nil {
			return key
		}
	}
}

func (t *table) get(key uint64) *session {
	sh := t.shard(key)
	sh.mu.RLock()
	ss := sh.m[key]
	sh.mu.RUnlock()
	return ss
}

func (t *table) put(key uint64, ss *session) {
	sh := t.shard(key)
	sh.mu.Lock()
	sh.m[key] = ss
	sh.mu.Unlock()
}

// del removes the entry of key if it is ss.
func (t *table) del(key uint64, ss *session) {
	sh := t.shard(key)
	sh.mu.Lock()
	if sh.m[key] == ss {
		delete(sh.m, key)
	}
	sh.mu.Unlock()
}

// all returns a snapshot of every session.
func (t *table) all() []*session {
	var out []*session
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.RLock()
		for _, ss := range sh.m {
			out = append(out, ss)
		}
		sh.mu.RUnlock()
	}
	return out
}
