package cclient_test

// These tests build the C client of this directory with gcc and run it
// against an in-process packetd, over TCP and over UDP, together with the
// Go client. The C client prints one line per protocol event; the test
// reads them one by one and reacts, so nothing here waits on a timer
// except to give up.

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/packetd/packetd/client"
	"github.com/packetd/packetd/internal/auth"
	"github.com/packetd/packetd/internal/server"
)

const lineTimeout = 10 * time.Second

func TestCClient(t *testing.T) {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc not on PATH")
	}
	bin := filepath.Join(t.TempDir(), "client")
	build := exec.Command(gcc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-O2",
		"-o", bin, "src/main.c", "src/packetd.c", "src/selftest.c")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}

	var cfg server.Config
	cfg.TCP.Addr = "127.0.0.1:0"
	cfg.UDP.Addr = "127.0.0.1:0"
	env := &env{bin: bin, srv: startServer(t, cfg)}
	// A TCP server with a small max_frame, for ERROR 205 (section 5.1).
	var small server.Config
	small.TCP.Addr = "127.0.0.1:0"
	small.TCP.MaxFrame = smallMaxFrame
	small.DisableUDP = true
	env.small = startServer(t, small)
	// A server with a credentials file (anonymous Go clients allowed), for
	// HELLO's user and pass (section 4.1.1).
	var authCfg server.Config
	authCfg.TCP.Addr = "127.0.0.1:0"
	authCfg.UDP.Addr = "127.0.0.1:0"
	authCfg.Auth = auth.Config{File: credsFile(t), Anonymous: auth.AnonymousAllow}
	env.authSrv = startServer(t, authCfg)

	t.Run("selftest", func(t *testing.T) {
		p := env.start(t, "selftest")
		p.expect("selftest ok")
		p.exit()
	})
	// The subtests run in parallel; t.Run returns when all are done, so
	// the server outlives them.
	t.Run("server", func(t *testing.T) {
		for _, tc := range []struct{ transport, scenario string }{
			{"tcp", ""}, {"udp", ""}, {"udp", "rebind"}, {"udp", "lossy"},
		} {
			name := strings.Trim(tc.transport+"-"+tc.scenario, "-")
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				env.demo(t, tc.transport, tc.scenario, "room-"+name)
			})
		}
		for _, tc := range badFrames {
			t.Run("tcp-bad-"+tc.name, func(t *testing.T) {
				t.Parallel()
				env.bad(t, tc)
			})
		}
		t.Run("udp-drop", func(t *testing.T) {
			t.Parallel()
			p := env.udp(t, "udp-drop")
			p.expect("sent 8 bad datagrams")
			// section 6.7: no answer to any of them; the PING sent after
			// them (id 0x7777) is answered first, and the session lives
			p.expect("first answer type=9 id=30583")
			p.expect("pong token=01020304")
			p.expect("bye")
			p.exit()
		})
		t.Run("udp-unknown", func(t *testing.T) {
			t.Parallel()
			p := env.udp(t, "udp-unknown")
			// section 6.7: ERROR 305 carrying the id of the packet (0x5555)
			p.expect("error code=305 id=21845")
			p.expect("pong token=01020304")
			p.expect("bye")
			p.exit()
		})
		for _, transport := range []string{"tcp", "udp"} {
			t.Run(transport+"-auth", func(t *testing.T) {
				t.Parallel()
				env.auth(t, transport)
			})
		}
		t.Run("udp-shorthello", func(t *testing.T) {
			t.Parallel()
			host, port := hostPort(t, env.srv.UDPAddr())
			p := env.start(t, "udp", host, port, "r", "udp-shorthello")
			p.expect("welcome sid=")
			// section 6.2: the 31-byte HELLO before it got no WELCOME
			p.expect("stray-welcomes=0")
			p.expect("bye")
			p.exit()
		})
	})
}

// smallMaxFrame is the max_frame of env.small: the WELCOME (103 bytes)
// fits, and so does the C client's EMIT of exactly this size, whose MESSAGE
// would not.
const smallMaxFrame = 256

type env struct {
	bin     string
	srv     *server.Server
	small   *server.Server
	authSrv *server.Server
}

// credsFile writes a credentials file with the user "c-device",
// password "c-secret", allowed the rooms "c-auth/..." only.
func credsFile(t *testing.T) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte("c-secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "creds.yaml")
	body := "users:\n  c-device:\n    hash: \"" + string(h) + "\"\n    join: [\"c-auth/#\"]\n    emit: [\"c-auth/#\"]\n"
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// auth runs the C client with credentials: with the right password it
// runs its demo in a room it may use; with a wrong one its HELLO is
// refused with ERROR 308; in a room it may not join, its JOIN gets 207.
func (e *env) auth(t *testing.T, transport string) {
	addr := e.authSrv.TCPAddr()
	if transport == "udp" {
		addr = e.authSrv.UDPAddr()
	}
	host, port := hostPort(t, addr)

	p := e.startWith(t, []string{"PD_USER=c-device", "PD_PASS=wrong"}, transport, host, port, "c-auth/x")
	if l := p.expect("fail hello "); !strings.Contains(l, "code=308") {
		t.Errorf("wrong password: got %q, want code=308", l)
	}
	if p.wait(); p.err == nil {
		t.Error("wrong password: the C client exited 0")
	}

	p = e.startWith(t, []string{"PD_USER=c-device", "PD_PASS=c-secret"}, transport, host, port, "elsewhere")
	p.expect("welcome sid=")
	p.expect("fail join rc=") // ERROR 207: PD_EREJECT
	p.wait()

	room := "c-auth/" + transport
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	goc, err := client.Dial(ctx, "tcp://"+e.authSrv.TCPAddr().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer goc.Close()
	if err := goc.Join(ctx, room); err != nil {
		t.Fatal(err)
	}
	p = e.startWith(t, []string{"PD_USER=c-device", "PD_PASS=c-secret"}, transport, host, port, room)
	p.expect("welcome sid=")
	p.expect("joined room=" + room)
	raw, _ := msgpack.Marshal("hi")
	if err := goc.Emit(client.Emit{Rooms: []string{room}, Event: "ev", Raw: raw}); err != nil {
		t.Fatal(err)
	}
	p.expect("message ")
	p.expect("emitted event=reply")
	p.expect("pong token=")
	p.expect("bye")
	p.wait()
}

// startServer starts an in-process packetd that stops when the test and
// all its subtests are done.
func startServer(t *testing.T, cfg server.Config) *server.Server {
	t.Helper()
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return srv
}

var sidRE = regexp.MustCompile(`^\$[0-9a-f]{16}$`)

// demo runs the C client's main flow against a Go client in room.
func (e *env) demo(t *testing.T, transport, scenario, room string) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	goc, err := client.Dial(ctx, "tcp://"+e.srv.TCPAddr().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer goc.Close()
	if err := goc.Join(ctx, room); err != nil {
		t.Fatal(err)
	}

	addr := e.srv.TCPAddr()
	if transport == "udp" {
		addr = e.srv.UDPAddr()
	}
	host, port := hostPort(t, addr)
	args := []string{transport, host, port, room}
	if scenario != "" {
		args = append(args, scenario)
	}
	p := e.start(t, args...)

	if scenario == "lossy" {
		p.expect("lost type=2 ") // the first WELCOME: HELLO is resent
	}
	w := fields(p.expect("welcome sid="))
	sid := w["sid"]
	if !sidRE.MatchString(sid) {
		t.Fatalf("sid %q is not $ and 16 lowercase hex digits", sid)
	}
	// Over UDP the WELCOME carries the secret datagram key, which is not
	// the session id, and no max_frame (a TCP limit); over TCP no key.
	wantFrame, wantKey := "1048576", "0000000000000000"
	if transport == "udp" {
		wantFrame = "0"
		if key := w["key"]; key == wantKey || key == sid[1:] || len(key) != 16 {
			t.Errorf("WELCOME over UDP: key %q for sid %s, want a random key", key, sid)
		}
	} else if w["key"] != wantKey {
		t.Errorf("WELCOME over TCP: key %q, want none (%s)", w["key"], wantKey)
	}
	if w["keepalive"] != "30" || w["max_frame"] != wantFrame ||
		w["max_datagram"] != "1152" || w["max_rooms"] != "256" {
		t.Errorf("WELCOME limits: %v", w)
	}
	if scenario == "lossy" {
		p.expect("lost type=7 ") // the first ACK: JOIN is resent, same id
	}
	p.expect("joined room=" + room)

	// Go → C: the C client is in the room now.
	raw, err := msgpack.Marshal("hello from go")
	if err != nil {
		t.Fatal(err)
	}
	if err := goc.Emit(client.Emit{Rooms: []string{room}, Event: "ev", Raw: raw}); err != nil {
		t.Fatal(err)
	}
	m := p.expect("message ")
	if want := " from=" + goc.SessionID() + " event=ev data=hello from go"; !strings.HasSuffix(m, want) {
		t.Errorf("C got %q, want suffix %q", m, want)
	}

	// C → Go.
	p.expect("emitted event=reply")
	select {
	case msg := <-goc.Messages():
		var s string
		if err := msg.Decode(&s); err != nil {
			t.Fatalf("decoding %x: %v", msg.Data, err)
		}
		if msg.From != sid || msg.Event != "reply" || s != "hello from c" ||
			len(msg.Rooms) != 1 || msg.Rooms[0] != room {
			t.Errorf("Go got from=%s event=%s data=%q rooms=%v; want from=%s event=reply data=\"hello from c\" rooms=[%s]",
				msg.From, msg.Event, s, msg.Rooms, sid, room)
		}
	case <-time.After(lineTimeout):
		t.Fatal("the Go client got no MESSAGE from the C client")
	}
	p.expect("pong token=deadbeef01020304")

	if scenario == "rebind" {
		p.expect("rebound")
		p.expect("server-ping answered n=1")
		// The new address is validated only if the PONG was right: a
		// 700-byte MESSAGE is far over the 3x budget of an unvalidated one.
		big := strings.Repeat("x", 700)
		raw, err := msgpack.Marshal(big)
		if err != nil {
			t.Fatal(err)
		}
		if err := goc.Emit(client.Emit{Rooms: []string{room}, Event: "big", Raw: raw}); err != nil {
			t.Fatal(err)
		}
		m := p.expect("message ")
		if want := " from=" + goc.SessionID() + " event=big data=" + big; !strings.HasSuffix(m, want) {
			t.Errorf("C got %.80q..., want the 700-byte message", m)
		}
	}
	p.expect("bye")
	if transport == "tcp" {
		p.expect("closed") // section 5.2: the server closes after a BYE
	} else {
		// section 4.9: the BYE went twice; the first ended the session, so
		// the second got ERROR 305, which the C client ignored
		p.expect("ignored error code=305 open=0 close_type=0")
	}
	p.exit()
}

type badFrame struct {
	name  string
	hello bool // the C client opens the session first
	code  int  // the ERROR expected; 0: none, the packet is ignored
	fatal bool
	small bool // against env.small (max_frame smallMaxFrame)
}

// Sections 2.1, 2.4, 3, 4.6, 5.1, 5.2, 9.
var badFrames = []badFrame{
	{"badversion", true, 101, true, false},
	{"badtype", true, 102, true, false},
	{"typezero", true, 102, true, false},
	{"badflags", true, 106, true, false},
	{"qos2", true, 106, true, false},
	{"badreserved", true, 106, true, false},
	{"short", true, 100, true, false},
	{"toolarge", false, 103, true, false},
	{"nohello", false, 105, true, false},
	{"secondhello", true, 105, true, false},
	{"clientwelcome", true, 105, true, false},
	{"badbody", true, 104, true, false},
	{"trailing", true, 104, true, false},
	{"emptyjoin", true, 104, true, false},
	{"qosjoin", true, 106, true, false},
	{"dollarjoin", true, 200, false, false},
	{"clientack", true, 0, false, false},
	// an EMIT of max_frame bytes: its MESSAGE would be 23 bytes larger
	{"emitbig", true, 205, false, true},
}

func (e *env) bad(t *testing.T, tc badFrame) {
	srv := e.srv
	if tc.small {
		srv = e.small
	}
	host, port := hostPort(t, srv.TCPAddr())
	p := e.start(t, "tcp", host, port, "r", "bad-"+tc.name)
	if tc.hello {
		p.expect("welcome sid=")
	}
	p.expect("sent " + tc.name)
	switch {
	case tc.fatal:
		// a fatal ERROR has id 0 from a TCP server (2.3), then the
		// server closes the connection (5.3)
		p.expect("error code=" + itoa(tc.code) + " id=0 fatal=1 ")
		p.expect("closed")
	case tc.code != 0:
		// a request ERROR carries the request's id (0x63); the session goes on
		p.expect("error code=" + itoa(tc.code) + " id=99 fatal=0")
		p.expect("pong token=abcd")
		p.expect("bye")
		p.expect("closed")
	default:
		p.expect("pong token=abcd")
		p.expect("bye")
		p.expect("closed")
	}
	p.exit()
}

func (e *env) udp(t *testing.T, scenario string) *proc {
	host, port := hostPort(t, e.srv.UDPAddr())
	p := e.start(t, "udp", host, port, "r-"+scenario, scenario)
	p.expect("welcome sid=")
	p.expect("joined room=r-" + scenario)
	return p
}

// proc is a running C client whose stdout is read line by line.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	lines  chan string
	stderr bytes.Buffer
	once   sync.Once
	err    error
}

func (e *env) start(t *testing.T, args ...string) *proc {
	t.Helper()
	return e.startWith(t, nil, args...)
}

// startWith is start with environment variables added (the C client reads
// its credentials from PD_USER, PD_PASS and PD_TOKEN).
func (e *env) startWith(t *testing.T, environ []string, args ...string) *proc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	p := &proc{t: t, cmd: exec.CommandContext(ctx, e.bin, args...), lines: make(chan string, 64)}
	if environ != nil {
		p.cmd.Env = append(os.Environ(), environ...)
	}
	p.cmd.Stderr = &p.stderr
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 4096), 1<<16)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	t.Cleanup(func() {
		cancel() // kills the client if the test gave up early
		p.wait()
	})
	return p
}

// expect returns the next line, which must start with prefix.
func (p *proc) expect(prefix string) string {
	p.t.Helper()
	select {
	case l, ok := <-p.lines:
		if !ok {
			p.t.Fatalf("C client ended, wanted %q; stderr: %s", prefix, p.wait())
		}
		p.t.Logf("C: %s", l)
		if !strings.HasPrefix(l, prefix) {
			p.t.Fatalf("C client said %q, want %q...", l, prefix)
		}
		return l
	case <-time.After(lineTimeout):
		p.t.Fatalf("C client silent for %v, wanted %q", lineTimeout, prefix)
	}
	return ""
}

// exit checks that the client prints nothing more and exits 0.
func (p *proc) exit() {
	p.t.Helper()
	for l := range p.lines {
		p.t.Errorf("unexpected line from the C client: %q", l)
	}
	if p.wait(); p.err != nil {
		p.t.Errorf("C client: %v; stderr: %s", p.err, p.stderr.String())
	}
}

// wait drains stdout and reaps the process, once.
func (p *proc) wait() string {
	p.once.Do(func() {
		for range p.lines {
		}
		p.err = p.cmd.Wait()
	})
	return p.stderr.String()
}

func hostPort(t *testing.T, a net.Addr) (string, string) {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		t.Fatal(err)
	}
	return host, port
}

// fields parses "word k=v k=v ..." (values without spaces).
func fields(line string) map[string]string {
	m := make(map[string]string)
	for _, f := range strings.Fields(line)[1:] {
		if k, v, ok := strings.Cut(f, "="); ok {
			m[k] = v
		}
	}
	return m
}

func itoa(n int) string {
	b := []byte{}
	for {
		b = append([]byte{byte('0' + n%10)}, b...)
		if n /= 10; n == 0 {
			return string(b)
		}
	}
}
