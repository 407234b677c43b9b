package tlsterm

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/packetd/packetd/internal/stats"
)

func TestIdentity(t *testing.T) {
	uri, _ := url.Parse("spiffe://fleet.example/sensor/9")
	tests := []struct {
		name string
		cert x509.Certificate
		want string
	}{
		{name: "CN", cert: x509.Certificate{Subject: pkix.Name{CommonName: "device-42"}, DNSNames: []string{"d.example"}}, want: "device-42"},
		{name: "URI SAN without CN", cert: x509.Certificate{URIs: []*url.URL{uri}, DNSNames: []string{"d.example"}}, want: uri.String()},
		{name: "DNS SAN only", cert: x509.Certificate{DNSNames: []string{"d.example", "e.example"}}, want: "d.example"},
		{name: "nothing", cert: x509.Certificate{Subject: pkix.Name{Organization: []string{"acme"}}}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Identity(&tt.cert); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{name: "complete", cfg: Config{Addr: ":7443", CertFile: "c", KeyFile: "k"}, ok: true},
		{name: "no address", cfg: Config{CertFile: "c", KeyFile: "k"}},
		{name: "no certificate", cfg: Config{Addr: ":7443", KeyFile: "k"}},
		{name: "no key", cfg: Config{Addr: ":7443", CertFile: "c"}},
		{name: "negative timeout", cfg: Config{Addr: ":7443", CertFile: "c", KeyFile: "k", HandshakeTimeout: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tt.cfg.withDefaults()
			if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrConfig)) {
				t.Fatalf("got error %v, want ok=%v (ErrConfig otherwise)", err, tt.ok)
			}
			if tt.ok && (c.HandshakeTimeout != 10*time.Second || c.CloseGrace != 2*time.Second || c.WriteTimeout != 10*time.Second) {
				t.Errorf("got timeouts %v %v %v, want 10s 2s 10s", c.HandshakeTimeout, c.CloseGrace, c.WriteTimeout)
			}
		})
	}
}

func TestLogLimiter(t *testing.T) {
	var l logLimiter
	t0 := time.Unix(1000, 0)
	steps := []struct {
		at         time.Duration
		allowed    bool
		suppressed int
	}{
		{0, true, 0},
		{100 * time.Millisecond, false, 0},
		{900 * time.Millisecond, false, 0},
		{time.Second, true, 2},
		{1500 * time.Millisecond, false, 0},
		{3 * time.Second, true, 1},
	}
	for _, s := range steps {
		n, ok := l.allow(t0.Add(s.at))
		if ok != s.allowed || n != s.suppressed {
			t.Errorf("at %v: got (%d, %v), want (%d, %v)", s.at, n, ok, s.suppressed, s.allowed)
		}
	}
}

// selfSigned writes a self-signed certificate for cn and its key to dir
// and returns their paths.
func selfSigned(t *testing.T, dir, cn string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, cn+".pem"), filepath.Join(dir, cn+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestReloadFiles checks that ReloadFiles switches paths, turns client
// certificates on and off, and keeps everything if the new files are
// invalid.
func TestReloadFiles(t *testing.T) {
	dir := t.TempDir()
	certA, keyA := selfSigned(t, dir, "a")
	certB, keyB := selfSigned(t, dir, "b")
	s, err := New(Config{Addr: "127.0.0.1:0", CertFile: certA, KeyFile: keyA,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, nil, new(stats.Stats))
	if err != nil {
		t.Fatal(err)
	}
	state := func() (string, tls.ClientAuthType) {
		c := s.cur.Load()
		return c.Certificates[0].Leaf.Subject.CommonName, c.ClientAuth
	}
	steps := []struct {
		name           string
		cert, key, ca  string
		ok             bool
		wantCN         string
		wantClientAuth tls.ClientAuthType
	}{
		{name: "new pair and client CAs", cert: certB, key: keyB, ca: certA, ok: true, wantCN: "b", wantClientAuth: tls.RequireAndVerifyClientCert},
		{name: "key of another certificate", cert: certA, key: keyB, ca: "", wantCN: "b", wantClientAuth: tls.RequireAndVerifyClientCert},
		{name: "client CA file missing", cert: certA, key: keyA, ca: filepath.Join(dir, "nope.pem"), wantCN: "b", wantClientAuth: tls.RequireAndVerifyClientCert},
		{name: "client CA file not PEM", cert: certA, key: keyA, ca: keyA, wantCN: "b", wantClientAuth: tls.RequireAndVerifyClientCert},
		{name: "back to the first, mTLS off", cert: certA, key: keyA, ca: "", ok: true, wantCN: "a", wantClientAuth: tls.NoClientCert},
	}
	for _, st := range steps {
		err := s.ReloadFiles(st.cert, st.key, st.ca)
		if (err == nil) != st.ok {
			t.Errorf("%s: got error %v, want ok=%v", st.name, err, st.ok)
		}
		if cn, auth := state(); cn != st.wantCN || auth != st.wantClientAuth {
			t.Errorf("%s: serving %q with client auth %v, want %q and %v", st.name, cn, auth, st.wantCN, st.wantClientAuth)
		}
	}
	if err := s.Reload(); err != nil {
		t.Errorf("Reload of the paths in force: %v", err)
	}
}
