package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/packetd/packetd/internal/server"
)

// The child announces itself with one JSON line on stderr, and reports its
// counters with another when it stops:
//
//	{"packetbench_server":{"pid":1234,"tcp":"127.0.0.1:40113","udp":"127.0.0.1:51234","tls":"127.0.0.1:40115"}}
//	{"packetbench_server_stats":{"Emits":100000,...}}
const (
	readyKey = "packetbench_server"
	statsKey = "packetbench_server_stats"
)

// readyLine is the child's first JSON line.
type readyLine struct {
	PID int    `json:"pid"`
	TCP string `json:"tcp,omitempty"`
	UDP string `json:"udp,omitempty"`
	TLS string `json:"tls,omitempty"` // with -tls-addr
}

// RunServer is the child side of Spawn (the hidden `packetbench server`
// subcommand): it runs packetd's internal/server with packetd's flags
// (args, as cmd/packetd takes them; the store is in memory unless
// -data-dir is given), writes its addresses as one JSON line on stderr,
// and serves until ctx ends or its standard input reaches end of file
// (the parent died or closed it). On the way out it writes its counters
// as a second JSON line.
func RunServer(ctx context.Context, args []string, stdin io.Reader, stderr io.Writer) error {
	cfg, level, err := parseServerFlags(args)
	if err != nil {
		return fmt.Errorf("server flags: %w", err)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	srv, err := server.New(cfg)
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	ready := readyLine{PID: os.Getpid()}
	if a := srv.TCPAddr(); a != nil {
		ready.TCP = a.String()
	}
	if a := srv.UDPAddr(); a != nil {
		ready.UDP = a.String()
	}
	if a := srv.TLSAddr(); a != nil {
		ready.TLS = a.String()
	}
	if err := writeJSONLine(stderr, readyKey, ready); err != nil {
		_ = srv.Shutdown(context.Background())
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if stdin != nil {
		go func() {
			_, _ = io.Copy(io.Discard, stdin)
			cancel()
		}()
	}
	<-ctx.Done()
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	err = srv.Shutdown(sctx)
	_ = writeJSONLine(stderr, statsKey, srv.Stats.Snapshot())
	return err
}

func writeJSONLine(w io.Writer, key string, v any) error {
	b, err := json.Marshal(map[string]any{key: v})
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// parseServerFlags reads packetd's flags (docs/OPERATIONS.md) with the
// same names and defaults, except the listen addresses (127.0.0.1, random
// ports), the store (memory unless -data-dir), and the log level (warn).
// Its errors are one line: the flag set's usage is not printed.
func parseServerFlags(args []string) (server.Config, slog.Level, error) {
	fs := flag.NewFlagSet("packetbench server", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	flags := server.AddFlags(fs, server.FlagDefaults{TCPAddr: "127.0.0.1:0", UDPAddr: "127.0.0.1:0", LogLevel: "warn"})
	if err := fs.Parse(args); err != nil {
		if name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: "); ok {
			return server.Config{}, 0, fmt.Errorf("packetd has no flag %s", name)
		}
		if errors.Is(err, flag.ErrHelp) {
			return server.Config{}, 0, errors.New("-h: packetd's flags are listed in docs/OPERATIONS.md")
		}
		return server.Config{}, 0, err
	}
	if fs.NArg() > 0 {
		return server.Config{}, 0, fmt.Errorf("%q is not a flag: write packetd's flags as -name=value", fs.Arg(0))
	}
	c, err := flags.Config()
	if err != nil {
		return c, 0, err
	}
	lv, err := flags.LogLevel()
	if err != nil {
		return c, 0, err
	}
	return c, lv, nil
}

// checkServerFlags parses the spawned server's flags as the server will,
// so that a bad one fails here, in one line, before anything is spawned.
// It returns the server's configuration.
func checkServerFlags(flags []string) (server.Config, error) {
	c, _, err := parseServerFlags(flags)
	if err != nil {
		msg := strings.ReplaceAll(err.Error(), "broker: ", "")
		return c, configError("--server-flag: %s (packetd's flags: docs/OPERATIONS.md)", msg)
	}
	return c, nil
}

// SpawnConfig says how to start a server child.
type SpawnConfig struct {
	// Command is the program and its leading arguments; empty means this
	// executable with the argument "server" (packetbench's hidden
	// subcommand, which calls RunServer).
	Command []string
	// Flags are passed to the server after the listen addresses, in
	// packetd's syntax: "-data-dir=/tmp/pd", "-tcp-loops=2".
	Flags []string
	// Env is added to the child's environment ("KEY=value").
	Env []string
	// Timeout bounds the wait for the child's addresses; 0 means 10 s.
	Timeout time.Duration
}

// Spawned is a server child process. Its methods are safe for concurrent
// use.
type Spawned struct {
	PID           int
	TCP, UDP, TLS string // listen addresses, "" for a disabled transport

	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{} // closed when the stderr reader has seen EOF
	mu    sync.Mutex    // guards the fields below
	tail  []string      // the child's last log lines
	stats map[string]int64
	err   error // set once Stop has waited
	once  sync.Once
}

// Spawn starts a server child on 127.0.0.1 random ports and waits for its
// addresses. The child dies with the parent: it serves until its standard
// input (a pipe from this process) closes, and gets SIGKILL should this
// process die first. It runs in a process group of its own, out of reach
// of the terminal's Ctrl-C.
func Spawn(ctx context.Context, sc SpawnConfig) (*Spawned, error) {
	argv := sc.Command
	if len(argv) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("bench: spawn: %w", err)
		}
		argv = []string{exe, "server"}
	}
	args := append(append(argv[1:len(argv):len(argv)], "-tcp=127.0.0.1:0", "-udp=127.0.0.1:0"), sc.Flags...)
	cmd := exec.Command(argv[0], args...)
	// Its own process group: a Ctrl-C at the terminal interrupts the
	// run, which then stops the server itself once it has read its
	// counters.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if len(sc.Env) > 0 {
		cmd.Env = append(os.Environ(), sc.Env...)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("bench: spawn: %w", err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("bench: spawn: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: spawn %s: %w", argv[0], err)
	}
	s := &Spawned{PID: cmd.Process.Pid, cmd: cmd, stdin: stdin, done: make(chan struct{})}
	ready := make(chan readyLine, 1)
	go s.readLog(stderr, ready)

	timeout := sc.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case r := <-ready:
		s.TCP, s.UDP, s.TLS = r.TCP, r.UDP, r.TLS
		return s, nil
	case <-s.done:
		err = errors.New("exited before it listened")
	case <-t.C:
		err = fmt.Errorf("did not listen within %v", timeout)
	case <-ctx.Done():
		err = ctx.Err()
	}
	_, _ = s.Stop()
	return nil, fmt.Errorf("bench: server %s: %w%s", strings.Join(append(argv, sc.Flags...), " "), err, s.logTail())
}

// readLog reads the child's stderr: its ready line, its stats line, and
// the rest kept as a tail for error messages.
func (s *Spawned) readLog(r io.Reader, ready chan<- readyLine) {
	defer close(s.done)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if bytes.HasPrefix(line, []byte(`{"`+readyKey+`":`)) {
			var m map[string]readyLine
			if json.Unmarshal(line, &m) == nil {
				ready <- m[readyKey]
				continue
			}
		}
		if bytes.HasPrefix(line, []byte(`{"`+statsKey+`":`)) {
			var m map[string]map[string]int64
			if json.Unmarshal(line, &m) == nil {
				s.mu.Lock()
				s.stats = m[statsKey]
				s.mu.Unlock()
				continue
			}
		}
		s.mu.Lock()
		if len(s.tail) == 20 {
			s.tail = append(s.tail[:0], s.tail[1:]...)
		}
		s.tail = append(s.tail, string(line))
		s.mu.Unlock()
	}
	_, _ = io.Copy(io.Discard, r)
}

func (s *Spawned) logTail() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.tail) == 0 {
		return ""
	}
	return "; its log:\n\t" + strings.Join(s.tail, "\n\t")
}

// Stat reads the child's CPU time and memory from /proc.
func (s *Spawned) Stat() (ProcStat, error) { return ReadProcStat(s.PID) }

// Stop asks the child to stop (its standard input closes), waits up to 10
// seconds for it, then kills it, and returns the counters it reported on
// the way out (nil if it reported none). Only the first call stops; later
// calls return the same result.
func (s *Spawned) Stop() (map[string]int64, error) {
	s.once.Do(func() {
		_ = s.stdin.Close()
		waited := make(chan error, 1)
		go func() {
			<-s.done // the pipe must be drained before Wait
			waited <- s.cmd.Wait()
		}()
		var err error
		select {
		case err = <-waited:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			err = <-waited
		}
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats, s.err
}
