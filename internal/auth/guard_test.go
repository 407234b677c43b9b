package auth_test

import (
	"bytes"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/auth"
	"github.com/packetd/packetd/internal/stats"
)

func TestGuardPolicy(t *testing.T) {
	t.Parallel()
	k := newKeys(t)
	file := credsFile(t, t.TempDir(), "users:\n  sensor-7:\n    hash: \""+hash(t, "s3cret")+"\"\n    join: [a]\n  gw-1:\n    join: [g]\n")
	token := sign(t, jwt.SigningMethodHS256, k.hmac, claims("dev-9", []string{"d"}, nil))
	open := auth.Config{}
	withFile := auth.Config{File: file, JWT: auth.JWTConfig{HMACKeyFile: k.hmacFile}}
	withAnon := withFile
	withAnon.Anonymous = auth.AnonymousAllow
	withAnon.AnonymousJoin = []string{"public/#"}
	closed := auth.Config{Anonymous: auth.AnonymousDeny}
	tests := []struct {
		name      string
		cfg       auth.Config
		req       auth.Request
		code      codec.Code
		principal string
		canJoin   string // a room the grant may join ("" to skip)
	}{
		{"open: anonymous", open, auth.Request{}, codec.CodeNormal, "", "anything"},
		{"open: anonymous with client id", open, auth.Request{ClientID: []byte("x")}, codec.CodeNormal, "", ""},
		{"open: credentials no one checks", open, auth.Request{User: []byte("u"), Pass: []byte("p")}, codec.CodeNotAuthorized, "", ""},
		{"open: certificate", open, auth.Request{Identity: "cn-1"}, codec.CodeNormal, "cn-1", "anything"},
		{"open: certificate, other client id", open, auth.Request{Identity: "cn-1", ClientID: []byte("cn-2")}, codec.CodeNotAuthorized, "", ""},
		{"closed: anonymous", closed, auth.Request{}, codec.CodeNotAuthorized, "", ""},
		{"closed: certificate", closed, auth.Request{Identity: "cn-1"}, codec.CodeNormal, "cn-1", ""},
		{"file: anonymous", withFile, auth.Request{}, codec.CodeNotAuthorized, "", ""},
		{"file: password", withFile, auth.Request{User: []byte("sensor-7"), Pass: []byte("s3cret")}, codec.CodeNormal, "sensor-7", "a"},
		{"file: password, own client id", withFile, auth.Request{User: []byte("sensor-7"), Pass: []byte("s3cret"), ClientID: []byte("sensor-7")}, codec.CodeNormal, "sensor-7", ""},
		{"file: password, other client id", withFile, auth.Request{User: []byte("sensor-7"), Pass: []byte("s3cret"), ClientID: []byte("sensor-8")}, codec.CodeNotAuthorized, "", ""},
		{"file: wrong password", withFile, auth.Request{User: []byte("sensor-7"), Pass: []byte("x")}, codec.CodeNotAuthorized, "", ""},
		{"file: token", withFile, auth.Request{Token: token}, codec.CodeNormal, "dev-9", "d"},
		{"file: token wins over certificate", withFile, auth.Request{Token: token, Identity: "gw-1"}, codec.CodeNormal, "dev-9", "d"},
		{"file: certificate listed", withFile, auth.Request{Identity: "gw-1"}, codec.CodeNormal, "gw-1", "g"},
		{"file: certificate not listed", withFile, auth.Request{Identity: "gw-2"}, codec.CodeNotAuthorized, "", ""},
		{"file+anonymous: anonymous", withAnon, auth.Request{}, codec.CodeNormal, "", "public/x"},
		{"file+anonymous: anonymous with client id", withAnon, auth.Request{ClientID: []byte("sensor-7")}, codec.CodeNotAuthorized, "", ""},
	}
	for _, tc := range tests {
		g, err := auth.New(tc.cfg, new(stats.Stats))
		if err != nil {
			t.Fatal(err)
		}
		req := tc.req
		req.Remote = remote
		grant, code := g.Hello(&req)
		if code != tc.code {
			t.Errorf("%s: got code %d (%v), want %d (%v)", tc.name, code, code, tc.code, tc.code)
			continue
		}
		if code != codec.CodeNormal {
			continue
		}
		if grant.Principal != tc.principal {
			t.Errorf("%s: got principal %q, want %q", tc.name, grant.Principal, tc.principal)
		}
		if tc.canJoin != "" && grant.Perms != nil && !grant.Perms.CanJoin([]byte(tc.canJoin)) {
			t.Errorf("%s: may not join %q, want allowed", tc.name, tc.canJoin)
		}
	}
}

// TestGuardLimits: failures spend the address's bucket, then every HELLO
// from it gets 309 unchecked; other addresses are not affected; HELLOs
// are limited per address (loopback exempt by default); logs name the
// address and never the password or token.
func TestGuardLimits(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	st := new(stats.Stats)
	file := credsFile(t, t.TempDir(), "users:\n  u:\n    hash: \""+hash(t, "right-password")+"\"\n")
	g, err := auth.New(auth.Config{File: file, AuthFailRate: auth.Rate{N: 3, Per: time.Hour},
		HelloRate: auth.Rate{N: 6, Per: time.Hour}, Logger: slog.New(slog.NewTextHandler(&logs, nil))}, st)
	if err != nil {
		t.Fatal(err)
	}
	hello := func(addr, pass string) codec.Code {
		_, code := g.Hello(&auth.Request{User: []byte("u"), Pass: []byte(pass), Token: []byte("secret-token-value"),
			Remote: netip.MustParseAddrPort(addr)})
		return code
	}
	// The token rides along with the password (no key is configured for
	// it, so it is not checked): neither may reach the log.
	for i := range 3 {
		if code := hello("192.0.2.1:1000", "wrong-password"); code != codec.CodeNotAuthorized {
			t.Fatalf("failure %d: got %v, want 308", i+1, code)
		}
	}
	if code := hello("192.0.2.1:1001", "right-password"); code != codec.CodeTooManyAttempts {
		t.Errorf("after 3 failures: got %v, want 309", code)
	}
	if _, code := g.Hello(&auth.Request{User: []byte("u"), Pass: []byte("right-password"), Remote: netip.MustParseAddrPort("192.0.2.2:1")}); code != codec.CodeNormal {
		t.Errorf("another address: got %v, want a WELCOME", code)
	}
	if got := st.AuthFailures.Load(); got != 3 {
		t.Errorf("AuthFailures: got %d, want 3", got)
	}
	if got := st.AuthRateLimited.Load(); got != 1 {
		t.Errorf("AuthRateLimited: got %d, want 1", got)
	}
	// 6 HELLOs per address: the 4 above spent 4 of 192.0.2.1's.
	hello("192.0.2.1:1", "x")
	hello("192.0.2.1:1", "x")
	if code := hello("192.0.2.1:1", "x"); code != codec.CodeTooManyAttempts || st.HelloRateLimited.Load() != 1 {
		t.Errorf("7th HELLO: got %v, HelloRateLimited %d; want 309, 1", code, st.HelloRateLimited.Load())
	}
	for i := range 20 {
		if hello("127.0.0.1:1", "x") == codec.CodeTooManyAttempts && st.HelloRateLimited.Load() > 1 {
			t.Fatalf("loopback HELLO %d limited", i+1)
		}
	}
	// IPv6 addresses share a bucket per /64.
	for i := range 3 {
		hello("[2001:db8::"+string(rune('1'+i))+"]:1", "wrong")
	}
	if code := hello("[2001:db8::ffff]:1", "right-password"); code != codec.CodeTooManyAttempts {
		t.Errorf("IPv6, same /64 after 3 failures: got %v, want 309", code)
	}
	out := logs.String()
	for _, secret := range []string{"wrong-password", "right-password", "secret-token-value"} {
		if strings.Contains(out, secret) {
			t.Errorf("the log contains the secret %q:\n%s", secret, out)
		}
	}
	if !strings.Contains(out, "authentication failed") || !strings.Contains(out, "192.0.2.1:1000") {
		t.Errorf("the log lacks the failure and its address:\n%s", out)
	}
}

func TestParseRate(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]auth.Rate{"off": {}, "0": {}, "10/1m": {N: 10, Per: time.Minute}, "50/1s": {N: 50, Per: time.Second}, "0/1s": {}} {
		got, err := auth.ParseRate(in)
		if err != nil || got != want {
			t.Errorf("ParseRate(%q): got %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"10", "x/1s", "10/x", "10/-1s", "-1/1s"} {
		if _, err := auth.ParseRate(in); err == nil {
			t.Errorf("ParseRate(%q): no error", in)
		}
	}
}

func TestLimiterRefills(t *testing.T) {
	t.Parallel()
	l := auth.NewLimiter(auth.Rate{N: 2, Per: 100 * time.Millisecond})
	a := netip.MustParseAddr("192.0.2.9")
	if !l.Allow(a) || !l.Allow(a) || l.Allow(a) {
		t.Fatal("a bucket of 2: want 2 allowed, the 3rd refused")
	}
	if !l.Empty(a) {
		t.Error("Empty: got false after the bucket was spent")
	}
	time.Sleep(120 * time.Millisecond) // the refill is the behaviour under test
	if !l.Allow(a) {
		t.Error("after a refill period: got refused")
	}
	var none *auth.Limiter
	if !none.Allow(a) || none.Empty(a) {
		t.Error("nil Limiter limits")
	}
}

// A Limiter's memory is fixed: many addresses never grow it, and an
// address that was limited is not handed a fresh bucket by the churn.
func TestLimiterBounded(t *testing.T) {
	t.Parallel()
	l := auth.NewLimiter(auth.Rate{N: 1, Per: time.Hour})
	hot := netip.MustParseAddr("198.51.100.1")
	l.Allow(hot)
	for i := range 100_000 {
		l.Allow(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
	}
	if l.Allow(hot) {
		t.Error("a spent address got a token back from churn alone")
	}
}

// TestGuardLogFlood: failures are all counted, but at most 20 a second
// are logged.
func TestGuardLogFlood(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	st := new(stats.Stats)
	file := credsFile(t, t.TempDir(), "users:\n  u:\n    hash: \""+hash(t, "p")+"\"\n")
	g, err := auth.New(auth.Config{File: file, Logger: slog.New(slog.NewTextHandler(&logs, nil))}, st)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for range 100 {
		g.Hello(&auth.Request{User: []byte("u"), Pass: []byte("wrong"), Remote: remote})
	}
	lines := strings.Count(logs.String(), "authentication failed")
	if st.AuthFailures.Load() != 100 {
		t.Errorf("AuthFailures: got %d, want 100", st.AuthFailures.Load())
	}
	if secs := int(time.Since(start)/time.Second) + 2; lines > 20*secs || lines == 0 {
		t.Errorf("logged %d failure lines in %v, want 1 to 20 a second", lines, time.Since(start))
	}
}

// TestGuardPasswordBudget: once the server-wide budget of bcrypt runs is
// spent, passwords not verified recently are refused unchecked (309),
// without spending the address's failures; remembered ones still pass.
func TestGuardPasswordBudget(t *testing.T) {
	t.Parallel()
	st := new(stats.Stats)
	file := credsFile(t, t.TempDir(), "users:\n  u:\n    hash: \""+hash(t, "p")+"\"\n")
	g, err := auth.New(auth.Config{File: file, PasswordChecks: auth.Rate{N: 2, Per: time.Hour},
		AuthFailRate: auth.Rate{N: 1, Per: time.Hour}}, st)
	if err != nil {
		t.Fatal(err)
	}
	hello := func(addr, pass string) codec.Code {
		_, code := g.Hello(&auth.Request{User: []byte("u"), Pass: []byte(pass), Remote: netip.MustParseAddrPort(addr)})
		return code
	}
	for _, step := range []struct {
		addr, pass string
		want       codec.Code
	}{
		{"192.0.2.1:1", "p", codec.CodeNormal},            // bcrypt 1, remembered
		{"192.0.2.2:1", "wrong", codec.CodeNotAuthorized}, // bcrypt 2
		{"192.0.2.3:1", "wrong", codec.CodeTooManyAttempts},
		{"192.0.2.3:1", "p", codec.CodeNormal},           // remembered (whatever the address): no bcrypt
		{"192.0.2.1:1", "p2", codec.CodeTooManyAttempts}, // a password not seen: not checked
	} {
		if got := hello(step.addr, step.pass); got != step.want {
			t.Errorf("%s %s: got %v, want %v", step.addr, step.pass, got, step.want)
		}
	}
	if got := st.AuthThrottled.Load(); got != 2 {
		t.Errorf("AuthThrottled: got %d, want 2", got)
	}
	if got := st.AuthRateLimited.Load(); got != 0 {
		t.Errorf("AuthRateLimited: got %d, want 0 (throttled HELLOs spend no address's failures)", got)
	}
}
