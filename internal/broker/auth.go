package broker

import (
	"context"
	"log/slog"
	"net/netip"
	"time"

	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/acl"
	"github.com/packetd/packetd/internal/auth"
	"github.com/packetd/packetd/internal/deliver"
)

// authenticate checks the HELLO in w.hello, from p, with the configured
// Guard: without one every HELLO is an anonymous session allowed
// everything.
func (b *Broker) authenticate(w *Worker, p Peer, hello *codec.Hello) (auth.Grant, codec.Code) {
	if b.cfg.Auth == nil {
		return auth.Grant{Method: "anonymous"}, codec.CodeNormal
	}
	// The Worker's Request: one on the heap per HELLO would be garbage.
	w.authReq = auth.Request{User: hello.User, Pass: hello.Pass, Token: hello.Token, ClientID: hello.ClientID,
		Identity: p.Identity(), Remote: p.Remote()}
	grant, code := b.cfg.Auth.Hello(&w.authReq)
	w.authReq = auth.Request{} // holds nothing of the HELLO's buffers
	return grant, code
}

// mayTakeOver reports whether a HELLO granted principal may resume, take
// over or discard the session old: a session opened with credentials
// belongs to its principal. (A session with no principal, anonymous or
// restored from the store, may be taken by whoever may use its client id:
// with an authenticator configured, only the principal of that name.)
func (b *Broker) mayTakeOver(old *Session, principal string, p Peer) bool {
	if old.principal == "" || old.principal == principal {
		return true
	}
	b.stats.AuthFailures.Add(1)
	b.log.Warn("authentication failed", "remote", p.Remote(), "client_id", old.clientID,
		"reason", "the client id's session belongs to another principal")
	return false
}

// Principal returns the name the session authenticated as; "" for an
// anonymous one.
func (s *Session) Principal() string { return s.principal }

// Perms returns the session's permissions; nil allows everything.
func (s *Session) Perms() *acl.Perms { return s.perms.Load() }

// forbid refuses the request id of s with ERROR 207 naming room.
func (b *Broker) forbid(w *Worker, p Peer, s *Session, id uint32, room []byte, op string) Verdict {
	b.stats.PermissionDenied.Add(1)
	b.stats.RequestErrors.Add(1)
	if b.log.Enabled(context.Background(), slog.LevelDebug) { // the arguments would allocate on every refusal
		b.log.Debug("permission denied", "session", s.name, "client", s.clientID, "principal", s.principal, "op", op, "room", string(room))
	}
	w.denied = append(append(w.denied[:0], "permission denied: "...), room...)
	w.errMsg = codec.Error{Code: uint16(codec.CodeForbidden), Msg: w.denied}
	w.Reply(p, codec.Header{Type: codec.TypeError, ID: id}, &w.errMsg)
	return proceed
}

// prune takes the resumed session s out of the rooms its new permissions
// do not let it join: credentials can change between connections (a new
// token, a reloaded credentials file), and a session must not keep
// listening where it may no longer JOIN.
func (b *Broker) prune(w *Worker, s *Session) {
	perms := s.perms.Load()
	if perms == nil {
		return
	}
	var left []string
	for _, r := range b.adapter.RoomsOf(s.name) {
		if r != s.name && !perms.CanJoin([]byte(r)) {
			if err := b.adapter.Leave(s.name, []byte(r)); err == nil {
				left = append(left, r)
			}
		}
	}
	if len(left) == 0 {
		return
	}
	s.mu.Lock()
	s.dirtyLocked(w)
	s.mu.Unlock()
	b.log.Info("resumed session left the rooms its permissions no longer allow",
		"session", s.name, "principal", s.principal, "rooms", left)
}

// expireAt arranges for p, the connection of s, to end at exp (a zero exp:
// never), when the token that opened or resumed the session expires: a
// BYE 308, then as if the connection closed (a persistent session goes
// offline and waits for a HELLO with a valid token).
func (b *Broker) expireAt(s *Session, p Peer, exp time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.authTimer != nil {
		s.authTimer.Stop()
		s.authTimer = nil
	}
	if exp.IsZero() || s.closed {
		return
	}
	s.authTimer = time.AfterFunc(time.Until(exp), func() { b.tokenExpired(s, p) })
}

func (b *Broker) tokenExpired(s *Session, p Peer) {
	s.mu.Lock()
	current := s.peer == p && !s.closed
	var remote netip.AddrPort
	if current {
		remote = p.Remote() // under s.mu: see Session.info
	}
	s.mu.Unlock()
	if !current {
		return
	}
	b.stats.TokenExpiries.Add(1)
	b.log.Info("token expired: ending the connection", "session", s.name, "principal", s.principal, "remote", remote)
	p.Kick(codec.CodeNotAuthorized)
	w := b.NewWorker(deliver.NewOutbox(deliver.NoGroup, nil))
	b.Detach(w, p)
	w.Flush()
}
