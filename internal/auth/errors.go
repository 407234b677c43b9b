package auth

import "errors"

var (
	// ErrNoCredentials means a Request carries no credentials of the kind
	// an Authenticator checks.
	ErrNoCredentials = errors.New("auth: no credentials")
	// ErrDenied is wrapped by every refusal of credentials.
	ErrDenied = errors.New("auth: not authorized")
	// ErrBusy means the credentials were not checked: the server-wide
	// budget of password checks is spent. The Guard answers ERROR 309.
	ErrBusy = errors.New("auth: password check budget spent")

	errUnknownUser     = deny("unknown user")
	errBadPassword     = deny("wrong password")
	errNoPassword      = deny("user has no password (certificate only)")
	errAnonymous       = deny("anonymous access is off")
	errClientID        = deny("client_id is not the principal's")
	errAnonClientID    = deny("anonymous sessions may not carry a client_id here")
	errUnknownIdentity = deny("certificate identity not in the credentials file")
	errNoAuthenticator = deny("no authenticator takes these credentials")
)

// deniedError is a refusal with its reason, for logs (never sent).
type deniedError struct{ reason string }

func deny(reason string) error { return &deniedError{reason} }

func (e *deniedError) Error() string { return "auth: " + e.reason }
func (e *deniedError) Unwrap() error { return ErrDenied }
