package bench

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// pki is a throwaway CA's certificate and the server certificate it
// signed, as files and as the pool that verifies the server.
type pki struct {
	roots                     *x509.CertPool
	caFile, certFile, keyFile string
}

// throwawayPKI makes a CA and a server certificate it signed (ECDSA P-256,
// for 127.0.0.1, ::1 and localhost, valid from a minute ago for life),
// and writes the CA's certificate, the server's certificate and its key
// to dir (ca.pem, server.pem, server.key; mode 0600): the spawned
// server's TLS, trusted by this run's clients and nothing else. The CA's
// key is not kept.
func throwawayPKI(dir string, life time.Duration) (p pki, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("bench: a certificate for the spawned server: %w", err)
		}
	}()
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return pki{}, err
	}
	ca := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: "packetbench throwaway CA"},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(life),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return pki{}, err
	}
	if ca, err = x509.ParseCertificate(caDER); err != nil {
		return pki{}, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return pki{}, err
	}
	leaf := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: "packetbench server"},
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(life),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		return pki{}, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return pki{}, err
	}
	p = pki{caFile: filepath.Join(dir, "ca.pem"), certFile: filepath.Join(dir, "server.pem"), keyFile: filepath.Join(dir, "server.key")}
	for _, f := range []struct {
		name string
		b    *pem.Block
	}{
		{p.caFile, &pem.Block{Type: "CERTIFICATE", Bytes: caDER}},
		{p.certFile, &pem.Block{Type: "CERTIFICATE", Bytes: der}},
		{p.keyFile, &pem.Block{Type: "PRIVATE KEY", Bytes: kder}},
	} {
		if err := os.WriteFile(f.name, pem.EncodeToMemory(f.b), 0o600); err != nil {
			return pki{}, err
		}
	}
	p.roots = x509.NewCertPool()
	p.roots.AddCert(ca)
	return p, nil
}

func randomSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return big.NewInt(time.Now().UnixNano())
	}
	return n
}

// clientTLS returns the TLS configuration of the load clients of a server
// at addr (host:port): its host is the name verified (an IP address
// against the certificate's IP SANs), whatever address the clients dial,
// so that verification holds through the impairment proxy. roots nil
// means the system's roots; insecure skips verification. No session
// cache: every session does a full handshake, as a fleet of devices
// connecting for the first time.
func clientTLS(addr string, roots *x509.CertPool, insecure bool) (*tls.Config, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, configError("%q: want host:port (%v)", addr, err)
	}
	return &tls.Config{
		ServerName:         host,
		RootCAs:            roots,
		InsecureSkipVerify: insecure,
		MinVersion:         tls.VersionTLS12,
	}, nil
}

// loadRoots reads a PEM file of CA certificates (--tls-ca).
func loadRoots(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, configError("--tls-ca: %v", err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		return nil, configError("--tls-ca %s: no PEM certificate in it", file)
	}
	return p, nil
}
