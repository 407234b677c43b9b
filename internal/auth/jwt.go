package auth

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/packetd/packetd/codec"
)

// JWTConfig configures token authentication. At least one key file must
// be set; the algorithms accepted are those of the keys configured.
type JWTConfig struct {
	// HMACKeyFile holds the shared secret for HS256, HS384 and HS512: the
	// file's bytes, a trailing newline removed; at least 32 bytes.
	HMACKeyFile string
	// Ed25519KeyFile holds one or more Ed25519 public keys ("PUBLIC KEY"
	// PEM blocks, PKIX) for EdDSA; a token verifies if any key does
	// (rotation: list the new key beside the old one).
	Ed25519KeyFile string
	// Issuer, when set, must equal the token's iss claim.
	Issuer string
	// Audience, when set, must be one of the token's aud claim.
	Audience string
	// ClientClaim names the claim that holds the principal; default "sub".
	ClientClaim string
	// Leeway is the clock skew allowed on exp and nbf; default 30 s.
	Leeway time.Duration
}

// minHMACKey is the shortest HMAC secret accepted, in bytes (RFC 7518
// section 3.2 asks for a key as long as the hash: 32 bytes for HS256).
const minHMACKey = 32

// JWT authenticates HELLO's token: a JSON Web Token whose claims carry the
// principal (sub) and permissions (the packetd claim: {"join": [...],
// "emit": [...]}). exp is required; exp and nbf are checked with the
// leeway; only the algorithms of the configured keys are accepted, so a
// token cannot choose its own (no "none", no HMAC keyed with a public
// key).
type JWT struct {
	cfg   JWTConfig
	state atomic.Pointer[jwtState]
}

type jwtState struct {
	hmac   []byte
	ed     []ed25519.PublicKey
	parser *jwt.Parser
}

// NewJWT reads the key files of cfg.
func NewJWT(cfg JWTConfig) (*JWT, error) {
	if cfg.HMACKeyFile == "" && cfg.Ed25519KeyFile == "" {
		return nil, errors.New("auth: JWT: no key file")
	}
	if cfg.ClientClaim == "" {
		cfg.ClientClaim = "sub"
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = 30 * time.Second
	}
	j := &JWT{cfg: cfg}
	st, err := j.load()
	if err != nil {
		return nil, err
	}
	j.state.Store(st)
	return j, nil
}

// Name implements Authenticator.
func (j *JWT) Name() string { return "token" }

// Reload re-reads the key files; if one is invalid, the old keys stay in
// force and the error says why.
func (j *JWT) Reload() error {
	st, err := j.load()
	if err != nil {
		return err
	}
	j.state.Store(st)
	return nil
}

func (j *JWT) load() (*jwtState, error) {
	st := &jwtState{}
	var methods []string
	if f := j.cfg.HMACKeyFile; f != "" {
		key, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("auth: JWT HMAC key: %w", err)
		}
		if k, ok := bytes.CutSuffix(key, []byte("\r\n")); ok {
			key = k
		} else {
			key = bytes.TrimSuffix(key, []byte("\n"))
		}
		if len(key) < minHMACKey {
			return nil, fmt.Errorf("auth: JWT HMAC key %s: %d bytes, want at least %d", f, len(key), minHMACKey)
		}
		st.hmac = key
		methods = append(methods, "HS256", "HS384", "HS512")
	}
	if f := j.cfg.Ed25519KeyFile; f != "" {
		keys, err := readEd25519(f)
		if err != nil {
			return nil, err
		}
		st.ed = keys
		methods = append(methods, "EdDSA")
	}
	opts := []jwt.ParserOption{jwt.WithValidMethods(methods), jwt.WithExpirationRequired(),
		jwt.WithLeeway(j.cfg.Leeway)}
	if j.cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(j.cfg.Issuer))
	}
	if j.cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(j.cfg.Audience))
	}
	st.parser = jwt.NewParser(opts...)
	return st, nil
}

func readEd25519(path string) ([]ed25519.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: JWT Ed25519 key: %w", err)
	}
	var keys []ed25519.PublicKey
	for {
		var blk *pem.Block
		blk, data = pem.Decode(data)
		if blk == nil {
			break
		}
		if blk.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("auth: JWT Ed25519 key %s: a %q PEM block, want PUBLIC KEY", path, blk.Type)
		}
		k, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("auth: JWT Ed25519 key %s: %w", path, err)
		}
		ek, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("auth: JWT Ed25519 key %s: a %T, want an Ed25519 public key", path, k)
		}
		keys = append(keys, ek)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("auth: JWT Ed25519 key %s: no PEM PUBLIC KEY block", path)
	}
	return keys, nil
}

// Authenticate implements Authenticator: it checks req.Token.
func (j *JWT) Authenticate(req *Request) (Grant, error) {
	if len(req.Token) == 0 {
		return Grant{}, ErrNoCredentials
	}
	st := j.state.Load()
	claims := jwt.MapClaims{}
	_, err := st.parser.ParseWithClaims(string(req.Token), claims, func(t *jwt.Token) (any, error) {
		switch t.Method.(type) {
		case *jwt.SigningMethodHMAC:
			if st.hmac != nil {
				return st.hmac, nil
			}
		case *jwt.SigningMethodEd25519:
			if len(st.ed) == 1 {
				return st.ed[0], nil
			}
			set := jwt.VerificationKeySet{}
			for _, k := range st.ed {
				set.Keys = append(set.Keys, k)
			}
			return set, nil
		}
		return nil, fmt.Errorf("no key for %v", t.Header["alg"])
	})
	if err != nil {
		return Grant{}, &tokenError{err}
	}
	principal, _ := claims[j.cfg.ClientClaim].(string)
	if principal == "" || len(principal) > codec.MaxClientID {
		return Grant{}, deny(fmt.Sprintf("token: claim %q is not a client id", j.cfg.ClientClaim))
	}
	var join, emit []string
	if p, ok := claims["packetd"]; ok {
		m, ok := p.(map[string]any)
		if !ok {
			return Grant{}, deny("token: claim packetd is not an object")
		}
		if join, ok = stringList(m["join"]); !ok {
			return Grant{}, deny("token: packetd.join is not a list of strings")
		}
		if emit, ok = stringList(m["emit"]); !ok {
			return Grant{}, deny("token: packetd.emit is not a list of strings")
		}
	}
	perms, err := compilePerms(join, emit)
	if err != nil {
		return Grant{}, deny("token: " + err.Error())
	}
	g := Grant{Principal: principal, Method: j.Name(), Perms: perms}
	if exp, err := claims.GetExpirationTime(); err == nil && exp != nil {
		g.Expires = exp.Add(j.cfg.Leeway)
	}
	return g, nil
}

// stringList converts a JSON array of strings; absent is an empty list.
func stringList(v any) ([]string, bool) {
	if v == nil {
		return nil, true
	}
	l, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]string, len(l))
	for i, e := range l {
		if out[i], ok = e.(string); !ok {
			return nil, false
		}
	}
	return out, true
}

// tokenError is a token the JWT library refused; its message says why
// (expired, signature invalid, ...), never the token.
type tokenError struct{ err error }

func (e *tokenError) Error() string   { return "auth: token: " + e.err.Error() }
func (e *tokenError) Unwrap() []error { return []error{ErrDenied, e.err} }
