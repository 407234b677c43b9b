package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/acl"
	"github.com/packetd/packetd/internal/stats"
)

// Anonymous is the policy for HELLOs without credentials.
type Anonymous uint8

const (
	// AnonymousAuto allows anonymous sessions when no Authenticator is
	// configured, and refuses them when one is.
	AnonymousAuto Anonymous = iota
	// AnonymousAllow allows them, with the anonymous permissions.
	AnonymousAllow
	// AnonymousDeny refuses them.
	AnonymousDeny
)

// Config configures a Guard. The zero value authenticates nobody, allows
// anonymous sessions every room, and limits nothing.
type Config struct {
	// File is the credentials file (see File); "" for none.
	File string
	// JWT configures token authentication, on when a key file is set.
	JWT JWTConfig
	// Authenticators are custom ones, asked after the token and the file.
	Authenticators []Authenticator
	// Anonymous is the anonymous policy; default AnonymousAuto.
	Anonymous Anonymous
	// AnonymousJoin and AnonymousEmit are the patterns anonymous sessions
	// may join and emit to; nil means every room ("#"), and for EMIT
	// direct messages too ("$*"); an empty non-nil list, none.
	AnonymousJoin, AnonymousEmit []string
	// HelloRate bounds the HELLOs from one address (IPv6: /64); the zero
	// Rate is no limit. Loopback addresses are exempt unless
	// LimitLoopback is set (local tools and benchmarks open sessions by
	// the thousand).
	HelloRate     Rate
	LimitLoopback bool
	// AuthFailRate bounds the failed authentications from one address:
	// once its bucket is empty, every HELLO from it is refused unchecked
	// until a token comes back. The zero Rate is no limit.
	AuthFailRate Rate
	// PasswordChecks bounds the bcrypt runs of the whole server (each
	// takes tens of milliseconds of an event loop): beyond it, HELLOs
	// whose password was not verified recently are refused unchecked with
	// ERROR 309. The zero Rate is no limit.
	PasswordChecks Rate
	Logger         *slog.Logger // default slog.Default()
}

// Guard checks HELLOs. Safe for concurrent use.
type Guard struct {
	log       *slog.Logger
	stats     *stats.Stats
	auths     []Authenticator
	file      *File // also in auths; for certificate identities
	anonymous bool
	anonPerms *acl.Perms
	hello     *Limiter
	fails     *Limiter
	loopback  bool
	logs      logLimit
}

// New returns a Guard for cfg, counting into st.
func New(cfg Config, st *stats.Stats) (*Guard, error) {
	g := &Guard{log: cfg.Logger, stats: st, loopback: cfg.LimitLoopback,
		hello: NewLimiter(cfg.HelloRate), fails: NewLimiter(cfg.AuthFailRate)}
	if g.log == nil {
		g.log = slog.Default()
	}
	if cfg.JWT.HMACKeyFile != "" || cfg.JWT.Ed25519KeyFile != "" {
		j, err := NewJWT(cfg.JWT)
		if err != nil {
			return nil, err
		}
		g.auths = append(g.auths, j)
	}
	if cfg.File != "" {
		f, err := openFile(cfg.File, NewBucket(cfg.PasswordChecks))
		if err != nil {
			return nil, err
		}
		g.file = f
		g.auths = append(g.auths, f)
	}
	g.auths = append(g.auths, cfg.Authenticators...)
	switch cfg.Anonymous {
	case AnonymousAuto:
		g.anonymous = len(g.auths) == 0
	case AnonymousAllow:
		g.anonymous = true
	case AnonymousDeny:
	default:
		return nil, fmt.Errorf("auth: unknown anonymous policy %d", cfg.Anonymous)
	}
	if cfg.AnonymousJoin != nil || cfg.AnonymousEmit != nil {
		join, emit := cfg.AnonymousJoin, cfg.AnonymousEmit
		if join == nil {
			join = []string{"#"} // every room
		}
		if emit == nil {
			emit = []string{"#", "$*"} // every room, and direct messages
		}
		var err error
		if g.anonPerms, err = compilePerms(join, emit); err != nil {
			return nil, fmt.Errorf("auth: anonymous permissions: %w", err)
		}
	}
	return g, nil
}

// Required reports whether an Authenticator is configured: anonymous
// sessions may then carry no client id.
func (g *Guard) Required() bool { return len(g.auths) > 0 }

// AllowsAnonymous reports whether anonymous sessions are allowed.
func (g *Guard) AllowsAnonymous() bool { return g.anonymous }

// Hello checks a HELLO's Request. It returns what the session is granted,
// or the code of the ERROR that refuses it: CodeTooManyAttempts when the
// address is over a limit (the credentials are not looked at), or
// CodeNotAuthorized.
func (g *Guard) Hello(req *Request) (Grant, codec.Code) {
	ip := req.Remote.Addr()
	if (g.loopback || !ip.IsLoopback()) && !g.hello.Allow(ip) {
		g.stats.HelloRateLimited.Add(1)
		g.log.Debug("HELLO refused: too many HELLOs from the address", "remote", req.Remote)
		return Grant{}, codec.CodeTooManyAttempts
	}
	if g.fails.Empty(ip) {
		g.stats.AuthRateLimited.Add(1)
		g.log.Debug("HELLO refused: too many failed authentications from the address", "remote", req.Remote)
		return Grant{}, codec.CodeTooManyAttempts
	}
	grant, err := g.authenticate(req)
	if errors.Is(err, ErrBusy) {
		g.stats.AuthThrottled.Add(1)
		g.log.Debug("HELLO refused: the password check budget is spent", "remote", req.Remote)
		return Grant{}, codec.CodeTooManyAttempts
	}
	if err == nil {
		err = g.checkClientID(req, &grant)
	}
	if err != nil {
		g.fails.Allow(ip) // spend one of the address's failures
		g.stats.AuthFailures.Add(1)
		if ok, dropped := g.logs.allow(time.Now()); ok {
			g.log.Warn("authentication failed", "remote", req.Remote, "user", printable(req.User),
				"client_id", printable(req.ClientID), "token", len(req.Token) > 0,
				"certificate", req.Identity, "reason", err, "unlogged_before", dropped)
		}
		return Grant{}, codec.CodeNotAuthorized
	}
	if grant.Method != "anonymous" {
		g.stats.AuthOK.Add(1)
	}
	if g.log.Enabled(context.Background(), slog.LevelDebug) { // the arguments would allocate on every HELLO
		g.log.Debug("authenticated", "remote", req.Remote, "principal", grant.Principal, "method", grant.Method)
	}
	return grant, codec.CodeNormal
}

func (g *Guard) authenticate(req *Request) (Grant, error) {
	for _, a := range g.auths {
		grant, err := a.Authenticate(req)
		if errors.Is(err, ErrNoCredentials) {
			continue
		}
		if err == nil && grant.Method == "" {
			grant.Method = a.Name()
		}
		return grant, err
	}
	switch {
	case len(req.User) > 0 || len(req.Pass) > 0 || len(req.Token) > 0:
		return Grant{}, errNoAuthenticator
	case req.Identity != "" && g.file != nil:
		perms, ok := g.file.Lookup(req.Identity)
		if !ok {
			return Grant{}, errUnknownIdentity
		}
		return Grant{Principal: req.Identity, Method: "certificate", Perms: perms}, nil
	case req.Identity != "":
		return Grant{Principal: req.Identity, Method: "certificate"}, nil
	case g.anonymous:
		return Grant{Method: "anonymous", Perms: g.anonPerms}, nil
	}
	return Grant{}, errAnonymous
}

// checkClientID applies the rule that a client id is its principal's.
func (g *Guard) checkClientID(req *Request, grant *Grant) error {
	switch {
	case len(req.ClientID) == 0:
		return nil
	case grant.Principal != "":
		if string(req.ClientID) != grant.Principal {
			return errClientID
		}
	case g.Required():
		return errAnonClientID
	}
	return nil
}

// Reload re-reads the credentials file and key files, each keeping its
// old state if its new one is invalid, and reports what failed.
func (g *Guard) Reload() error {
	var errs []error
	for _, a := range g.auths {
		if r, ok := a.(Reloader); ok {
			if err := r.Reload(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	err := errors.Join(errs...)
	if err != nil {
		g.log.Error("auth reload: keeping the previous configuration where the new one is invalid", "err", err)
	} else {
		g.log.Info("auth reloaded", "authenticators", len(g.auths))
	}
	return err
}

// printable returns at most 64 bytes of a client-supplied name for a log.
func printable(b []byte) string {
	if len(b) > 64 {
		return string(b[:64]) + "..."
	}
	return string(b)
}

// logLimit bounds the failure lines logged to maxLogLines a second, so a
// flood of bad HELLOs from many addresses does not flood the log; the
// next line logged says how many were left out (AuthFailures counts them
// all).
type logLimit struct {
	mu      sync.Mutex // guards the fields below
	second  int64
	lines   int
	dropped int
}

const maxLogLines = 20

func (l *logLimit) allow(now time.Time) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := now.Unix(); s != l.second {
		l.second, l.lines = s, 0
	}
	if l.lines >= maxLogLines {
		l.dropped++
		return false, 0
	}
	l.lines++
	d := l.dropped
	l.dropped = 0
	return true, d
}
