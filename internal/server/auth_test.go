package server_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/packetd/packetd/client"
	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/auth"
	"github.com/packetd/packetd/internal/server"
	"github.com/packetd/packetd/internal/testutil"
)

// The authentication and permission tests run real servers on 127.0.0.1
// with a credentials file, an HMAC secret and an Ed25519 key generated in
// the test, and talk raw TCP and UDP to them.

// authFixture is a server with authentication on.
type authFixture struct {
	srv    *testutil.Server
	hmac   []byte
	edPriv ed25519.PrivateKey
	creds  string // the credentials file's path
	logs   *syncBuffer
}

// The credentials file of the fixture: a sensor, a dashboard, an admin
// whose patterns include "$*" (they still cannot JOIN a session's room),
// and a certificate-only gateway.
func credsYAML(t testing.TB, sensorPass string) string {
	return "users:\n" +
		"  sensor-7:\n    hash: \"" + bcryptHash(t, sensorPass) + "\"\n" +
		"    join: [\"control/sensor-7\"]\n    emit: [\"sensors/sensor-7/#\", \"$*\"]\n" +
		"  dash:\n    hash: \"" + bcryptHash(t, "dash-pass") + "\"\n" +
		"    join: [\"sensors/#\"]\n    emit: [\"control/+\"]\n" +
		"  root:\n    hash: \"" + bcryptHash(t, "root-pass") + "\"\n" +
		"    join: [\"#\", \"$*\"]\n    emit: [\"#\", \"$*\"]\n"
}

func bcryptHash(t testing.TB, pass string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func startAuth(t *testing.T, configure func(*auth.Config)) *authFixture {
	t.Helper()
	dir := t.TempDir()
	f := &authFixture{hmac: []byte(rand.Text() + rand.Text()), logs: &syncBuffer{}} // 52 bytes of text
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	f.edPriv = priv
	der, _ := x509.MarshalPKIXPublicKey(pub)
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	f.creds = write("creds.yaml", []byte(credsYAML(t, "s3cret")))
	hmacFile := write("hmac.key", f.hmac)
	edFile := write("ed25519.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	f.srv = testutil.Start(t, func(c *server.Config) {
		c.Auth = auth.Config{File: f.creds, JWT: auth.JWTConfig{HMACKeyFile: hmacFile, Ed25519KeyFile: edFile}}
		if configure != nil {
			configure(&c.Auth)
		}
		c.Logger = slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	return f
}

func (f *authFixture) token(t testing.TB, m jwt.SigningMethod, c jwt.MapClaims) []byte {
	t.Helper()
	var key any = f.hmac
	if m == jwt.SigningMethodEdDSA {
		key = f.edPriv
	}
	s, err := jwt.NewWithClaims(m, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(s)
}

func tokenClaims(sub string, exp time.Duration) jwt.MapClaims {
	return jwt.MapClaims{"sub": sub, "exp": time.Now().Add(exp).Unix(),
		"packetd": map[string]any{"join": []string{"control/" + sub}, "emit": []string{"sensors/" + sub + "/#"}}}
}

// syncBuffer (tls_test.go) is the log sink.

const helloID = 0x48454c4f // testutil's HELLO id over TCP

// helloTCP sends HELLO h on a new TCP connection and returns the
// connection and the server's answer.
func helloTCP(t *testing.T, s *testutil.Server, h *codec.Hello) (*testutil.TCPConn, codec.Packet) {
	t.Helper()
	c := testutil.DialTCP(t, s)
	c.Send(codec.Header{Type: codec.TypeHello, ID: helloID}, h)
	return c, c.MustNext()
}

// helloUDP sends HELLO h (padded to the minimum) from a new socket with id
// and returns the socket and the server's answer.
func helloUDP(t *testing.T, s *testutil.Server, id uint32, h *codec.Hello) (*testutil.UDPConn, codec.Packet) {
	t.Helper()
	u := testutil.ListenUDP(t, s)
	for codec.KeyLen+codec.PacketLen(h) < codec.MinHelloDatagram {
		h.Pad++
	}
	u.SendRaw(testutil.Datagram(0, codec.Header{Type: codec.TypeHello, ID: id}, h))
	return u, u.MustNext()
}

// TestAuthHello: each way to authenticate accepts the right credentials
// and refuses wrong, expired, not-yet-valid, tampered and wrong-algorithm
// ones with ERROR 308, over TCP (then a close) and UDP (with the HELLO's
// id); anonymous HELLOs are refused once an authenticator is set.
func TestAuthHello(t *testing.T) {
	t.Parallel()
	f := startAuth(t, nil)
	now := time.Now()
	good := f.token(t, jwt.SigningMethodHS256, tokenClaims("dev-1", time.Hour))
	tampered := []byte(string(good[:len(good)-4]) + "AAAA")
	if bytes.Equal(tampered, good) {
		tampered = []byte(string(good[:len(good)-4]) + "BBBB")
	}
	nbf := tokenClaims("dev-1", time.Hour)
	nbf["nbf"] = now.Add(time.Hour).Unix()
	tests := []struct {
		name  string
		hello codec.Hello
		ok    bool
	}{
		{"password", codec.Hello{User: []byte("sensor-7"), Pass: []byte("s3cret")}, true},
		{"password and own client id", codec.Hello{User: []byte("sensor-7"), Pass: []byte("s3cret"), ClientID: []byte("sensor-7")}, true},
		{"HS256 token", codec.Hello{Token: good}, true},
		{"HS512 token", codec.Hello{Token: f.token(t, jwt.SigningMethodHS512, tokenClaims("dev-1", time.Hour))}, true},
		{"EdDSA token", codec.Hello{Token: f.token(t, jwt.SigningMethodEdDSA, tokenClaims("dev-1", time.Hour))}, true},
		{"wrong password", codec.Hello{User: []byte("sensor-7"), Pass: []byte("s3cret?")}, false},
		{"unknown user", codec.Hello{User: []byte("nobody"), Pass: []byte("s3cret")}, false},
		{"password, someone else's client id", codec.Hello{User: []byte("sensor-7"), Pass: []byte("s3cret"), ClientID: []byte("dash")}, false},
		{"expired token", codec.Hello{Token: f.token(t, jwt.SigningMethodHS256, tokenClaims("dev-1", -time.Hour))}, false},
		{"token not yet valid", codec.Hello{Token: f.token(t, jwt.SigningMethodHS256, nbf)}, false},
		{"tampered token", codec.Hello{Token: tampered}, false},
		{"token alg none", codec.Hello{Token: func() []byte {
			s, _ := jwt.NewWithClaims(jwt.SigningMethodNone, tokenClaims("dev-1", time.Hour)).SignedString(jwt.UnsafeAllowNoneSignatureType)
			return []byte(s)
		}()}, false},
		{"anonymous", codec.Hello{}, false},
		{"anonymous with a client id", codec.Hello{ClientID: []byte("sensor-7")}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := tc.hello
			c, p := helloTCP(t, f.srv, &h)
			if tc.ok {
				testutilExpect(t, p, codec.TypeWelcome, helloID)
			} else {
				testutil.CheckError(t, p, codec.TypeError, 0, codec.CodeNotAuthorized)
				c.ExpectEOF()
			}
			h = tc.hello
			_, p = helloUDP(t, f.srv, 0x1234abcd, &h)
			if tc.ok {
				testutilExpect(t, p, codec.TypeWelcome, 0x1234abcd)
			} else {
				testutil.CheckError(t, p, codec.TypeError, 0x1234abcd, codec.CodeNotAuthorized)
			}
		})
	}
	t.Cleanup(func() {
		if t.Failed() {
			return
		}
		st := f.srv.Stats
		if got, want := st.AuthFailures.Load(), uint64(2*9); got != want {
			t.Errorf("AuthFailures: got %d, want %d", got, want)
		}
		if got, want := st.AuthOK.Load(), uint64(2*5); got != want {
			t.Errorf("AuthOK: got %d, want %d", got, want)
		}
		logs := f.logs.String()
		for _, secret := range []string{"s3cret", string(good), string(tampered), "dash-pass"} {
			if strings.Contains(logs, secret) {
				t.Errorf("the server's log contains a secret (%.12q...)", secret)
			}
		}
		if !strings.Contains(logs, "authentication failed") || !strings.Contains(logs, "remote=127.0.0.1:") {
			t.Errorf("the log does not report failures with the client's address:\n%s", logs)
		}
	})
}

func testutilExpect(t *testing.T, p codec.Packet, typ codec.Type, id uint32) {
	t.Helper()
	if p.Type != typ || p.ID != id {
		t.Fatalf("got %v id=%d (%s), want %v id=%d", p.Type, p.ID, testutil.Describe(p), typ, id)
	}
}

// login opens a TCP session as user and returns it and its sid.
func login(t *testing.T, s *testutil.Server, user, pass string) (*testutil.TCPConn, string) {
	t.Helper()
	c := testutil.DialTCP(t, s)
	w := c.HelloWith(&codec.Hello{User: []byte(user), Pass: []byte(pass)})
	return c, string(w.SessionID)
}

// TestACLWire: JOIN and EMIT outside the session's permissions get ERROR
// 207 naming the room, the session goes on, and nothing is joined or
// delivered; inside them everything works, across TCP and UDP.
func TestACLWire(t *testing.T) {
	t.Parallel()
	f := startAuth(t, nil)
	dash, dashSID := login(t, f.srv, "dash", "dash-pass")
	u := testutil.ListenUDP(t, f.srv)
	sensorSID := string(u.HelloWith(0x5e75, &codec.Hello{User: []byte("sensor-7"), Pass: []byte("s3cret")}).SessionID)

	denied := func(p codec.Packet, id uint32, room string) {
		t.Helper()
		e := testutil.CheckError(t, p, codec.TypeError, id, codec.CodeForbidden)
		if got, want := string(e.Msg), "permission denied: "+room; got != want {
			t.Errorf("ERROR 207 msg: got %q, want %q", got, want)
		}
	}
	// JOIN: allowed, denied (all or nothing), and the own-id rooms.
	dash.Join(1, "sensors/sensor-7/temp")
	dash.Send(codec.Header{Type: codec.TypeJoin, ID: 2}, testutil.Rooms("sensors/x", "control/sensor-7"))
	denied(dash.MustNext(), 2, "control/sensor-7")
	u.Join(3, "control/sensor-7")
	u.Request(codec.Header{Type: codec.TypeJoin, ID: 4}, testutil.Rooms("control/sensor-8"))
	denied(u.MustNext(), 4, "control/sensor-8")

	// EMIT: the sensor publishes where it may; the dashboard receives.
	u.Request(codec.Header{Type: codec.TypeEmit, ID: 5}, &codec.Emit{Rooms: testutil.Rooms("sensors/sensor-7/temp").Rooms, Event: []byte("t"), Data: []byte{0x15}})
	m := dash.ExpectType(codec.TypeMessage)
	var msg codec.Message
	testutil.Decode(t, m, &msg)
	if string(msg.From) != sensorSID {
		t.Errorf("MESSAGE from %q, want %q", msg.From, sensorSID)
	}
	// Outside its permissions: 207 with the EMIT's id, nothing delivered.
	u.Request(codec.Header{Type: codec.TypeEmit, ID: 6}, &codec.Emit{Rooms: testutil.Rooms("sensors/sensor-7/temp", "sensors/sensor-8/temp").Rooms})
	denied(u.MustNext(), 6, "sensors/sensor-8/temp")
	// At QoS 1 too (the sensor's first QoS 1 EMIT is number 1).
	u.Request(codec.Header{Type: codec.TypeEmit, Flags: codec.Flags(1), ID: 1}, &codec.Emit{Rooms: testutil.Rooms("lobby").Rooms})
	denied(u.MustNext(), 1, "lobby")
	// A direct message: the sensor may ($*), the dashboard may not.
	u.Request(codec.Header{Type: codec.TypeEmit, ID: 7}, &codec.Emit{Rooms: testutil.Rooms(dashSID).Rooms, Event: []byte("dm")})
	testutil.Decode(t, dash.ExpectType(codec.TypeMessage), &msg)
	if string(msg.Event) != "dm" {
		t.Errorf("direct message: got event %q, want dm", msg.Event)
	}
	dash.Send(codec.Header{Type: codec.TypeEmit, ID: 9}, &codec.Emit{Rooms: testutil.Rooms(sensorSID).Rooms})
	denied(dash.MustNext(), 9, sensorSID)
	// The dashboard commands the sensor through control/+.
	dash.Send(codec.Header{Type: codec.TypeEmit, ID: 10}, &codec.Emit{Rooms: testutil.Rooms("control/sensor-7").Rooms, Event: []byte("cmd")})
	u.ExpectType(codec.TypeMessage)
	// The sessions went on: both still answer.
	dash.Ping(11)
	u.Ping(12)

	// No pattern lets a session join another's own room, nor its own.
	root, _ := login(t, f.srv, "root", "root-pass")
	for i, room := range []string{dashSID, sensorSID, "$anything"} {
		root.Send(codec.Header{Type: codec.TypeJoin, ID: uint32(20 + i)}, testutil.Rooms(room))
		root.ExpectError(uint32(20+i), codec.CodeInvalidRoom)
	}
	if got, want := f.srv.Stats.PermissionDenied.Load(), uint64(5); got != want {
		t.Errorf("PermissionDenied: got %d, want %d", got, want)
	}
}

// TestAuthFailRate: failed authentications from one address spend its
// bucket; then every HELLO from it gets ERROR 309 unchecked, over TCP and
// UDP, right credentials included, and it is counted.
func TestAuthFailRate(t *testing.T) {
	t.Parallel()
	f := startAuth(t, func(c *auth.Config) { c.AuthFailRate = auth.Rate{N: 3, Per: time.Hour} })
	for i := range 3 {
		_, p := helloTCP(t, f.srv, &codec.Hello{User: []byte("sensor-7"), Pass: []byte("guess")})
		testutil.CheckError(t, p, codec.TypeError, 0, codec.CodeNotAuthorized)
		_ = i
	}
	c, p := helloTCP(t, f.srv, &codec.Hello{User: []byte("sensor-7"), Pass: []byte("s3cret")})
	testutil.CheckError(t, p, codec.TypeError, 0, codec.CodeTooManyAttempts)
	c.ExpectEOF()
	_, p = helloUDP(t, f.srv, 77, &codec.Hello{User: []byte("sensor-7"), Pass: []byte("s3cret")})
	testutil.CheckError(t, p, codec.TypeError, 77, codec.CodeTooManyAttempts)
	if got := f.srv.Stats.AuthRateLimited.Load(); got != 2 {
		t.Errorf("AuthRateLimited: got %d, want 2", got)
	}
	if got := f.srv.Stats.AuthFailures.Load(); got != 3 {
		t.Errorf("AuthFailures: got %d, want 3 (limited HELLOs are not checked)", got)
	}
}

// TestHelloRate: HELLOs per address beyond the bucket get ERROR 309.
func TestHelloRate(t *testing.T) {
	t.Parallel()
	f := startAuth(t, func(c *auth.Config) {
		c.HelloRate, c.LimitLoopback = auth.Rate{N: 4, Per: time.Hour}, true
	})
	for i := range 4 {
		c := testutil.DialTCP(t, f.srv)
		c.HelloWith(&codec.Hello{User: []byte("dash"), Pass: []byte("dash-pass")})
		_ = i
	}
	_, p := helloTCP(t, f.srv, &codec.Hello{User: []byte("dash"), Pass: []byte("dash-pass")})
	testutil.CheckError(t, p, codec.TypeError, 0, codec.CodeTooManyAttempts)
	_, p = helloUDP(t, f.srv, 5, &codec.Hello{User: []byte("dash"), Pass: []byte("dash-pass")})
	testutil.CheckError(t, p, codec.TypeError, 5, codec.CodeTooManyAttempts)
	if got := f.srv.Stats.HelloRateLimited.Load(); got != 2 {
		t.Errorf("HelloRateLimited: got %d, want 2", got)
	}
}

// TestAuthSessionOwner: a persistent session belongs to its principal:
// another principal, or an anonymous client, cannot resume, take over or
// discard it; the owner can, from either transport.
func TestAuthSessionOwner(t *testing.T) {
	t.Parallel()
	f := startAuth(t, func(c *auth.Config) { c.Anonymous = auth.AnonymousAllow })
	tok := f.token(t, jwt.SigningMethodEdDSA, tokenClaims("sensor-7", time.Hour))
	a := testutil.DialTCP(t, f.srv)
	w := a.HelloWith(&codec.Hello{Token: tok, ClientID: []byte("sensor-7"), Persist: true})
	for name, h := range map[string]codec.Hello{
		"another user":            {User: []byte("dash"), Pass: []byte("dash-pass"), ClientID: []byte("sensor-7"), Persist: true},
		"anonymous":               {ClientID: []byte("sensor-7"), Persist: true},
		"anonymous clean start":   {ClientID: []byte("sensor-7")},
		"another token's subject": {Token: f.token(t, jwt.SigningMethodHS256, tokenClaims("sensor-8", time.Hour)), ClientID: []byte("sensor-7")},
	} {
		_, p := helloTCP(t, f.srv, &h)
		if p.Type != codec.TypeError {
			t.Errorf("%s: got %v, want ERROR 308", name, testutil.Describe(p))
			continue
		}
		testutil.CheckError(t, p, codec.TypeError, 0, codec.CodeNotAuthorized)
	}
	a.Ping(1) // the owner's connection is untouched
	// The password owner of the same name (the file's sensor-7) is the same
	// principal: it resumes the session, over UDP.
	u := testutil.ListenUDP(t, f.srv)
	w2 := u.HelloWith(9, &codec.Hello{User: []byte("sensor-7"), Pass: []byte("s3cret"), ClientID: []byte("sensor-7"), Persist: true})
	if !bytes.Equal(w2.SessionID, w.SessionID) || !w2.Resumed {
		t.Errorf("owner's resume: got sid %s resumed %v, want %s resumed", w2.SessionID, w2.Resumed, w.SessionID)
	}
	testutil.CheckError(t, a.ExpectType(codec.TypeBye), codec.TypeBye, 0, codec.CodeTakenOver)
}

// TestReloadAuth: ReloadAuth applies a new credentials file to the next
// HELLOs, and keeps the old one when the new one is invalid.
func TestReloadAuth(t *testing.T) {
	t.Parallel()
	f := startAuth(t, nil)
	login(t, f.srv, "sensor-7", "s3cret")
	if err := os.WriteFile(f.creds, []byte(credsYAML(t, "n3w")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := f.srv.ReloadAuth(); err != nil {
		t.Fatal(err)
	}
	_, p := helloTCP(t, f.srv, &codec.Hello{User: []byte("sensor-7"), Pass: []byte("s3cret")})
	testutil.CheckError(t, p, codec.TypeError, 0, codec.CodeNotAuthorized)
	login(t, f.srv, "sensor-7", "n3w")
	if err := os.WriteFile(f.creds, []byte("users: [not a map"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := f.srv.ReloadAuth(); err == nil {
		t.Fatal("ReloadAuth of an invalid file: no error")
	}
	login(t, f.srv, "sensor-7", "n3w") // the previous file is still in force
	if !strings.Contains(f.logs.String(), "auth reload") {
		t.Error("the failed reload is not logged")
	}
}

// TestAnonymousDefault: without an authenticator everything is as before
// (anonymous sessions, any room, direct messages, client ids).
func TestAnonymousDefault(t *testing.T) {
	t.Parallel()
	s := testutil.Start(t, nil)
	a, b := testutil.DialTCP(t, s), testutil.DialTCP(t, s)
	a.HelloWith(&codec.Hello{ClientID: []byte("anything")})
	wb := b.Hello(0)
	a.Join(1, "x/y/z")
	a.Send(codec.Header{Type: codec.TypeEmit, ID: 2}, &codec.Emit{Rooms: testutil.Rooms(string(wb.SessionID)).Rooms})
	b.ExpectType(codec.TypeMessage)
	_, p := helloTCP(t, s, &codec.Hello{User: []byte("u"), Pass: []byte("p")})
	testutil.CheckError(t, p, codec.TypeError, 0, codec.CodeNotAuthorized) // credentials nobody can check
}

// TestAuthGoClient: the Go client's credentials options, over both
// transports; refused credentials fail Dial with ERROR 308, and a denied
// JOIN fails with 207.
func TestAuthGoClient(t *testing.T) {
	t.Parallel()
	f := startAuth(t, nil)
	tok := string(f.token(t, jwt.SigningMethodEdDSA, tokenClaims("dev-3", time.Hour)))
	for _, url := range []string{f.srv.TCPURL(), f.srv.UDPURL()} {
		c := testutil.Dial(t, url, &client.Options{User: "sensor-7", Password: "s3cret", RetryTimeout: 100 * time.Millisecond})
		ctx, cancel := context.WithTimeout(context.Background(), testutil.Timeout)
		if err := c.Join(ctx, "control/sensor-7"); err != nil {
			t.Errorf("%s: allowed JOIN: %v", url, err)
		}
		var se *client.ServerError
		if err := c.Join(ctx, "control/other"); !errors.As(err, &se) || se.Code != codec.CodeForbidden {
			t.Errorf("%s: denied JOIN: got %v, want ERROR 207", url, err)
		}
		cancel()
		testutil.Dial(t, url, &client.Options{Token: tok, ClientID: "dev-3", RetryTimeout: 100 * time.Millisecond})
		_, err := testutil.DialErr(t, url, &client.Options{User: "sensor-7", Password: "nope", RetryTimeout: 100 * time.Millisecond})
		if !errors.As(err, &se) || se.Code != codec.CodeNotAuthorized {
			t.Errorf("%s: wrong password: got %v, want ERROR 308", url, err)
		}
	}
}

// TestResumePrunesRooms: a persistent session resumed with credentials
// that no longer allow some of its rooms leaves them.
func TestResumePrunesRooms(t *testing.T) {
	t.Parallel()
	f := startAuth(t, nil)
	tokenFor := func(join ...string) []byte {
		return f.token(t, jwt.SigningMethodHS256, jwt.MapClaims{"sub": "dev-5", "exp": time.Now().Add(time.Hour).Unix(),
			"packetd": map[string]any{"join": join}})
	}
	a := testutil.DialTCP(t, f.srv)
	a.HelloWith(&codec.Hello{Token: tokenFor("control/a", "control/b"), ClientID: []byte("dev-5"), Persist: true})
	a.Join(1, "control/a", "control/b")
	_ = a.Close()
	b := testutil.DialTCP(t, f.srv)
	if w := b.HelloWith(&codec.Hello{Token: tokenFor("control/a"), ClientID: []byte("dev-5"), Persist: true}); !w.Resumed {
		t.Fatal("the session was not resumed")
	}
	root, _ := login(t, f.srv, "root", "root-pass")
	root.Send(codec.Header{Type: codec.TypeEmit, ID: 2}, &codec.Emit{Rooms: testutil.Rooms("control/b").Rooms, Event: []byte("b")})
	root.Send(codec.Header{Type: codec.TypeEmit, ID: 3}, &codec.Emit{Rooms: testutil.Rooms("control/a").Rooms, Event: []byte("a")})
	var m codec.Message
	testutil.Decode(t, b.ExpectType(codec.TypeMessage), &m)
	if string(m.Event) != "a" {
		t.Errorf("the resumed session got event %q first, want a (it may no longer be in control/b)", m.Event)
	}
}

// TestTokenExpiryEndsConnection: a session opened with a token is ended
// (BYE 308) when the token expires, over TCP and UDP; a persistent one
// goes offline and is resumed with a fresh token.
func TestTokenExpiryEndsConnection(t *testing.T) {
	t.Parallel()
	f := startAuth(t, func(c *auth.Config) { c.JWT.Leeway = time.Millisecond })
	soon := func(sub string) []byte {
		c := tokenClaims(sub, 2*time.Second) // exp is in whole seconds: 1-2 s from now
		return f.token(t, jwt.SigningMethodHS256, c)
	}
	a := testutil.DialTCP(t, f.srv)
	wa := a.HelloWith(&codec.Hello{Token: soon("dev-6"), ClientID: []byte("dev-6"), Persist: true})
	u := testutil.ListenUDP(t, f.srv)
	u.HelloWith(3, &codec.Hello{Token: soon("dev-7")})
	u.Ping(4) // validates the address
	testutil.CheckError(t, a.ExpectType(codec.TypeBye), codec.TypeBye, 0, codec.CodeNotAuthorized)
	a.ExpectEOF()
	testutil.CheckError(t, u.ExpectType(codec.TypeBye), codec.TypeBye, 0, codec.CodeNotAuthorized)
	if got := f.srv.Stats.TokenExpiries.Load(); got != 2 {
		t.Errorf("TokenExpiries: got %d, want 2", got)
	}
	b := testutil.DialTCP(t, f.srv)
	wb := b.HelloWith(&codec.Hello{Token: f.token(t, jwt.SigningMethodHS256, tokenClaims("dev-6", time.Hour)), ClientID: []byte("dev-6"), Persist: true})
	if !wb.Resumed || !bytes.Equal(wb.SessionID, wa.SessionID) {
		t.Errorf("fresh token: got sid %s resumed %v, want %s resumed", wb.SessionID, wb.Resumed, wa.SessionID)
	}
}
