package main

import (
	"crypto/tls"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/testutil"
)

// TestSIGHUPReloadsTLS runs packetd with TLS, replaces its certificate
// files and sends SIGHUP: new connections get the new certificate, and a
// session opened before carries on.
func TestSIGHUPReloadsTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := filepath.Join(t.TempDir(), "packetd")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	ca := testutil.NewCA(t, "sighup CA")
	certFile, keyFile := ca.Server(t, "server-a")
	cmd := exec.Command(bin, "-tcp", "off", "-udp", "off", "-memory", "-log-format", "json",
		"-tls-addr", "127.0.0.1:0", "-tls-cert", certFile, "-tls-key", keyFile)
	addr := startLogged(t, cmd)["tls"]
	if addr == "" {
		t.Fatal("no TLS listener in the log")
	}
	cfg := &tls.Config{RootCAs: ca.Pool()}
	serverCN := func() string {
		c, err := tls.Dial("tcp", addr, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	if cn := serverCN(); cn != "server-a" {
		t.Fatalf("got certificate %q, want server-a", cn)
	}
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	before := &rawTCP{c: c, fr: codec.NewFrameReader(c, codec.DefaultMaxFrame)}
	t.Cleanup(func() { c.Close() })
	before.send(t, codec.Header{Type: codec.TypeHello, ID: 1}, &codec.Hello{})
	if p := before.next(t); p.Type != codec.TypeWelcome {
		t.Fatalf("got %v, want WELCOME", p.Type)
	}

	newCert, newKey := ca.Server(t, "server-b")
	for from, to := range map[string]string{newCert: certFile, newKey: keyFile} {
		b, err := os.ReadFile(from)
		if err == nil {
			err = os.WriteFile(to, b, 0o600)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); serverCN() != "server-b"; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("new connections still get server-a 10 s after SIGHUP")
		}
	}
	before.send(t, codec.Header{Type: codec.TypePing, ID: 7}, &codec.Ping{})
	if p := before.next(t); p.Type != codec.TypePong || p.ID != 7 {
		t.Errorf("session from before SIGHUP: got %v id=%d, want PONG id=7", p.Type, p.ID)
	}
}
