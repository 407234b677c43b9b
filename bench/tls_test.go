package bench

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/packetd/packetd/codec"
)

// TestTLSThroughProxy runs rtt over TLS through the TCP impairment proxy
// with 20 ms of delay each way: the proxy relays the TLS bytes as they
// are, the clients verify the server's name (127.0.0.1) though they dial
// the proxy, every echo arrives, and each round trip crosses the delay
// twice.
func TestTLSThroughProxy(t *testing.T) {
	t.Parallel()
	cfg := testConfig(ScenarioRTT, "tls")
	cfg.Clients = 2
	cfg.Messages = 20
	cfg.Rate = 100
	cfg.Impair = Impairment{Delay: 20 * time.Millisecond}
	res := runOne(t, cfg)
	if res.Transport != "tls" || res.Sent.Packets != 40 || res.Received.Packets != 40 || res.LostPackets != 0 {
		t.Errorf("got %s: %d sent, %d echoes, %d lost, want tls: 40, 40, 0",
			res.Transport, res.Sent.Packets, res.Received.Packets, res.LostPackets)
	}
	if min := 40 * time.Millisecond; res.Latency.Min < float64(min.Microseconds()) {
		t.Errorf("got min round trip %.0f us, want at least %v (20 ms each way)", res.Latency.Min, min)
	}
	if res.Impairment == nil || res.Impairment.DelayMs != 20 {
		t.Errorf("got impairment %+v, want delay 20 ms", res.Impairment)
	}
}

// tlsServer spawns a server that serves TLS with a certificate of a
// throwaway CA, and returns it and the CA's file.
func tlsServer(t *testing.T) (*Spawned, string) {
	t.Helper()
	p, err := throwawayPKI(t.TempDir(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	sc := testConfig(ScenarioRTT, "tls").Spawn
	sc.Flags = []string{"-tls-addr=127.0.0.1:0", "-tls-cert=" + p.certFile, "-tls-key=" + p.keyFile}
	s, err := Spawn(t.Context(), sc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop() })
	if s.TLS == "" {
		t.Fatalf("the server's ready line has no TLS address")
	}
	return s, p.caFile
}

// TestTLSExternal loads a running server over TLS: verified with its CA
// (--tls-ca), not verified (--tls-insecure), and refused with the
// system's roots, which do not know the throwaway CA; and over TLS and
// TCP in one run (--tls-server and --server).
func TestTLSExternal(t *testing.T) {
	t.Parallel()
	srv, ca := tlsServer(t)
	other, _ := tlsServer(t) // same names, another CA
	ext := func(cfg Config) Config {
		cfg.Spawn = SpawnConfig{}
		cfg.TLSServer = srv.TLS
		cfg.ServerPID = srv.PID
		return cfg
	}
	t.Run("tls-ca", func(t *testing.T) {
		cfg := ext(testConfig(ScenarioFanout, "tls"))
		cfg.TLSCA = ca
		cfg.Clients, cfg.Messages, cfg.Rate = 3, 50, 500
		res := runOne(t, cfg)
		if res.Sent.Packets != 50 || res.Received.Packets != 150 || res.LostPackets != 0 {
			t.Errorf("got %d sent, %d delivered, %d lost, want 50, 150, 0", res.Sent.Packets, res.Received.Packets, res.LostPackets)
		}
	})
	t.Run("tls,tcp", func(t *testing.T) {
		cfg := ext(testConfig(ScenarioRTT, "tls"))
		cfg.Transports = []string{"tls", "tcp"}
		cfg.Server = srv.TCP
		cfg.TLSCA = ca
		cfg.Messages, cfg.Rate = 20, 200
		res := runOneOrMore(t, cfg, 2)
		for i, want := range cfg.Transports {
			if r := res[i]; r.Transport != want || r.Received.Packets != 20 || r.LostPackets != 0 {
				t.Errorf("result %d: got %s, %d echoes, %d lost, want %s, 20, 0", i, r.Transport, r.Received.Packets, r.LostPackets, want)
			}
		}
	})
	t.Run("insecure", func(t *testing.T) {
		var notes strings.Builder
		cfg := ext(testConfig(ScenarioRTT, "tls"))
		cfg.TLSServer = other.TLS
		cfg.TLSInsecure = true
		cfg.Messages, cfg.Rate = 10, 200
		cfg.Notes = &notes
		if res := runOne(t, cfg); res.Received.Packets != 10 {
			t.Errorf("got %d echoes, want 10", res.Received.Packets)
		}
		if !strings.Contains(notes.String(), "--tls-insecure: the server's certificate was not verified") {
			t.Errorf("got notes %q, want one saying the certificate was not verified", notes.String())
		}
	})
	for _, tt := range []struct {
		name string
		edit func(c *Config)
		want string
	}{
		{"unknown CA", func(c *Config) {}, "did not verify"},
		{"another CA", func(c *Config) { c.TLSServer = other.TLS; c.TLSCA = ca }, "did not verify"},
		{"plaintext port", func(c *Config) { c.TLSServer = srv.TCP; c.TLSCA = ca }, "does not speak TLS"},
		{"no CA file", func(c *Config) { c.TLSCA = filepath.Join(t.TempDir(), "none.pem") }, "--tls-ca"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ext(testConfig(ScenarioRTT, "tls"))
			cfg.Messages = 10
			tt.edit(&cfg)
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			if _, err := Run(ctx, cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestTLSConfigErrors checks the TLS flags against the transports.
func TestTLSConfigErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"ca without tls", Config{Scenario: ScenarioRTT, TLSCA: "ca.pem"}, "--tls-ca: no tls in --transport tcp"},
		{"insecure without tls", Config{Scenario: ScenarioRTT, Transports: []string{"udp"}, TLSInsecure: true}, "--tls-insecure: no tls"},
		{"tls-server without tls", Config{Scenario: ScenarioRTT, TLSServer: "127.0.0.1:7443"}, "--tls-server 127.0.0.1:7443: no tls"},
		{"server without tls-server", Config{Scenario: ScenarioRTT, Transports: []string{"tls"}, Server: "127.0.0.1:7070"}, "add --tls-server"},
		{"tls-server without server", Config{Scenario: ScenarioRTT, Transports: []string{"tcp", "tls"}, TLSServer: "127.0.0.1:7443"}, "--transport tcp with --tls-server: add --server"},
		{"ca and insecure", Config{Scenario: ScenarioRTT, Transports: []string{"tls"}, TLSServer: "127.0.0.1:7443", TLSCA: "ca.pem", TLSInsecure: true}, "not both"},
		{"ca for the spawned server", Config{Scenario: ScenarioRTT, Transports: []string{"tls"}, TLSCA: "ca.pem"}, "are for --tls-server"},
		{"server flag tls-addr", Config{Scenario: ScenarioRTT, Transports: []string{"tls"}, Spawn: SpawnConfig{Flags: []string{"-tls-addr=:7443"}}}, "--server-flag=-tls-addr"},
		{"tls twice", Config{Scenario: ScenarioRTT, Transports: []string{"tls", "tcp", "tls"}}, "transport tls given twice"},
		{"nagle without a stream", Config{Scenario: ScenarioRTT, Transports: []string{"udp"}, Nagle: true}, "no TCP or TLS"},
		{"remote tls-server", Config{Scenario: ScenarioRTT, Transports: []string{"tls"}, TLSServer: "192.0.2.1:7443"}, "not a loopback address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Run(t.Context(), tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestThrowawayPKI checks the spawned server's certificate files: the
// key is private to this user, and the server's certificate verifies for
// 127.0.0.1 and localhost against the CA.
func TestThrowawayPKI(t *testing.T) {
	t.Parallel()
	p, err := throwawayPKI(t.TempDir(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p.keyFile)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("got key file %v (%v), want mode 0600", st, err)
	}
	roots, err := loadRoots(p.caFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"127.0.0.1", "localhost"} {
		tc, err := clientTLS(name+":1", roots, false)
		if err != nil {
			t.Fatal(err)
		}
		if err := verifyFile(p.certFile, tc); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// verifyFile verifies the certificate in file as tc's client would.
func verifyFile(file string, tc *tls.Config) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return errors.New("no PEM block")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return err
	}
	_, err = cert.Verify(x509.VerifyOptions{Roots: tc.RootCAs, DNSName: tc.ServerName})
	return err
}

// TestTLSSessionAllocs checks that a TLS session's write and read paths
// allocate nothing of their own once the connection is up: frames
// written with send and parsed in place with read and each, as over plain
// TCP. crypto/tls itself allocates one small reader per record it reads
// (Conn.readFromUntil's atLeastReader escapes): a round trip here is one
// record each way, so 2, whatever the messages per record.
func TestTLSSessionAllocs(t *testing.T) {
	p, err := throwawayPKI(t.TempDir(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(p.certFile, p.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			err = c.(*tls.Conn).Handshake()
		}
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	tc, err := clientTLS(ln.Addr().String(), p.roots, false)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := tls.Client(raw, tc)
	defer c.Close()
	if err := c.HandshakeContext(t.Context()); err != nil {
		t.Fatal(err)
	}
	srv, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	defer srv.Close()
	s := &tcpSession{c: c, buf: make([]byte, 64<<10), maxFrame: codec.DefaultMaxFrame}
	msg := codec.Message{Rooms: [][]byte{[]byte("room")}, From: []byte("$0123456789abcdef"),
		Data: AppendPayload(nil, Payload{Publisher: 1, Seq: 1, Run: 1}, 64)}
	var frames []byte
	for range 10 {
		frames = codec.AppendFrame(frames, codec.Header{Type: codec.TypeMessage}, &msg)
	}
	emit := s.appendPacket(nil, codec.Header{Type: codec.TypeEmit}, &codec.Emit{Rooms: msg.Rooms, Data: msg.Data})
	sbuf := make([]byte, 64<<10)
	count := 0
	onPacket := func(pkt []byte) { count++ }
	roundTrip := func() {
		if err := s.send(emit); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(srv, sbuf[:len(emit)]); err != nil {
			t.Fatal(err)
		}
		if _, err := srv.Write(frames); err != nil {
			t.Fatal(err)
		}
		for got := count + 10; count < got; {
			if err := s.read(); err != nil {
				t.Fatal(err)
			}
			if err := s.each(onPacket); err != nil {
				t.Fatal(err)
			}
		}
	}
	roundTrip() // the first records size the buffers
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under -race")
	}
	if n := testing.AllocsPerRun(200, roundTrip); n > 2 {
		t.Errorf("got %v allocs per round trip over TLS, want at most 2 (crypto/tls's, one per record read)", n)
	}
}
