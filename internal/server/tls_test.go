package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/packetd/packetd/client"
	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/server"
	"github.com/packetd/packetd/internal/testutil"
)

// tlsServer is a server with a TLS listener and the CA of its certificate.
type tlsServer struct {
	*testutil.Server
	ca                *testutil.CA
	certFile, keyFile string
	clientCAFile      string
	log               *syncBuffer
}

// caFile returns the -tls-client-ca file.
func (ts *tlsServer) caFile(t *testing.T) string {
	t.Helper()
	if ts.clientCAFile == "" {
		t.Fatal("no client CA file: mTLS is off")
	}
	return ts.clientCAFile
}

// startTLS starts a server whose TLS listener has a certificate for
// 127.0.0.1 from a new CA; clientCA, if not nil, turns on mTLS with it.
func startTLS(t *testing.T, clientCA *testutil.CA, configure func(*server.Config)) *tlsServer {
	t.Helper()
	ts := &tlsServer{ca: testutil.NewCA(t, "packetd test CA"), log: new(syncBuffer)}
	ts.certFile, ts.keyFile = ts.ca.Server(t, "server-a")
	ts.Server = testutil.Start(t, func(c *server.Config) {
		c.TLS.Addr = "127.0.0.1:0"
		c.TLS.CertFile, c.TLS.KeyFile = ts.certFile, ts.keyFile
		if clientCA != nil {
			ts.clientCAFile = clientCA.WriteCA(t)
			c.TLS.ClientCAFile = ts.clientCAFile
		}
		c.Logger = slog.New(slog.NewTextHandler(io.MultiWriter(ts.log, testLog()), &slog.HandlerOptions{Level: slog.LevelDebug}))
		if configure != nil {
			configure(c)
		}
	})
	return ts
}

// testLog is where a test server's log also goes: stderr with
// PACKETD_TEST_LOG set, as testutil.Start's.
func testLog() io.Writer {
	if os.Getenv("PACKETD_TEST_LOG") != "" {
		return os.Stderr
	}
	return io.Discard
}

// options returns client options trusting the server's CA, presenting
// cert if given.
func (ts *tlsServer) options(cert *tls.Certificate) *client.Options {
	cfg := &tls.Config{RootCAs: ts.ca.Pool()}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return &client.Options{TLSConfig: cfg}
}

// dialRaw opens a raw TLS peer: frames written and read by hand.
func (ts *tlsServer) dialRaw(t *testing.T, cfg *tls.Config) *rawTLS {
	t.Helper()
	if cfg == nil {
		cfg = &tls.Config{RootCAs: ts.ca.Pool()}
	}
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: testutil.Timeout}, Config: cfg}
	nc, err := d.Dial("tcp", ts.TLSAddr().String())
	if err != nil {
		t.Fatalf("dial tls: %v", err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	c := nc.(*tls.Conn)
	return &rawTLS{Conn: c, t: t, fr: codec.NewFrameReader(c, 64<<20)}
}

// rawTLS is a raw packetd peer over TLS.
type rawTLS struct {
	*tls.Conn
	t  *testing.T
	fr *codec.FrameReader
}

func (c *rawTLS) send(h codec.Header, body codec.Body) {
	c.t.Helper()
	_ = c.SetWriteDeadline(time.Now().Add(testutil.Timeout))
	if _, err := c.Write(testutil.Frame(h, body)); err != nil {
		c.t.Fatalf("tls write: %v", err)
	}
}

func (c *rawTLS) next() (codec.Packet, error) {
	_ = c.SetReadDeadline(time.Now().Add(testutil.Timeout))
	raw, err := c.fr.ReadFrame()
	if err != nil {
		return codec.Packet{}, err
	}
	return codec.ParsePacket(bytes.Clone(raw))
}

func (c *rawTLS) expect(typ codec.Type, id uint32) codec.Packet {
	c.t.Helper()
	p, err := c.next()
	if err != nil {
		c.t.Fatalf("tls read: %v", err)
	}
	if p.Type != typ || p.ID != id {
		c.t.Fatalf("got %v id=%d (%s), want %v id=%d", p.Type, p.ID, testutil.Describe(p), typ, id)
	}
	return p
}

// hello opens a session and returns its id.
func (c *rawTLS) hello() string {
	c.t.Helper()
	c.send(codec.Header{Type: codec.TypeHello, ID: 1}, &codec.Hello{})
	var w codec.Welcome
	testutil.Decode(c.t, c.expect(codec.TypeWelcome, 1), &w)
	return string(w.SessionID)
}

// syncBuffer is a log destination safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestTLSCrossTransport checks that a TLS session shares rooms with TCP
// and UDP sessions: each one's emit reaches the two others, and the TLS
// session is listed with its transport and real address.
func TestTLSCrossTransport(t *testing.T) {
	t.Parallel()
	ts := startTLS(t, nil, nil)
	clients := map[string]*client.Client{
		"tls": testutil.Dial(t, ts.TLSURL(), ts.options(nil)),
		"tcp": testutil.Dial(t, ts.TCPURL(), nil),
		"udp": testutil.Dial(t, ts.UDPURL(), nil),
	}
	for _, c := range clients {
		testutil.Join(t, c, "lobby")
	}
	for _, sender := range []string{"tls", "tcp", "udp"} {
		t.Run(sender, func(t *testing.T) {
			from := clients[sender]
			testutil.Emit(t, from, client.Emit{Rooms: []string{"lobby"}, Event: "hi", Data: "from " + sender})
			for name, c := range clients {
				if name == sender {
					continue
				}
				m := testutil.Recv(t, c)
				var got string
				if err := m.Decode(&got); err != nil || got != "from "+sender || m.From != from.SessionID() {
					t.Errorf("%s: got %q from %s (err %v), want %q from %s", name, got, m.From, err, "from "+sender, from.SessionID())
				}
			}
		})
	}
	info, ok := ts.Broker.LookupSession(clients["tls"].SessionID())
	if !ok {
		t.Fatalf("LookupSession(%s): not found", clients["tls"].SessionID())
	}
	if info.Transport != "tls" || info.Identity != "" {
		t.Errorf("TLS session: got transport %q identity %q, want tls and none", info.Transport, info.Identity)
	}
	if !info.Remote.Addr().IsLoopback() || info.Remote.Port() == 0 {
		t.Errorf("TLS session: got remote %v, want 127.0.0.1 and the client's port", info.Remote)
	}
	if tcpInfo, _ := ts.Broker.LookupSession(clients["tcp"].SessionID()); tcpInfo.Transport != "tcp" || tcpInfo.Remote.Addr() != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("TCP session: got transport %q remote %v, want tcp from 127.0.0.1 (IPv4, unmapped)", tcpInfo.Transport, tcpInfo.Remote)
	}
	if got := ts.Stats.TLSConns.Load(); got != 1 {
		t.Errorf("Stats.TLSConns: got %d, want 1", got)
	}
}

// TestTLSRemoteIsClientAddress checks the address a TLS session reports
// against the client's own end of the connection.
func TestTLSRemoteIsClientAddress(t *testing.T) {
	t.Parallel()
	ts := startTLS(t, nil, nil)
	c := ts.dialRaw(t, nil)
	id := c.hello()
	info, ok := ts.Broker.LookupSession(id)
	want := c.LocalAddr().(*net.TCPAddr).AddrPort()
	want = netip.AddrPortFrom(want.Addr().Unmap(), want.Port())
	if !ok || info.Remote != want {
		t.Errorf("got remote %v (found %v), want the client's address %v", info.Remote, ok, want)
	}
}

// TestTLSPlaintextRefused checks that a plain TCP client on the TLS port
// (a device misconfigured) is closed without harm, counted and logged, and
// that TLS clients are served on.
func TestTLSPlaintextRefused(t *testing.T) {
	t.Parallel()
	ts := startTLS(t, nil, nil)
	nc, err := net.DialTimeout("tcp", ts.TLSAddr().String(), testutil.Timeout)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.Write(testutil.Frame(codec.Header{Type: codec.TypeHello, ID: 1}, &codec.Hello{})); err != nil {
		t.Fatal(err)
	}
	_ = nc.SetReadDeadline(time.Now().Add(testutil.Timeout))
	if n, err := io.Copy(io.Discard, nc); err != nil && !errors.Is(err, net.ErrClosed) && !isReset(err) {
		t.Errorf("plaintext client: read %d bytes, then %v; want the connection closed", n, err)
	}
	testutil.WaitFor(t, "TLSHandshakeFails = 1", func() bool { return ts.Stats.TLSHandshakeFails.Load() == 1 })
	testutil.WaitFor(t, "a log line for the refused handshake", func() bool { // logged after it is counted
		log := ts.log.String()
		return strings.Contains(log, "tls: handshake failed") && strings.Contains(log, `reason="not TLS"`)
	})
	c := testutil.Dial(t, ts.TLSURL(), ts.options(nil))
	testutil.Join(t, c, "after")
	if got := ts.Stats.TCPConns.Load(); got != 1 {
		t.Errorf("Stats.TCPConns: got %d, want 1 (the TLS client; the refused one gave its slot back)", got)
	}
}

func isReset(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && strings.Contains(oe.Err.Error(), "reset")
}

// TestTLSHandshakeTimeout checks that a client that connects and sends
// nothing (slow loris) is closed after the handshake timeout and counted.
func TestTLSHandshakeTimeout(t *testing.T) {
	t.Parallel()
	const timeout = 200 * time.Millisecond
	ts := startTLS(t, nil, func(c *server.Config) { c.TLS.HandshakeTimeout = timeout })
	nc, err := net.DialTimeout("tcp", ts.TLSAddr().String(), testutil.Timeout)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	start := time.Now()
	_ = nc.SetReadDeadline(time.Now().Add(testutil.Timeout))
	n, err := nc.Read(make([]byte, 1))
	if took := time.Since(start); n != 0 || err == nil || took < timeout*9/10 || took > testutil.Timeout/2 {
		t.Errorf("silent client: read %d bytes, %v after %v; want the connection closed after %v", n, err, took, timeout)
	}
	testutil.WaitFor(t, "TLSHandshakeSlow = 1", func() bool { return ts.Stats.TLSHandshakeSlow.Load() == 1 })
	testutil.WaitFor(t, "the slot given back", func() bool { return ts.Stats.TCPConns.Load() == 0 })
}

// TestMTLS checks client certificates: none, or one from another CA, is
// refused and counted; a good one opens a session whose identity is the
// certificate's subject CN, or its first URI SAN when the CN is empty.
func TestMTLS(t *testing.T) {
	t.Parallel()
	devices := testutil.NewCA(t, "devices CA")
	other := testutil.NewCA(t, "another CA")
	ts := startTLS(t, devices, nil)
	spiffe, _ := url.Parse("spiffe://fleet.example/sensor/9")
	tests := []struct {
		name     string
		cert     *tls.Certificate
		identity string // "" means refused
	}{
		{name: "no certificate"},
		{name: "other CA", cert: ptr(other.Client(t, "device-1", nil))},
		{name: "expired", cert: ptr(devices.Client(t, "device-1", func(c *x509.Certificate) {
			c.NotAfter = time.Now().Add(-time.Minute)
		}))},
		{name: "CN", cert: ptr(devices.Client(t, "device-42", nil)), identity: "device-42"},
		{name: "URI SAN", cert: ptr(devices.Client(t, "", func(c *x509.Certificate) { c.URIs = []*url.URL{spiffe} })),
			identity: "spiffe://fleet.example/sensor/9"},
	}
	refused := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), testutil.Timeout)
			defer cancel()
			c, err := client.Dial(ctx, ts.TLSURL(), ts.options(tt.cert))
			if tt.identity == "" {
				refused++
				if err == nil {
					_ = c.Close()
					t.Fatalf("Dial succeeded, want it refused")
				}
				testutil.WaitFor(t, "TLSBadClientCerts to count it", func() bool {
					return ts.Stats.TLSBadClientCerts.Load() == uint64(refused)
				})
				return
			}
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			defer c.Close()
			info, ok := ts.Broker.LookupSession(c.SessionID())
			if !ok || info.Identity != tt.identity {
				t.Errorf("got identity %q (found %v), want %q", info.Identity, ok, tt.identity)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestTLSReload checks that after ReloadTLS a new connection gets the new
// certificate while a session opened before carries on, and that a reload
// of an invalid pair keeps the current one.
func TestTLSReload(t *testing.T) {
	t.Parallel()
	ts := startTLS(t, nil, nil)
	before := testutil.Dial(t, ts.TLSURL(), ts.options(nil))
	peer := testutil.Dial(t, ts.TCPURL(), nil)
	testutil.Join(t, before, "r")
	testutil.Join(t, peer, "r")

	newCert, newKey := ts.ca.Server(t, "server-b")
	replace(t, newCert, ts.certFile)
	replace(t, newKey, ts.keyFile)
	if err := ts.ReloadTLS(); err != nil {
		t.Fatalf("ReloadTLS: %v", err)
	}
	if cn := serverCN(t, ts); cn != "server-b" {
		t.Errorf("after reload: new connection got certificate %q, want server-b", cn)
	}
	testutil.Emit(t, peer, client.Emit{Rooms: []string{"r"}, Event: "after-reload"})
	if m := testutil.Recv(t, before); m.Event != "after-reload" {
		t.Errorf("session from before the reload: got event %q, want after-reload", m.Event)
	}
	testutil.Emit(t, before, client.Emit{Rooms: []string{"r"}, Event: "back"})
	if m := testutil.Recv(t, peer); m.Event != "back" {
		t.Errorf("peer: got event %q, want back", m.Event)
	}

	if err := os.WriteFile(ts.certFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ts.ReloadTLS(); err == nil {
		t.Errorf("ReloadTLS of an invalid certificate: got nil, want an error")
	}
	if log := ts.log.String(); !strings.Contains(log, "tls: reload failed; keeping the current certificates") {
		t.Errorf("log has no line for the failed reload:\n%s", log)
	}
	if cn := serverCN(t, ts); cn != "server-b" {
		t.Errorf("after a failed reload: got certificate %q, want server-b kept", cn)
	}
}

func replace(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err == nil {
		err = os.WriteFile(to, b, 0o600)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// serverCN opens a TLS connection and returns the subject CN of the
// server's certificate.
func serverCN(t *testing.T, ts *tlsServer) string {
	t.Helper()
	c := ts.dialRaw(t, nil)
	defer c.Close()
	if err := c.Handshake(); err != nil {
		t.Fatal(err)
	}
	return c.ConnectionState().PeerCertificates[0].Subject.CommonName
}

// TestTLSShutdownBye checks that Shutdown says BYE 301 to a TLS session,
// then ends the stream in order (close_notify, no truncation error).
func TestTLSShutdownBye(t *testing.T) {
	t.Parallel()
	// The raw client reads only after Shutdown returned, which waits the
	// close grace for it to close its side.
	ts := startTLS(t, nil, func(c *server.Config) { c.TLS.CloseGrace = 100 * time.Millisecond })
	c := ts.dialRaw(t, nil)
	c.hello()
	goClient := testutil.Dial(t, ts.TLSURL(), ts.options(nil))

	ctx, cancel := context.WithTimeout(context.Background(), testutil.Timeout)
	defer cancel()
	if err := ts.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	p, err := c.next()
	if err != nil {
		t.Fatalf("tls read: %v", err)
	}
	testutil.CheckError(t, p, codec.TypeBye, 0, codec.CodeShuttingDown)
	if p, err := c.next(); !errors.Is(err, io.EOF) {
		t.Errorf("after BYE: got %v, %v; want io.EOF (close_notify)", testutil.Describe(p), err)
	}
	<-goClient.Done()
	var se *client.ServerError
	if err := goClient.Err(); !errors.As(err, &se) || se.Code != codec.CodeShuttingDown {
		t.Errorf("Go client: got Err() = %v, want BYE %d", err, codec.CodeShuttingDown)
	}
	if got := ts.Stats.TLSConns.Load(); got != 0 {
		t.Errorf("Stats.TLSConns after Shutdown: got %d, want 0", got)
	}
}

// TestTLSOnly checks -tcp off with TLS on: no plain TCP listener, TLS
// sessions served.
func TestTLSOnly(t *testing.T) {
	t.Parallel()
	ts := startTLS(t, nil, func(c *server.Config) { c.DisableTCP = true })
	if a := ts.TCPAddr(); a != nil {
		t.Errorf("TCPAddr: got %v, want nil", a)
	}
	a := testutil.Dial(t, ts.TLSURL(), ts.options(nil))
	b := testutil.Dial(t, ts.UDPURL(), nil)
	testutil.Join(t, a, "r")
	testutil.Join(t, b, "r")
	testutil.Emit(t, b, client.Emit{Rooms: []string{"r"}, Event: "e"})
	if m := testutil.Recv(t, a); m.Event != "e" {
		t.Errorf("got event %q, want e", m.Event)
	}
}

// TestTLSClientEndsStream checks that the end of a TLS client's stream
// (close_notify and FIN, as a client closing its write side) ends its
// session as a plain TCP FIN does, and that the server then ends its
// side in order; and that BYE closes as on plain TCP.
func TestTLSClientEndsStream(t *testing.T) {
	t.Parallel()
	ts := startTLS(t, nil, nil)
	t.Run("close write", func(t *testing.T) {
		c := ts.dialRaw(t, nil)
		id := c.hello()
		if err := c.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		if p, err := c.next(); !errors.Is(err, io.EOF) {
			t.Errorf("after close_notify: got %v, %v; want io.EOF", testutil.Describe(p), err)
		}
		testutil.WaitFor(t, "the session to end", func() bool { _, ok := ts.Broker.LookupSession(id); return !ok })
	})
	t.Run("bye", func(t *testing.T) {
		c := ts.dialRaw(t, nil)
		id := c.hello()
		c.send(codec.Header{Type: codec.TypeBye}, &codec.Error{Code: uint16(codec.CodeNormal)})
		if p, err := c.next(); !errors.Is(err, io.EOF) {
			t.Errorf("after BYE: got %v, %v; want io.EOF", testutil.Describe(p), err)
		}
		testutil.WaitFor(t, "the session to end", func() bool { _, ok := ts.Broker.LookupSession(id); return !ok })
	})
	testutil.WaitFor(t, "TLSConns = 0", func() bool { return ts.Stats.TLSConns.Load() == 0 })
}

// TestTLSMaxConns checks that -max-conns counts TLS and plain TCP
// connections together: with one slot taken by a TCP client, a TLS
// client is refused before its handshake and counted; once the slot is
// free, it is served.
func TestTLSMaxConns(t *testing.T) {
	t.Parallel()
	ts := startTLS(t, nil, func(c *server.Config) { c.TCP.MaxConns = 1 })
	tcpClient := testutil.Dial(t, ts.TCPURL(), nil)
	ctx, cancel := context.WithTimeout(context.Background(), testutil.Timeout)
	defer cancel()
	if c, err := client.Dial(ctx, ts.TLSURL(), ts.options(nil)); err == nil {
		_ = c.Close()
		t.Fatal("TLS Dial over -max-conns succeeded, want it refused")
	}
	if got := ts.Stats.SessionsRefused.Load(); got != 1 {
		t.Errorf("Stats.SessionsRefused: got %d, want 1", got)
	}
	_ = tcpClient.Close()
	testutil.WaitFor(t, "the TCP slot to be free", func() bool { return ts.Stats.TCPConns.Load() == 0 })
	testutil.Join(t, testutil.Dial(t, ts.TLSURL(), ts.options(nil)), "r")
}

// TestMTLSResumeAfterCAReload checks that a client CA removed by a reload
// cannot be used through TLS session resumption (crypto/tls checks a
// resumed session's chains against the ClientCAs in force, and
// GetConfigForClient hands it the reloaded ones).
func TestMTLSResumeAfterCAReload(t *testing.T) {
	t.Parallel()
	oldCA := testutil.NewCA(t, "old devices CA")
	ts := startTLS(t, oldCA, nil)
	cert := oldCA.Client(t, "device-7", nil)
	cfg := &tls.Config{RootCAs: ts.ca.Pool(), Certificates: []tls.Certificate{cert},
		ClientSessionCache: tls.NewLRUClientSessionCache(4)}

	c := ts.dialRaw(t, cfg)
	c.hello()
	_ = c.Close()
	c = ts.dialRaw(t, cfg) // resumed: the same CA, accepted
	c.hello()
	if !c.ConnectionState().DidResume {
		t.Fatal("second connection did not resume; the test needs resumption")
	}
	_ = c.Close()

	caFile := ts.caFile(t)
	if err := os.WriteFile(caFile, testutil.NewCA(t, "new devices CA").PEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ts.ReloadTLS(); err != nil {
		t.Fatalf("ReloadTLS: %v", err)
	}
	c = ts.dialRaw(t, cfg)
	c.send(codec.Header{Type: codec.TypeHello, ID: 1}, &codec.Hello{})
	if p, err := c.next(); err == nil {
		t.Errorf("resumed with a certificate of a removed CA: got %v, want the handshake refused", testutil.Describe(p))
	}
}

// TestTLSSlowReader checks that a TLS client that stops reading is
// disconnected once a write to it has blocked for the write timeout, and
// that the publisher and the other subscribers are not slowed.
func TestTLSSlowReader(t *testing.T) {
	t.Parallel()
	ts := startTLS(t, nil, func(c *server.Config) {
		c.TLS.WriteTimeout = 300 * time.Millisecond
		c.TCP.MaxOutbound = 256 << 10
	})
	nc, err := net.DialTimeout("tcp", ts.TLSAddr().String(), testutil.Timeout)
	if err != nil {
		t.Fatal(err)
	}
	_ = nc.(*net.TCPConn).SetReadBuffer(4 << 10)
	tc := tls.Client(nc, &tls.Config{RootCAs: ts.ca.Pool(), ServerName: "127.0.0.1"})
	t.Cleanup(func() { _ = tc.Close() })
	stalled := &rawTLS{Conn: tc, t: t, fr: codec.NewFrameReader(tc, 64<<20)}
	id := stalled.hello()
	stalled.send(codec.Header{Type: codec.TypeJoin, ID: 2}, testutil.Rooms("flood"))
	stalled.expect(codec.TypeAck, 2)

	reader := testutil.Dial(t, ts.TLSURL(), ts.options(nil))
	testutil.Join(t, reader, "flood")
	pub := testutil.Dial(t, ts.TCPURL(), nil)
	payload := make([]byte, 1000)
	done := make(chan struct{})
	go func() { // the healthy subscriber keeps reading
		defer close(done)
		for range reader.Messages() {
		}
	}()
	deadline := time.Now().Add(testutil.Timeout)
	for {
		if _, ok := ts.Broker.LookupSession(id); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stalled TLS session is still open after %v of flooding", testutil.Timeout)
		}
		for range 200 {
			testutil.Emit(t, pub, client.Emit{Rooms: []string{"flood"}, Data: payload})
		}
		time.Sleep(time.Millisecond)
	}
	testutil.WaitFor(t, "TLSConns = 1 (the healthy subscriber)", func() bool { return ts.Stats.TLSConns.Load() == 1 })
	testutil.Join(t, pub, "after-flood") // a round trip: the publisher is served
	if _, ok := ts.Broker.LookupSession(reader.SessionID()); !ok {
		t.Errorf("the healthy TLS subscriber lost its session")
	}
}

// TestTLSProtocolError checks the fatal-ERROR path over TLS: a malformed
// packet gets ERROR, then the server ends its stream in order
// (close_notify, FIN) and counts it, as on plain TCP.
func TestTLSProtocolError(t *testing.T) {
	t.Parallel()
	ts := startTLS(t, nil, nil)
	c := ts.dialRaw(t, nil)
	c.hello()
	_ = c.SetWriteDeadline(time.Now().Add(testutil.Timeout))
	if _, err := c.Write(testutil.RawFrame(bytes.Repeat([]byte{0xFF}, 16))); err != nil {
		t.Fatal(err)
	}
	p, err := c.next()
	if err != nil {
		t.Fatalf("tls read: %v", err)
	}
	testutil.CheckError(t, p, codec.TypeError, 0, codec.CodeUnsupportedVersion)
	if p, err := c.next(); !errors.Is(err, io.EOF) {
		t.Errorf("after ERROR: got %v, %v; want io.EOF (close_notify)", testutil.Describe(p), err)
	}
	if got := ts.Stats.ProtocolErrors.Load(); got != 1 {
		t.Errorf("Stats.ProtocolErrors: got %d, want 1", got)
	}
}

// TestTLSVersions checks the versions served: 1.3 and 1.2 (with a client
// certificate too, as embedded stacks do it), not 1.1; and a TLS 1.2
// client that offers only CBC suites is refused.
func TestTLSVersions(t *testing.T) {
	t.Parallel()
	devices := testutil.NewCA(t, "devices CA")
	ts := startTLS(t, devices, nil)
	cert := devices.Client(t, "mcu-1", nil)
	tests := []struct {
		name   string
		min    uint16
		max    uint16
		suites []uint16
		want   uint16 // 0: refused
	}{
		{name: "1.3", min: tls.VersionTLS13, max: tls.VersionTLS13, want: tls.VersionTLS13},
		{name: "1.2", min: tls.VersionTLS12, max: tls.VersionTLS12, want: tls.VersionTLS12},
		{name: "1.2 ECDHE-ECDSA-AES128-GCM", min: tls.VersionTLS12, max: tls.VersionTLS12,
			suites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}, want: tls.VersionTLS12},
		{name: "1.2 CBC only", min: tls.VersionTLS12, max: tls.VersionTLS12,
			suites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}},
		{name: "1.1", min: tls.VersionTLS11, max: tls.VersionTLS11},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &tls.Config{RootCAs: ts.ca.Pool(), Certificates: []tls.Certificate{cert},
				MinVersion: tt.min, MaxVersion: tt.max, CipherSuites: tt.suites}
			d := tls.Dialer{NetDialer: &net.Dialer{Timeout: testutil.Timeout}, Config: cfg}
			nc, err := d.Dial("tcp", ts.TLSAddr().String())
			if tt.want == 0 {
				if err == nil {
					_ = nc.Close()
					t.Fatal("handshake succeeded, want it refused")
				}
				return
			}
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			c := &rawTLS{Conn: nc.(*tls.Conn), t: t, fr: codec.NewFrameReader(nc, 64<<20)}
			defer c.Close()
			id := c.hello()
			if v := c.ConnectionState().Version; v != tt.want {
				t.Errorf("got version %x, want %x", v, tt.want)
			}
			if info, _ := ts.Broker.LookupSession(id); info.Identity != "mcu-1" {
				t.Errorf("got identity %q, want mcu-1", info.Identity)
			}
		})
	}
}
