package tlsterm

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"time"
)

// cipherSuites are the TLS 1.2 suites offered: ECDHE key exchange (forward
// secrecy) with an AEAD cipher only, the set mbedTLS, wolfSSL and BearSSL
// builds for devices commonly include. TLS 1.3's suites are not
// configurable in crypto/tls and are all AEAD.
var cipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// files are the paths certificates are read from.
type files struct {
	cert, key, clientCA string
}

// Reload reads the certificate, key and client CA files again. New
// handshakes use them; established connections keep theirs. If a file
// cannot be read or parsed, or the key does not match the certificate,
// Reload logs why, keeps the current ones and returns the error.
func (s *Server) Reload() error {
	s.filesMu.Lock()
	defer s.filesMu.Unlock()
	return s.reloadLocked(s.files)
}

// ReloadFiles is Reload from other paths (a configuration reload that
// changed them); clientCAFile "" turns client certificates off, and a
// path turns them on. If the files are invalid the current paths and
// certificates stay.
func (s *Server) ReloadFiles(certFile, keyFile, clientCAFile string) error {
	s.filesMu.Lock()
	defer s.filesMu.Unlock()
	return s.reloadLocked(files{cert: certFile, key: keyFile, clientCA: clientCAFile})
}

func (s *Server) reloadLocked(f files) error {
	cfg, err := s.load(f)
	if err != nil {
		s.log.Error("tls: reload failed; keeping the current certificates", "err", err)
		return err
	}
	s.files = f
	s.cur.Store(cfg)
	return nil
}

// load builds the tls.Config handshakes use from the files, and logs what
// it loaded.
func (s *Server) load(f files) (*tls.Config, error) {
	if f.cert == "" || f.key == "" {
		return nil, fmt.Errorf("%w: a certificate and a key are required", ErrConfig)
	}
	cert, err := tls.LoadX509KeyPair(f.cert, f.key)
	if err != nil {
		return nil, fmt.Errorf("tlsterm: certificate %s, key %s: %w", f.cert, f.key, err)
	}
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("tlsterm: certificate %s: %w", f.cert, err)
		}
		cert.Leaf = leaf
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		CipherSuites: cipherSuites,
	}
	attrs := []any{"subject", leaf.Subject.String(), "dns", leaf.DNSNames,
		"not_after", leaf.NotAfter.UTC().Format(time.RFC3339)}
	if now := time.Now(); now.After(leaf.NotAfter) || now.Before(leaf.NotBefore) {
		s.log.Warn("tls: the certificate is not valid now", "file", f.cert,
			"not_before", leaf.NotBefore.UTC().Format(time.RFC3339), "not_after", leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if f.clientCA != "" {
		pool, n, err := loadPool(f.clientCA)
		if err != nil {
			return nil, err
		}
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
		cfg.ClientCAs = pool
		attrs = append(attrs, "client_cas", n)
	}
	s.log.Info("tls: certificates loaded", attrs...)
	return cfg, nil
}

// loadPool reads a PEM bundle of CA certificates.
func loadPool(file string) (*x509.CertPool, int, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, 0, fmt.Errorf("tlsterm: client CAs: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, 0, fmt.Errorf("tlsterm: client CAs %s: no PEM certificate in the file", file)
	}
	return pool, len(pool.Subjects()), nil //nolint:staticcheck // a count for the log
}

// Identity returns the client identity a verified certificate carries:
// its subject's Common Name, or if that is empty its first URI SAN (such
// as a SPIFFE id), or else its first DNS SAN; "" if it has none.
func Identity(c *x509.Certificate) string {
	switch {
	case c.Subject.CommonName != "":
		return c.Subject.CommonName
	case len(c.URIs) > 0:
		return c.URIs[0].String()
	case len(c.DNSNames) > 0:
		return c.DNSNames[0]
	}
	return ""
}
