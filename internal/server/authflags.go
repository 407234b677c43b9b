package server

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/packetd/packetd/internal/auth"
)

// Defaults of the authentication flags (docs/OPERATIONS.md).
const (
	defaultAnonymousJoin = "#"
	defaultAnonymousEmit = "#,$*"
	defaultHelloRate     = "50/1s"
	defaultAuthFailRate  = "10/1m"
	defaultPasswordRate  = "10/1s"
)

// authFlags are the flags of authentication, permissions and the
// per-address HELLO limits.
type authFlags struct {
	anonJoin, anonEmit     string
	helloRate, authFailRat string
	passwordRate           string
}

func (f *authFlags) add(fs *flag.FlagSet, c *auth.Config) {
	fs.StringVar(&c.File, "auth-file", "", "credentials file (YAML: users, bcrypt hashes, join/emit patterns); reloaded on SIGHUP")
	fs.StringVar(&c.JWT.HMACKeyFile, "jwt-hmac-key-file", "", "file holding the HMAC secret (at least 32 bytes) for HS256/HS384/HS512 tokens; reloaded on SIGHUP")
	fs.StringVar(&c.JWT.Ed25519KeyFile, "jwt-ed25519-key-file", "", "PEM file of Ed25519 public keys (PUBLIC KEY blocks) for EdDSA tokens; reloaded on SIGHUP")
	fs.StringVar(&c.JWT.Issuer, "jwt-issuer", "", "required iss claim of tokens; empty checks none")
	fs.StringVar(&c.JWT.Audience, "jwt-audience", "", "required aud claim (one of) of tokens; empty checks none")
	fs.StringVar(&c.JWT.ClientClaim, "jwt-client-claim", "sub", "token claim that holds the client's name (its client id)")
	fs.DurationVar(&c.JWT.Leeway, "jwt-leeway", 30*time.Second, "clock skew allowed on tokens' exp and nbf")
	fs.Var(anonymousFlag{&c.Anonymous}, "allow-anonymous", "allow HELLOs without credentials (default: only when no -auth-file or -jwt-*-key-file is set)")
	fs.StringVar(&f.anonJoin, "anonymous-join", defaultAnonymousJoin, "comma-separated room patterns anonymous sessions may join; empty for none")
	fs.StringVar(&f.anonEmit, "anonymous-emit", defaultAnonymousEmit, "comma-separated room patterns anonymous sessions may emit to ($* = direct messages); empty for none")
	fs.StringVar(&f.helloRate, "hello-rate", defaultHelloRate, "HELLOs per IP address (IPv6: /64) as N/duration, a bucket of N refilled at N per duration; loopback exempt; off for no limit")
	fs.StringVar(&f.passwordRate, "auth-password-rate", defaultPasswordRate, "bcrypt checks of the whole server as N/duration (each costs ~50 ms of an event loop at cost 10); beyond it HELLOs with passwords not verified in the last 10 min get ERROR 309; off for no limit")
	fs.StringVar(&f.authFailRat, "auth-fail-rate", defaultAuthFailRate, "failed authentications per IP address (IPv6: /64) as N/duration; when spent, HELLOs from it get ERROR 309; off for no limit")
}

func (f *authFlags) config(c *auth.Config) error {
	var err error
	if c.HelloRate, err = auth.ParseRate(f.helloRate); err != nil {
		return fmt.Errorf("-hello-rate: %w", err)
	}
	if c.AuthFailRate, err = auth.ParseRate(f.authFailRat); err != nil {
		return fmt.Errorf("-auth-fail-rate: %w", err)
	}
	if c.PasswordChecks, err = auth.ParseRate(f.passwordRate); err != nil {
		return fmt.Errorf("-auth-password-rate: %w", err)
	}
	if f.anonJoin != defaultAnonymousJoin {
		c.AnonymousJoin = patterns(f.anonJoin)
	}
	if f.anonEmit != defaultAnonymousEmit {
		c.AnonymousEmit = patterns(f.anonEmit)
	}
	return nil
}

// patterns splits a comma-separated list; "" is an empty, non-nil list.
func patterns(s string) []string {
	out := []string{}
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// anonymousFlag is -allow-anonymous: a bool flag whose unset state,
// "auto", means "only when no authenticator is configured".
type anonymousFlag struct{ v *auth.Anonymous }

func (a anonymousFlag) IsBoolFlag() bool { return true }

func (a anonymousFlag) String() string {
	if a.v == nil {
		return "auto"
	}
	switch *a.v {
	case auth.AnonymousAllow:
		return "true"
	case auth.AnonymousDeny:
		return "false"
	}
	return "auto"
}

func (a anonymousFlag) Set(s string) error {
	if s == "auto" {
		*a.v = auth.AnonymousAuto
		return nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("%q is not true, false or auto", s)
	}
	*a.v = auth.AnonymousDeny
	if b {
		*a.v = auth.AnonymousAllow
	}
	return nil
}
