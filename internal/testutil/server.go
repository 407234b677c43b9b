// Package testutil holds what packetd's integration tests share: an
// in-process server on 127.0.0.1 random ports that shuts down at the end of
// the test, Go clients that close at the end of the test, raw TCP and UDP
// peers built on codec that write exact bytes and read exact packets, and a
// recorder of room events.
//
// Helpers take a testing.TB and fail the test themselves; the ones that may
// run on a goroutine other than the test's report with Errorf and return an
// error instead. A raw peer is not safe for concurrent use (one goroutine
// reads it, one writes it); Server, Events and the functions are.
package testutil

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/packetd/packetd/client"
	"github.com/packetd/packetd/internal/server"
)

// Timeout bounds every wait for something that must happen: a reply, a
// message, a counter reaching a value, a close.
const Timeout = 10 * time.Second

// Server is a running in-process server.
type Server struct {
	*server.Server

	once sync.Once
	err  error
}

// Start starts a server listening on 127.0.0.1 random ports for both
// transports, with sweep ticks of 20 ms so that configured timeouts fire on
// time, after configure (if not nil) adjusted the Config. The server is
// shut down when the test ends. Set PACKETD_TEST_LOG=1 to see its log.
func Start(t testing.TB, configure func(*server.Config)) *Server {
	t.Helper()
	var cfg server.Config
	cfg.TCP.Addr = "127.0.0.1:0"
	cfg.UDP.Addr = "127.0.0.1:0"
	cfg.TCP.TickInterval = 20 * time.Millisecond
	cfg.UDP.TickInterval = 20 * time.Millisecond
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("PACKETD_TEST_LOG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if configure != nil {
		configure(&cfg)
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	if err := srv.Start(); err != nil {
		t.Fatalf("server.Start: %v", err)
	}
	s := &Server{Server: srv}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), Timeout)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return s
}

// Shutdown shuts the server down once; later calls return the first call's
// result.
func (s *Server) Shutdown(ctx context.Context) error {
	s.once.Do(func() { s.err = s.Server.Shutdown(ctx) })
	return s.err
}

// TCPURL returns the client URL of the TCP listener.
func (s *Server) TCPURL() string { return "tcp://" + s.TCPAddr().String() }

// UDPURL returns the client URL of the UDP socket.
func (s *Server) UDPURL() string { return "udp://" + s.UDPAddr().String() }

// Dial opens a Go client session to url and closes it when the test ends.
func Dial(t testing.TB, url string, opts *client.Options) *client.Client {
	t.Helper()
	c, err := DialErr(t, url, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// DialErr is Dial for goroutines other than the test's: it returns the
// error instead of failing the test.
func DialErr(t testing.TB, url string, opts *client.Options) (*client.Client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	c, err := client.Dial(ctx, url, opts)
	if err != nil {
		return nil, fmt.Errorf("client.Dial(%s): %w", url, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, nil
}

// Join joins c to rooms, failing the test if the server does not ACK.
func Join(t testing.TB, c *client.Client, rooms ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	if err := c.Join(ctx, rooms...); err != nil {
		t.Fatalf("%s: Join(%q): %v", c.SessionID(), rooms, err)
	}
}

// Emit sends an EMIT from c, failing the test on a local error.
func Emit(t testing.TB, c *client.Client, e client.Emit) {
	t.Helper()
	if err := c.Emit(e); err != nil {
		t.Fatalf("%s: Emit: %v", c.SessionID(), err)
	}
}

// Recv returns c's next MESSAGE, failing the test if none comes within
// Timeout or the client closes.
func Recv(t testing.TB, c *client.Client) *client.Message {
	t.Helper()
	timer := time.NewTimer(Timeout)
	defer timer.Stop()
	select {
	case m, ok := <-c.Messages():
		if !ok {
			t.Fatalf("%s: client closed while waiting for a message: %v", c.SessionID(), c.Err())
		}
		return m
	case <-timer.C:
		t.Fatalf("%s: no message within %v", c.SessionID(), Timeout)
	}
	return nil
}

// WaitFor polls cond until it holds, failing the test after Timeout. It is
// for state that has no signal to wait on (counters); prefer a reply.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", Timeout, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
