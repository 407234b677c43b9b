package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/packetd/packetd/client"
	"github.com/packetd/packetd/codec"
)

// TestFlagsDocumented keeps docs/OPERATIONS.md complete: every flag must
// appear in its table with its default.
func TestFlagsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/OPERATIONS.md")
	if err != nil {
		t.Fatal(err)
	}
	var help bytes.Buffer
	if _, err := parse([]string{"-h"}, nil, &help); err == nil {
		t.Fatal("-h did not stop parsing")
	}
	flagLine := regexp.MustCompile(`(?m)^  -([a-z0-9-]+)`)
	flags := flagLine.FindAllStringSubmatch(help.String(), -1)
	if len(flags) < 10 {
		t.Fatalf("found %d flags in -h output, want many:\n%s", len(flags), help.String())
	}
	for _, f := range flags {
		if !strings.Contains(string(doc), "| `-"+f[1]+"` |") {
			t.Errorf("flag -%s is not in docs/OPERATIONS.md's table", f[1])
		}
	}
}

func TestParseDisables(t *testing.T) {
	o, err := parse([]string{"-tcp", "off", "-handshake-timeout", "3s"}, nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !o.cfg.DisableTCP || o.cfg.DisableUDP {
		t.Errorf("DisableTCP, DisableUDP = %v, %v; want true, false", o.cfg.DisableTCP, o.cfg.DisableUDP)
	}
	if o.cfg.UDP.HandshakeTimeout != 3*time.Second {
		t.Errorf("UDP handshake timeout = %v, want 3s", o.cfg.UDP.HandshakeTimeout)
	}
	if _, err := parse([]string{"stray"}, nil, io.Discard); err == nil {
		t.Error("a positional argument was accepted")
	}
}

// TestSignalShutdown runs the real binary: it serves both transports, and
// SIGTERM makes it say BYE to a connected client and exit 0.
func TestSignalShutdown(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildPacketd(t)
	cmd := exec.Command(bin, "-tcp", "127.0.0.1:0", "-udp", "127.0.0.1:0", "-log-format", "json", "-data-dir", t.TempDir())
	addrs := startLogged(t, cmd)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tc, err := client.Dial(ctx, "tcp://"+addrs["tcp"], nil)
	if err != nil {
		t.Fatal(err)
	}
	uc, err := client.Dial(ctx, "udp://"+addrs["udp"], nil)
	if err != nil {
		t.Fatal(err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*client.Client{tc, uc} {
		select {
		case <-c.Done():
		case <-ctx.Done():
			t.Fatal("client not disconnected after SIGTERM")
		}
		se, ok := c.Err().(*client.ServerError)
		if !ok || se.Code != codec.CodeShuttingDown {
			t.Errorf("client error = %v, want BYE %d", c.Err(), codec.CodeShuttingDown)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("packetd exited with %v, want 0", err)
	}
}

// startLogged starts a packetd command logging JSON to stderr and returns
// its listen addresses by transport, read from the log.
func startLogged(t *testing.T, cmd *exec.Cmd) map[string]string {
	t.Helper()
	addrs, lines := startWithLog(t, cmd)
	go func() {
		for range lines { // read what follows, so that packetd never blocks on its log
		}
	}()
	return addrs
}

// TestDescriptorExhaustion runs packetd with 64 file descriptors and lets
// more clients connect than it can hold: accepts fail with EMFILE, and the
// server must pause and carry on, serving clients again once descriptors
// are free, where gnet's own acceptor would have stopped the engine.
func TestDescriptorExhaustion(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildPacketd(t)
	cmd := exec.Command("bash", "-c", "ulimit -n 64 && exec "+bin+
		" -tcp 127.0.0.1:0 -udp off -max-conns 1000 -log-format json -memory")
	addr := startLogged(t, cmd)["tcp"]

	var held []net.Conn
	for range 100 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	for _, c := range held {
		c.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		c, err := client.Dial(ctx, "tcp://"+addr, nil)
		if err == nil {
			c.Close()
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("server no longer serves after descriptor exhaustion: %v", err)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("packetd exited with %v, want 0", err)
	}
}

// buildPacketd builds this command into a temporary directory (skipped
// with -short).
func buildPacketd(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := filepath.Join(t.TempDir(), "packetd")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}
