package auth_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/packetd/packetd/internal/auth"
)

func credsFile(t testing.TB, dir string, body string) string {
	t.Helper()
	p := filepath.Join(dir, "creds.yaml")
	writeFile(t, p, []byte(body))
	return p
}

func TestFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f, err := auth.OpenFile(credsFile(t, dir, `users:
  sensor-7:
    hash: "`+hash(t, "s3cret")+`"
    join: ["control/sensor-7"]
    emit: ["sensors/sensor-7/#"]
  gw:
    join: ["#"]
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, user, pass string
		err              error
	}{
		{"right", "sensor-7", "s3cret", nil},
		{"right again (remembered)", "sensor-7", "s3cret", nil},
		{"wrong password", "sensor-7", "s3cret!", auth.ErrDenied},
		{"empty password", "sensor-7", "", auth.ErrDenied},
		{"unknown user", "sensor-8", "s3cret", auth.ErrDenied},
		{"certificate-only user", "gw", "anything", auth.ErrDenied},
		{"pass without user", "", "s3cret", auth.ErrDenied},
		{"nothing", "", "", auth.ErrNoCredentials},
	}
	for _, tc := range tests {
		g, err := f.Authenticate(&auth.Request{User: []byte(tc.user), Pass: []byte(tc.pass), Remote: remote})
		if !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.err)
			continue
		}
		if err == nil {
			if g.Principal != tc.user || !g.Perms.CanJoin([]byte("control/sensor-7")) || g.Perms.CanJoin([]byte("control/sensor-8")) ||
				!g.Perms.CanEmit([]byte("sensors/sensor-7/t")) || g.Perms.CanEmit([]byte("control/sensor-7")) {
				t.Errorf("%s: got grant %+v, want sensor-7's", tc.name, g)
			}
		}
	}
	if perms, ok := f.Lookup("gw"); !ok || !perms.CanJoin([]byte("x")) || perms.CanEmit([]byte("x")) {
		t.Errorf("Lookup(gw): got %v %v, want join # and no emit", perms, ok)
	}
}

func TestFileInvalid(t *testing.T) {
	t.Parallel()
	for name, body := range map[string]string{
		"not yaml":      "users: [",
		"unknown key":   "users:\n  a:\n    joins: [x]\n",
		"bad hash":      "users:\n  a:\n    hash: plaintext\n",
		"bad pattern":   "users:\n  a:\n    join: [\"a/#/b\"]\n",
		"long username": "users:\n  " + strings.Repeat("u", 129) + ":\n    join: [x]\n",
	} {
		if _, err := auth.OpenFile(credsFile(t, t.TempDir(), body)); err == nil {
			t.Errorf("%s: OpenFile succeeded, want an error", name)
		}
	}
	if _, err := auth.OpenFile(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Error("missing file: OpenFile succeeded, want an error")
	}
}

func TestFileReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := credsFile(t, dir, "users:\n  a:\n    hash: \""+hash(t, "one")+"\"\n")
	f, err := auth.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	login := func(pass string) error {
		_, err := f.Authenticate(&auth.Request{User: []byte("a"), Pass: []byte(pass)})
		return err
	}
	if err := login("one"); err != nil {
		t.Fatal(err)
	}
	credsFile(t, dir, "users:\n  a:\n    hash: \""+hash(t, "two")+"\"\n")
	if err := f.Reload(); err != nil {
		t.Fatal(err)
	}
	if login("one") == nil || login("two") != nil {
		t.Errorf("after Reload: old password %v, new password %v; want refused, accepted", login("one"), login("two"))
	}
	credsFile(t, dir, "users:\n  a:\n    hash: broken\n")
	if err := f.Reload(); err == nil || !strings.Contains(err.Error(), "bcrypt") {
		t.Errorf("Reload of an invalid file: got %v, want an error saying why", err)
	}
	if login("two") != nil {
		t.Error("after a failed Reload the previous file is not in force")
	}
}

func TestJWT(t *testing.T) {
	t.Parallel()
	k := newKeys(t)
	j, err := auth.NewJWT(auth.JWTConfig{HMACKeyFile: k.hmacFile, Ed25519KeyFile: k.edFile})
	if err != nil {
		t.Fatal(err)
	}
	only := func(cfg auth.JWTConfig) *auth.JWT {
		a, err := auth.NewJWT(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	edOnly := only(auth.JWTConfig{Ed25519KeyFile: k.edFile})
	hmacOnly := only(auth.JWTConfig{HMACKeyFile: k.hmacFile})
	issAud := only(auth.JWTConfig{HMACKeyFile: k.hmacFile, Issuer: "fleet", Audience: "packetd"})
	ok := claims("sensor-7", []string{"control/sensor-7"}, []string{"sensors/sensor-7/#"})
	with := func(edit func(jwt.MapClaims)) jwt.MapClaims {
		c := claims("sensor-7", []string{"control/sensor-7"}, nil)
		edit(c)
		return c
	}
	now := time.Now()
	tampered := sign(t, jwt.SigningMethodHS256, k.hmac, ok)
	{ // change the payload, keep the signature
		parts := strings.Split(string(tampered), ".")
		other := strings.Split(string(sign(t, jwt.SigningMethodHS256, k.hmac, with(func(c jwt.MapClaims) { c["sub"] = "admin" }))), ".")
		tampered = []byte(parts[0] + "." + other[1] + "." + parts[2])
	}
	_, otherEd, _ := newKeysPair()
	tests := []struct {
		name  string
		a     *auth.JWT
		token []byte
		ok    bool
	}{
		{"HS256", j, sign(t, jwt.SigningMethodHS256, k.hmac, ok), true},
		{"HS384", j, sign(t, jwt.SigningMethodHS384, k.hmac, ok), true},
		{"HS512", j, sign(t, jwt.SigningMethodHS512, k.hmac, ok), true},
		{"EdDSA", j, sign(t, jwt.SigningMethodEdDSA, k.edPriv, ok), true},
		{"EdDSA, Ed25519 only", edOnly, sign(t, jwt.SigningMethodEdDSA, k.edPriv, ok), true},
		{"wrong HMAC key", j, sign(t, jwt.SigningMethodHS256, []byte("another secret, 32 bytes or more........"), ok), false},
		{"wrong Ed25519 key", j, sign(t, jwt.SigningMethodEdDSA, otherEd, ok), false},
		{"tampered", j, tampered, false},
		{"expired", j, sign(t, jwt.SigningMethodHS256, k.hmac, with(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Minute).Unix() })), false},
		{"expired within leeway", j, sign(t, jwt.SigningMethodHS256, k.hmac, with(func(c jwt.MapClaims) { c["exp"] = now.Add(-10 * time.Second).Unix() })), true},
		{"no exp", j, sign(t, jwt.SigningMethodHS256, k.hmac, with(func(c jwt.MapClaims) { delete(c, "exp") })), false},
		{"not yet valid", j, sign(t, jwt.SigningMethodHS256, k.hmac, with(func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Minute).Unix() })), false},
		{"nbf within leeway", j, sign(t, jwt.SigningMethodHS256, k.hmac, with(func(c jwt.MapClaims) { c["nbf"] = now.Add(10 * time.Second).Unix() })), true},
		{"alg none", j, sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, ok), false},
		// Alg confusion: HS256 keyed with the Ed25519 public key's bytes,
		// sent to a server that trusts only that public key.
		{"HS256 with the public key as secret", edOnly, sign(t, jwt.SigningMethodHS256, []byte(k.edPub), ok), false},
		{"EdDSA to an HMAC-only server", hmacOnly, sign(t, jwt.SigningMethodEdDSA, k.edPriv, ok), false},
		{"no sub", j, sign(t, jwt.SigningMethodHS256, k.hmac, with(func(c jwt.MapClaims) { delete(c, "sub") })), false},
		{"packetd not an object", j, sign(t, jwt.SigningMethodHS256, k.hmac, with(func(c jwt.MapClaims) { c["packetd"] = "all" })), false},
		{"bad pattern", j, sign(t, jwt.SigningMethodHS256, k.hmac, with(func(c jwt.MapClaims) { c["packetd"] = map[string]any{"join": []string{"#/x"}} })), false},
		{"garbage", j, []byte("not.a.token"), false},
		{"issuer and audience", issAud, sign(t, jwt.SigningMethodHS256, k.hmac, with(func(c jwt.MapClaims) { c["iss"], c["aud"] = "fleet", []string{"x", "packetd"} })), true},
		{"wrong issuer", issAud, sign(t, jwt.SigningMethodHS256, k.hmac, with(func(c jwt.MapClaims) { c["iss"], c["aud"] = "evil", "packetd" })), false},
		{"wrong audience", issAud, sign(t, jwt.SigningMethodHS256, k.hmac, with(func(c jwt.MapClaims) { c["iss"], c["aud"] = "fleet", "other" })), false},
		{"no issuer", issAud, sign(t, jwt.SigningMethodHS256, k.hmac, with(func(c jwt.MapClaims) { c["aud"] = "packetd" })), false},
	}
	for _, tc := range tests {
		g, err := tc.a.Authenticate(&auth.Request{Token: tc.token, Remote: remote})
		if tc.ok {
			if err != nil || g.Principal != "sensor-7" || !g.Perms.CanJoin([]byte("control/sensor-7")) || g.Perms.CanJoin([]byte("x")) {
				t.Errorf("%s: got %+v, %v; want sensor-7's grant", tc.name, g, err)
			}
			continue
		}
		if !errors.Is(err, auth.ErrDenied) {
			t.Errorf("%s: got %+v, %v; want ErrDenied", tc.name, g, err)
		}
		if err != nil && strings.Contains(err.Error(), string(tc.token)) {
			t.Errorf("%s: the error %q quotes the token", tc.name, err)
		}
	}
	if _, err := j.Authenticate(&auth.Request{User: []byte("a")}); !errors.Is(err, auth.ErrNoCredentials) {
		t.Errorf("no token: got %v, want ErrNoCredentials", err)
	}
}

func TestJWTKeyFiles(t *testing.T) {
	t.Parallel()
	k := newKeys(t)
	short := filepath.Join(k.dir, "short.key")
	writeFile(t, short, []byte("too short\n"))
	notPEM := filepath.Join(k.dir, "x.pem")
	writeFile(t, notPEM, []byte("hello"))
	for name, cfg := range map[string]auth.JWTConfig{
		"none":         {},
		"short HMAC":   {HMACKeyFile: short},
		"missing HMAC": {HMACKeyFile: filepath.Join(k.dir, "missing")},
		"not PEM":      {Ed25519KeyFile: notPEM},
		"HMAC as PEM":  {Ed25519KeyFile: k.hmacFile},
	} {
		if _, err := auth.NewJWT(cfg); err == nil {
			t.Errorf("%s: NewJWT succeeded, want an error", name)
		}
	}
	// Rotation: two keys in one file, either verifies; Reload picks up a
	// new file and keeps the old one if the new one is invalid.
	pub2, priv2, _ := newKeysPair()
	writeFile(t, k.edFile, append(pemPublic(t, k.edPub), pemPublic(t, pub2)...))
	j, err := auth.NewJWT(auth.JWTConfig{Ed25519KeyFile: k.edFile})
	if err != nil {
		t.Fatal(err)
	}
	c := claims("a", nil, nil)
	for i, key := range []any{k.edPriv, priv2} {
		if _, err := j.Authenticate(&auth.Request{Token: sign(t, jwt.SigningMethodEdDSA, key, c)}); err != nil {
			t.Errorf("key %d of 2: %v", i+1, err)
		}
	}
	writeFile(t, k.edFile, pemPublic(t, pub2))
	if err := j.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Authenticate(&auth.Request{Token: sign(t, jwt.SigningMethodEdDSA, k.edPriv, c)}); err == nil {
		t.Error("after Reload without the old key, its tokens are still accepted")
	}
	writeFile(t, k.edFile, []byte("garbage"))
	if err := j.Reload(); err == nil {
		t.Error("Reload of an invalid key file succeeded")
	}
	if _, err := j.Authenticate(&auth.Request{Token: sign(t, jwt.SigningMethodEdDSA, priv2, c)}); err != nil {
		t.Errorf("after a failed Reload the previous key is not in force: %v", err)
	}
}
