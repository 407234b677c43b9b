package broker

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/deliver"
	"github.com/packetd/packetd/internal/store"
)

// This file is what the admin listener (internal/admin) and the metrics
// collector (internal/metrics) read: listings and counts taken from the
// room adapter's registry and each session's state, one lock at a time,
// and Disconnect. None of it runs on a hot path, and the hot paths pay
// nothing for it.

// SessionInfo describes one session at one moment.
type SessionInfo struct {
	ID           string         // "$" and 16 hex digits: the session id, also its own room's name
	ClientID     string         // "" for an anonymous session
	Transport    string         // "tcp", "udp" (or what the peer names itself); "" while offline
	Remote       netip.AddrPort // the client's address; zero while offline
	Identity     string         // what the transport verified (a TLS client certificate's subject), or ""
	Online       bool           // it has a connection
	Persistent   bool           // it outlives its connections
	Rooms        []string       // the rooms it joined, its own excluded, in join order
	Queued       int            // QoS 1 messages waiting for room in its window
	QueuedBytes  int            // their bodies' bytes
	Inflight     int            // QoS 1 messages sent and not yet acknowledged
	KeepAlive    time.Duration  // the keepalive in force
	OfflineSince time.Time      // when a persistent session lost its connection; zero while online
}

// transportNamer is implemented by peers that name their transport; a
// peer that does not is "tcp" if Reliable, else "udp".
type transportNamer interface {
	Transport() string
}

func transportOf(p Peer) string {
	if t, ok := p.(transportNamer); ok {
		return t.Transport()
	}
	if p.Reliable() {
		return "tcp"
	}
	return "udp"
}

// sessions returns every session the adapter knows, online or offline.
func (b *Broker) allSessions() []*Session {
	members := b.adapter.AllMembers()
	out := make([]*Session, 0, len(members))
	for _, m := range members {
		if sm, ok := m.(sessioned); ok && sm.Session() != nil {
			out = append(out, sm.Session())
		}
	}
	return out
}

// session returns the session whose id is id ("$" and 16 hex digits;
// the "$" may be left out), or nil.
func (b *Broker) session(id string) *Session {
	if !strings.HasPrefix(id, "$") {
		id = "$" + id
	}
	sm, ok := b.adapter.Member(strings.ToLower(id)).(sessioned)
	if !ok {
		return nil
	}
	return sm.Session()
}

// SessionIDs returns the ids of every session, online or offline, sorted.
func (b *Broker) SessionIDs() []string {
	members := b.adapter.AllMembers()
	out := make([]string, 0, len(members))
	for _, m := range members {
		if _, ok := m.(sessioned); ok {
			out = append(out, m.ID())
		}
	}
	slices.Sort(out)
	return out
}

// LookupSession describes the session whose id is id ("$" optional).
func (b *Broker) LookupSession(id string) (SessionInfo, bool) {
	s := b.session(id)
	if s == nil {
		return SessionInfo{}, false
	}
	return s.info()
}

// info describes s; false if it has ended.
func (s *Session) info() (SessionInfo, bool) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return SessionInfo{}, false
	}
	p := s.peer
	info := SessionInfo{ID: s.name, ClientID: s.clientID, Online: p != nil, Persistent: s.persistent, KeepAlive: s.keepAlive}
	if p == nil && s.persistent {
		info.OfflineSince = time.Unix(0, s.since)
	}
	if s.qs != nil {
		info.Queued, info.QueuedBytes, info.Inflight = s.qs.out.queued(), s.qs.out.bytes, s.qs.out.unacked
	}
	if p != nil {
		// Under s.mu: the transport detaches a closing peer under it
		// before it frees the connection's state (gnet clears its
		// addresses), so the peer is whole while it is s.peer.
		info.Transport, info.Remote, info.Identity = transportOf(p), p.Remote(), p.Identity()
	}
	s.mu.Unlock()
	if rooms := s.b.adapter.RoomsOf(s.name); len(rooms) > 1 {
		info.Rooms = rooms[1:]
	}
	return info, true
}

// Census counts the sessions and their QoS 1 queues.
type Census struct {
	Online      map[string]int // online sessions by transport ("tcp", "udp")
	Offline     int            // persistent sessions without a connection
	Persistent  int            // persistent sessions, online or not
	Queued      int            // QoS 1 messages queued in every session, not sent yet
	QueuedBytes int            // their bodies' bytes
	Inflight    int            // QoS 1 messages sent and not yet acknowledged
	MaxQueued   int            // the longest queue of one session
}

// Census counts the sessions and their queues, reading one session at a
// time (a scrape's worth of work: a lock and a few loads per session).
func (b *Broker) Census() Census {
	c := Census{Online: make(map[string]int)}
	for _, s := range b.allSessions() {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			continue
		}
		p := s.peer
		if s.persistent {
			c.Persistent++
		}
		if s.qs != nil {
			q := s.qs.out.queued()
			c.Queued += q
			c.QueuedBytes += s.qs.out.bytes
			c.Inflight += s.qs.out.unacked
			c.MaxQueued = max(c.MaxQueued, q)
		}
		s.mu.Unlock()
		if p == nil {
			c.Offline++
		} else {
			c.Online[transportOf(p)]++
		}
	}
	return c
}

// Disconnect ends the session whose id is id ("$" optional) as an
// operator asks: its connection, if any, gets BYE 307 and is closed, and
// the session ends for good, a persistent one included (its rooms, queue
// and stored record are gone), as when a clean-start HELLO discards it.
// It reports false if there is no such session. Safe for concurrent use.
func (b *Broker) Disconnect(id string) bool {
	s := b.session(id)
	if s == nil {
		return false
	}
	s.mu.Lock()
	p, closed := s.peer, s.closed
	s.mu.Unlock()
	if closed {
		return false
	}
	if p != nil {
		p.Kick(codec.CodeDisconnected)
	}
	// A Worker of its own: the store writes of end (a persistent session's
	// deletion, released messages) are committed by its Flush.
	w := b.NewWorker(deliver.NewOutbox(deliver.NoGroup, nil))
	b.end(w, s)
	w.Flush()
	b.stats.AdminDisconnects.Add(1)
	return true
}

// StoreStats returns the store's counters.
func (b *Broker) StoreStats() store.Stats { return b.store.Stats() }

// ErrNoBackup is returned by Backup when the store keeps nothing on disk.
var ErrNoBackup = errors.New("broker: the store is in memory: nothing to back up")

// Backup writes a consistent copy of the store's data file to w while the
// broker runs (store.Bolt.Backup), or fails with ErrNoBackup.
func (b *Broker) Backup(w io.Writer) (int64, error) {
	bk, ok := b.store.(interface {
		Backup(io.Writer) (int64, error)
	})
	if !ok {
		return 0, ErrNoBackup
	}
	return bk.Backup(w)
}

// debugSession logs msg about s at DEBUG with the session's id, client id
// and, if p is not nil, its transport and address. It costs nothing when
// DEBUG is off (sessions open and close at the rate of HELLOs).
func (b *Broker) debugSession(msg string, s *Session, p Peer) {
	if !b.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	if p == nil {
		b.log.Debug(msg, "session", s.name, "client", s.clientID, "persistent", s.persistent)
		return
	}
	b.log.Debug(msg, "session", s.name, "client", s.clientID, "persistent", s.persistent,
		"transport", transportOf(p), "remote", p.Remote())
}
