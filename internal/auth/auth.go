// Package auth decides who may open a session and what it may do there.
// A Guard checks each HELLO: the per-address limits first (HELLOs, and
// failed authentications), then the credentials, through pluggable
// Authenticators (a credentials file with bcrypt hashes, and JSON Web
// Tokens signed with HMAC or Ed25519 keys), a TLS client certificate's
// identity, or the anonymous policy. What it grants is a principal (the
// client's name, which owns a client id) and the session's permissions
// (internal/acl). docs/PROTOCOL.md section 4.1.1 is the client's view;
// docs/OPERATIONS.md and docs/SECURITY.md the operator's.
//
// Concurrency: a Guard, File and JWT are safe for concurrent use; Reload
// swaps their state atomically, and a check in progress finishes with the
// state it started with.
package auth

import (
	"net/netip"
	"time"

	"github.com/packetd/packetd/internal/acl"
)

// Request is what a HELLO presents. Its byte slices alias the HELLO's
// buffer: an Authenticator copies what it keeps.
type Request struct {
	User, Pass []byte // for a credentials file
	Token      []byte // a JWT
	ClientID   []byte // the client id the HELLO asks for; empty if none
	Identity   string // the identity the transport verified (TLS client certificate); "" if none
	Remote     netip.AddrPort
}

// Grant is what a Request is granted.
type Grant struct {
	// Principal is the authenticated name: a user, a token's subject, a
	// certificate's identity; "" for an anonymous session. A session's
	// client id, when it has one, is its principal.
	Principal string
	// Method says how the client authenticated: "anonymous", "password",
	// "token", "certificate", or a custom Authenticator's Name.
	Method string
	// Perms are the session's permissions; nil allows everything.
	Perms *acl.Perms
	// Expires, if not zero, is when the credentials stop being valid (a
	// token's exp plus the leeway): the session's connection is ended
	// then.
	Expires time.Time
}

// An Authenticator checks one kind of credentials.
type Authenticator interface {
	// Name names the Authenticator in logs and in Grant.Method.
	Name() string
	// Authenticate checks req. It returns ErrNoCredentials if req carries
	// none of the kind it checks (the Guard then asks the next one), and
	// an error wrapping ErrDenied if it carries wrong ones.
	Authenticate(req *Request) (Grant, error)
}

// A Reloader re-reads its configuration (files) on Reload, keeping the old
// one if the new one is invalid.
type Reloader interface {
	Reload() error
}
