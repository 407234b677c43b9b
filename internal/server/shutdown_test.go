package server_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/packetd/packetd/client"
	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/testutil"
)

// TestGracefulShutdown checks that Shutdown says BYE 301 to every session
// of both transports (and ERROR 301 to a connection still in its
// handshake), closes TCP connections in order, ends every session, and
// returns promptly.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, nil)
	goClients := []*client.Client{
		testutil.Dial(t, srv.TCPURL(), nil),
		testutil.Dial(t, srv.UDPURL(), nil),
	}
	for _, c := range goClients {
		testutil.Join(t, c, "r")
	}
	rawTCP := testutil.DialTCP(t, srv)
	rawTCP.Hello(0)
	rawTCP.Join(1, "r")
	handshaking := testutil.DialTCP(t, srv)
	rawUDP := testutil.ListenUDP(t, srv)
	rawUDP.Hello(1, 0, codec.MinHelloDatagram)
	rawUDP.Join(2, "r")
	unvalidated := testutil.ListenUDP(t, srv) // HELLO only: the BYE fits its 3x budget
	unvalidated.Hello(1, 0, codec.MinHelloDatagram)
	// The handshaking connection is registered once the server answers a
	// later connection (one event loop accepts in order).
	testutil.DialTCP(t, srv).Hello(0)

	ctx, cancel := context.WithTimeout(context.Background(), testutil.Timeout)
	defer cancel()
	start := time.Now()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	// gnet's Engine.Stop polls every 500 ms, once per transport.
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("Shutdown took %v, want under 3 s", took)
	}

	for _, c := range goClients {
		select {
		case <-c.Done():
		case <-time.After(testutil.Timeout):
			t.Fatalf("client %s still open %v after Shutdown", c.SessionID(), testutil.Timeout)
		}
		var se *client.ServerError
		if err := c.Err(); !errors.As(err, &se) || se.Code != codec.CodeShuttingDown {
			t.Errorf("client %s: got Err() = %v, want a *client.ServerError with code %d", c.SessionID(), err, codec.CodeShuttingDown)
		}
	}
	testutil.CheckError(t, rawTCP.MustNext(), codec.TypeBye, 0, codec.CodeShuttingDown)
	rawTCP.ExpectEOF()
	handshaking.ExpectError(0, codec.CodeShuttingDown)
	handshaking.ExpectEOF()
	testutil.CheckError(t, rawUDP.MustNext(), codec.TypeBye, 0, codec.CodeShuttingDown)
	testutil.CheckError(t, unvalidated.MustNext(), codec.TypeBye, 0, codec.CodeShuttingDown)
	if sent := codec.MinHelloDatagram; unvalidated.Received > 3*sent {
		t.Errorf("unvalidated address: sent %d bytes for %d, want at most %d", unvalidated.Received, sent, 3*sent)
	}

	if got := srv.Broker.Sessions(); got != 0 {
		t.Errorf("Broker.Sessions after Shutdown: got %d, want 0", got)
	}
	if got := srv.Adapter.Members("r"); got != nil {
		t.Errorf("Members(r) after Shutdown: got %q, want nil", got)
	}
	if got := srv.Stats.UDPSessions.Load(); got != 0 {
		t.Errorf("Stats.UDPSessions after Shutdown: got %d, want 0", got)
	}
	if c, err := net.DialTimeout("tcp", srv.TCPAddr().String(), time.Second); err == nil {
		_ = c.Close()
		t.Errorf("TCP listener still accepts after Shutdown")
	}
}
