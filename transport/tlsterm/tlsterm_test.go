package tlsterm

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"net/url"
	"testing"
	"time"
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
