package main

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/testutil"
)

// startWithLog starts cmd (packetd with -log-format json) and returns its
// listen addresses and the log lines that follow "packetd started".
func startWithLog(t *testing.T, cmd *exec.Cmd) (map[string]string, <-chan string) {
	t.Helper()
	dieWithTest(cmd)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := make(chan string, 100)
	addrs := map[string]string{}
	started := make(chan struct{})
	go func() {
		defer close(lines)
		addrRE := regexp.MustCompile(`"transport":"(tcp|udp|tls)","addr":"([^"]+)"`)
		sc := bufio.NewScanner(stderr)
		up := false
		for sc.Scan() {
			switch {
			case up:
				lines <- sc.Text()
			case strings.Contains(sc.Text(), `"msg":"packetd started"`):
				up = true
				close(started)
			default:
				if m := addrRE.FindStringSubmatch(sc.Text()); m != nil {
					addrs[m[1]] = m[2]
				}
			}
		}
	}()
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("packetd did not start within 30s")
	}
	return addrs, lines
}

// waitLine returns the first log line containing want.
func waitLine(t *testing.T, lines <-chan string, want string) string {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("packetd exited before logging %q", want)
			}
			if strings.Contains(l, want) {
				return l
			}
		case <-timeout:
			t.Fatalf("no log line with %q within 10 s", want)
		}
	}
}

// TestSIGHUPReloadsConfig changes the config file under a running packetd
// and sends SIGHUP: the rate limit it turns on applies to the next
// packets of a session opened before, a setting that needs a restart is
// named in a warning, and an invalid file changes nothing.
func TestSIGHUPReloadsConfig(t *testing.T) {
	bin := buildPacketd(t)
	file := filepath.Join(t.TempDir(), "packetd.yaml")
	write := func(s string) {
		if err := os.WriteFile(file, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("tcp: \"127.0.0.1:0\"\nudp: \"off\"\nmemory: true\nlog-format: json\nmax-conns: 100\n")
	cmd := exec.Command(bin, "-config", file)
	addrs, lines := startWithLog(t, cmd)

	c, err := net.Dial("tcp", addrs["tcp"])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	conn := &rawTCP{c: c, fr: codec.NewFrameReader(c, codec.DefaultMaxFrame)}
	conn.send(t, codec.Header{Type: codec.TypeHello, ID: 1}, &codec.Hello{})
	if p := conn.next(t); p.Type != codec.TypeWelcome {
		t.Fatalf("got %v, want WELCOME", p.Type)
	}

	write("tcp: \"127.0.0.1:0\"\nudp: \"off\"\nmemory: true\nlog-format: json\nmax-conns: 200\nsession-packet-rate: 3\n")
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if l := waitLine(t, lines, "take effect on a restart"); !strings.Contains(l, `"settings":"max-conns"`) {
		t.Errorf("restart warning: %s", l)
	}
	if l := waitLine(t, lines, "SIGHUP: reloaded"); !strings.Contains(l, `"changed":"session-packet-rate"`) {
		t.Errorf("reload line: %s", l)
	}
	for i := range 5 { // the burst is 3
		conn.send(t, codec.Header{Type: codec.TypePing, ID: uint32(10 + i)}, &codec.Ping{})
	}
	for i := range 3 {
		if p := conn.next(t); p.Type != codec.TypePong {
			t.Fatalf("packet %d: got %v, want PONG", i+1, p.Type)
		}
	}
	testutil.CheckError(t, conn.next(t), codec.TypeError, 0, codec.CodeRateLimited)

	write("max-conns: many\n")
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if l := waitLine(t, lines, "configuration is invalid"); !strings.Contains(l, `max-conns: \"many\"`) {
		t.Errorf("invalid file: %s", l)
	}
	waitLine(t, lines, "SIGHUP: reloaded")
}
