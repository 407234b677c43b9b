//go:build linux

package impair

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"
)

func TestKernelTablePid(t *testing.T) {
	tests := []struct {
		name    string
		table   string
		wantPid int
		wantOK  bool
	}{
		{"ours", "packetbench_1234_5", 1234, true},
		{"big sequence", "packetbench_7_18446744073709551615", 7, true},
		{"other prefix", "filter", 0, false},
		{"prefix only", "packetbench_", 0, false},
		{"no sequence", "packetbench_1234", 0, false},
		{"empty sequence", "packetbench_1234_", 0, false},
		{"sequence not a number", "packetbench_1234_x", 0, false},
		{"extra part", "packetbench_1234_5_6", 0, false},
		{"pid not a number", "packetbench_abc_5", 0, false},
		{"pid zero", "packetbench_0_5", 0, false},
		{"pid negative", "packetbench_-1_5", 0, false},
		{"pid with sign", "packetbench_+12_5", 0, false},
		{"pid with leading zero", "packetbench_012_5", 0, false},
		{"other case", "PACKETBENCH_12_5", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pid, ok := kernelTablePid(tt.table)
			if pid != tt.wantPid || ok != tt.wantOK {
				t.Errorf("kernelTablePid(%q) = %d, %v, want %d, %v", tt.table, pid, ok, tt.wantPid, tt.wantOK)
			}
		})
	}
}

func TestProcessExists(t *testing.T) {
	t.Parallel()
	if !processExists(os.Getpid()) {
		t.Errorf("processExists(self) = false, want true")
	}
	if !processExists(1) {
		t.Errorf("processExists(1) = false, want true")
	}
	if pid := pidWithoutProcess(t); processExists(pid) {
		t.Errorf("processExists(pid_max %d) = true, want false", pid)
	}

	// A child that has exited but is not reaped yet, a zombie, counts as
	// gone.
	path, err := exec.LookPath("true")
	if err != nil {
		t.Skipf("no true command: %v", err)
	}
	cmd := exec.Command(path)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	var info unix.Siginfo
	if err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil); err != nil {
		t.Fatal(err)
	}
	if processExists(pid) {
		t.Errorf("processExists(zombie %d) = true, want false", pid)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if processExists(pid) {
		t.Errorf("processExists(reaped %d) = true, want false", pid)
	}
}

// pidWithoutProcess returns pid_max: pids are below it.
func pidWithoutProcess(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/kernel/pid_max")
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("pid_max %q: %v", b, err)
	}
	return pid
}

func TestNewKernelLossConfig(t *testing.T) {
	tests := []struct {
		name string
		port uint16
		loss float64
	}{
		{"port zero", 0, 0.1},
		{"no loss", 9, 0},
		{"negative", 9, -0.1},
		{"certain", 9, 1},
		{"over one", 9, 2},
		{"not a number", 9, math.NaN()},
		{"below resolution", 9, 1e-9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := NewKernelLoss(tt.port, tt.loss)
			if k != nil {
				k.Close()
			}
			if !errors.Is(err, ErrConfig) {
				t.Errorf("NewKernelLoss(%d, %v) = %v, want an error wrapping ErrConfig", tt.port, tt.loss, err)
			}
		})
	}
}

// The check installs a table and deletes it in the same transaction: no
// table is left behind. Not parallel, so that no other test takes a table
// sequence number meanwhile.
func TestKernelLossAvailableLeavesNothing(t *testing.T) {
	skipWithoutKernelLoss(t)
	if err := KernelLossAvailable(); err != nil {
		t.Fatal(err)
	}
	seq := kernelTableSeq.Load()
	name := kernelTablePrefix + strconv.Itoa(os.Getpid()) + "_" + strconv.FormatUint(seq, 10)
	if slices.Contains(kernelTables(t), name) {
		t.Errorf("table %s left behind by KernelLossAvailable", name)
	}
}

// Through 5% loss, TCP still delivers every byte intact, over IPv4 and
// IPv6, and the sender retransmits.
func TestKernelLossTCPIntact(t *testing.T) {
	skipWithoutKernelLoss(t)
	t.Parallel()
	for _, host := range []string{"127.0.0.1", "::1"} {
		t.Run(host, func(t *testing.T) {
			t.Parallel()
			ln := listenKernel(t, host, echo)
			k := newKernelLoss(t, ln.port(), 0.05)

			// A round is one connection carrying 256 KiB each way. Rounds
			// go on until a sender, the client or the echo, has
			// retransmitted: on loopback a packet is a batch of up to 64
			// KiB (GSO), so a round is only a few dozen packets, data and
			// ACKs, and 5% of them may all be ACKs.
			const roundBytes = 256 << 10
			var retrans uint32
			round := 0
			for ; round < 16 && retrans == 0; round++ {
				c := dialKernel(t, ln.addr())
				out := randomBytes(uint64(round), roundBytes)
				sum, n, err := transfer(c, out)
				if err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
				if want := sha256.Sum256(out); n != roundBytes || sum != want {
					t.Fatalf("round %d: got %d bytes with sha256 %x, want %d with %x", round, n, sum, roundBytes, want)
				}
				retrans = totalRetrans(t, c) + ln.retrans(t)
				c.Close()
			}
			st, err := k.Stats()
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d rounds of %d KiB, %d retransmissions; kernel saw %d packets, dropped %d",
				round, roundBytes>>10, retrans, st.Seen, st.Dropped)
			if retrans == 0 {
				t.Errorf("got no retransmission in %d rounds, want some", round)
			}
			if st.Dropped == 0 {
				t.Errorf("got Stats %+v, want drops", st)
			}
		})
	}
}

// Stats counts the packets on the port and the drops, and the drops are
// about the loss asked for.
func TestKernelLossStats(t *testing.T) {
	skipWithoutKernelLoss(t)
	t.Parallel()
	ln := listenKernel(t, "127.0.0.1", echo)

	// Connections are opened before the loss starts (a lost SYN waits 1
	// s), and each then carries small messages, one at a time, so that
	// each message is a packet and its echo another. They run in
	// parallel, since each loss costs its connection a timeout.
	const conns, msgs = 8, 25
	var cs []*net.TCPConn
	for range conns {
		c := dialKernel(t, ln.addr())
		c.SetNoDelay(true)
		cs = append(cs, c)
	}
	const loss = 0.1
	k := newKernelLoss(t, ln.port(), loss)
	if st, err := k.Stats(); err != nil || st != (KernelLossStats{}) {
		t.Fatalf("Stats before traffic = %+v, %v, want zeros", st, err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for _, c := range cs {
		wg.Go(func() {
			msg := make([]byte, 64)
			for i := range msgs {
				msg[0] = byte(i)
				if _, err := c.Write(msg); err != nil {
					errs <- err
					return
				}
				if _, err := io.ReadFull(c, msg); err != nil {
					errs <- err
					return
				}
				if msg[0] != byte(i) {
					errs <- fmt.Errorf("echo %d: got %d", i, msg[0])
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st, err := k.Stats()
	if err != nil {
		t.Fatal(err)
	}
	// At least the messages and their echoes met the rule (with the ACKs
	// and the retransmissions, more).
	if st.Seen < 2*conns*msgs || st.Dropped == 0 || st.Dropped >= st.Seen {
		t.Fatalf("got Stats %+v, want Seen >= %d and 0 < Dropped < Seen", st, 2*conns*msgs)
	}
	// Binomial: the drops stay within 6 standard deviations of loss*Seen.
	n := float64(st.Seen)
	mean, sd := loss*n, math.Sqrt(n*loss*(1-loss))
	if d := float64(st.Dropped); d < mean-6*sd || d > mean+6*sd {
		t.Errorf("got %d dropped of %d, want about %.0f (± %.0f)", st.Dropped, st.Seen, mean, 6*sd)
	}
	t.Logf("dropped %d of %d packets (%.1f%%)", st.Dropped, st.Seen, 100*float64(st.Dropped)/n)
}

// Close deletes the table, and the loss ends with it; closing twice is
// fine, and Stats after Close fails.
func TestKernelLossClose(t *testing.T) {
	skipWithoutKernelLoss(t)
	t.Parallel()
	ln := listenKernel(t, "127.0.0.1", echo)
	k, err := NewKernelLoss(ln.port(), 0.99)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	if !slices.Contains(kernelTables(t), k.Table()) {
		t.Fatalf("table %s not installed", k.Table())
	}

	// Almost every SYN is dropped, and the first retransmission of one
	// comes after 1 s: the dial times out.
	if c, err := net.DialTimeout("tcp", ln.addr(), 300*time.Millisecond); err == nil {
		c.Close()
		t.Logf("dial through 99%% loss succeeded (a chance of about 1 in 10000)")
	}
	if st, err := k.Stats(); err != nil || st.Seen == 0 {
		t.Errorf("Stats after a dial = %+v, %v, want the SYN seen", st, err)
	}
	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
	if err := k.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if slices.Contains(kernelTables(t), k.Table()) {
		t.Errorf("table %s still installed after Close", k.Table())
	}
	if _, err := k.Stats(); !errors.Is(err, ErrClosed) {
		t.Errorf("Stats after Close: got %v, want ErrClosed", err)
	}

	// Through 99% loss, neither would a SYN get through within 1 s (its
	// first retransmission), nor 64 KiB each way within 5 s.
	d, err := net.DialTimeout("tcp", ln.addr(), 900*time.Millisecond)
	if err != nil {
		t.Fatalf("dial after Close: %v", err)
	}
	c := d.(*net.TCPConn)
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	out := randomBytes(1, 64<<10)
	sum, _, err := transfer(c, out)
	if err != nil {
		t.Fatalf("echo after Close: %v", err)
	}
	if sum != sha256.Sum256(out) {
		t.Errorf("echo after Close differs")
	}
}

// NewKernelLoss deletes the tables of dead packetbench processes, and no
// other.
func TestKernelLossRemovesStaleTables(t *testing.T) {
	skipWithoutKernelLoss(t)
	t.Parallel()

	// A pid no process has.
	dead := strconv.Itoa(pidWithoutProcess(t))
	seq := strconv.FormatUint(1<<63+kernelTableSeq.Add(1), 10) // unlike any of ours
	stale := "packetbench_" + dead + "_" + seq
	kept := []string{
		"packetbench_1_" + seq,                                 // pid 1 is alive
		"packetbench_" + strconv.Itoa(os.Getpid()) + "_" + seq, // so are we
		"packetbench_" + dead,                                  // not our form
		"packetbench_" + dead + "_" + seq + "_x",
		"packetbenchx_" + dead + "_" + seq,
	}
	for _, name := range append([]string{stale}, kept...) {
		addKernelTable(t, name)
	}

	ln := listenKernel(t, "127.0.0.1", echo)
	newKernelLoss(t, ln.port(), 0.01)
	tables := kernelTables(t)
	if slices.Contains(tables, stale) {
		t.Errorf("stale table %s (pid %s is dead) not removed", stale, dead)
	}
	for _, name := range kept {
		if !slices.Contains(tables, name) {
			t.Errorf("table %s removed, want it kept", name)
		}
	}
}

// The rule is for TCP on its port only: UDP on the same port, and TCP on
// another, lose nothing, and are not even counted.
func TestKernelLossSparesOtherTraffic(t *testing.T) {
	skipWithoutKernelLoss(t)
	t.Parallel()
	srv, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { srv.Close(); wg.Wait() })
	wg.Go(func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := srv.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			srv.WriteToUDPAddrPort(buf[:n], from)
		}
	})
	port := uint16(srv.LocalAddr().(*net.UDPAddr).Port)
	k := newKernelLoss(t, port, 0.99)

	c, err := net.DialUDP("udp", nil, srv.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := make([]byte, 512)
	got := make([]byte, 2048)
	for i := range 200 {
		msg[0], msg[1] = byte(i), byte(i>>8)
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := c.Read(got)
		if err != nil {
			t.Fatalf("datagram %d: %v (lost through a TCP-only rule)", i, err)
		}
		if n != len(msg) || got[0] != msg[0] || got[1] != msg[1] {
			t.Fatalf("datagram %d: got %d bytes starting %v, want %d starting %v", i, n, got[:2], len(msg), msg[:2])
		}
	}

	// TCP on another port is spared too: through 99% loss, 64 KiB each
	// way would not get through within 5 s.
	ln := listenKernel(t, "127.0.0.1", echo)
	if ln.port() == port {
		t.Skipf("the TCP listener drew the lossy port %d", port)
	}
	tc := dialKernel(t, ln.addr())
	tc.SetDeadline(time.Now().Add(5 * time.Second))
	out := randomBytes(2, 64<<10)
	sum, _, err := transfer(tc, out)
	if err != nil {
		t.Fatalf("TCP on port %d, beside lossy port %d: %v", ln.port(), port, err)
	}
	if sum != sha256.Sum256(out) {
		t.Errorf("TCP echo on port %d differs", ln.port())
	}

	if st, err := k.Stats(); err != nil || st != (KernelLossStats{}) {
		t.Errorf("Stats = %+v, %v, want zeros: neither flow may reach the rule", st, err)
	}
}

// skipWithoutKernelLoss skips the test unless this process can install
// nftables rules.
func skipWithoutKernelLoss(t *testing.T) {
	t.Helper()
	if err := KernelLossAvailable(); err != nil {
		t.Skipf("kernel TCP loss not available here: %v", err)
	}
}

// newKernelLoss starts loss on port and ends it at the end of the test.
func newKernelLoss(t *testing.T, port uint16, loss float64) *KernelLoss {
	t.Helper()
	k, err := NewKernelLoss(port, loss)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := k.Close(); err != nil {
			t.Error(err)
		}
	})
	return k
}

// kernelListener is a TCP server on host, port 0, that runs handle for
// each connection (a tcpServer: Cleanup closes the listener and every
// connection, and waits for the handlers).
type kernelListener struct{ *tcpServer }

func listenKernel(t *testing.T, host string, handle func(c *net.TCPConn)) *kernelListener {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.ParseIP(host)})
	if err != nil {
		t.Skipf("no TCP on %s: %v", host, err)
	}
	return &kernelListener{serveTCP(t, ln, handle)}
}

// retrans returns the segments the server's sockets have retransmitted.
func (s *kernelListener) retrans(t *testing.T) uint32 {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var n uint32
	for _, c := range s.conns {
		n += totalRetrans(t, c)
	}
	return n
}

func (s *kernelListener) port() uint16 { return uint16(s.ln.Addr().(*net.TCPAddr).Port) }

// dialKernel connects to addr, with a deadline 20 s away for every read
// and write, and closes the connection at the end of the test.
func dialKernel(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	tc := c.(*net.TCPConn)
	tc.SetDeadline(time.Now().Add(20 * time.Second))
	t.Cleanup(func() { tc.Close() })
	return tc
}

// totalRetrans returns the segments c's socket has retransmitted.
func totalRetrans(t *testing.T, c *net.TCPConn) uint32 {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var info *unix.TCPInfo
	var ierr error
	if err := rc.Control(func(fd uintptr) {
		info, ierr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); err != nil {
		t.Fatal(err)
	}
	if ierr != nil {
		t.Fatal(ierr)
	}
	return info.Total_retrans
}

// kernelTables returns the names of the inet tables.
func kernelTables(t *testing.T) []string {
	t.Helper()
	c, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tb := range tables {
		names = append(names, tb.Name)
	}
	return names
}

// addKernelTable installs an empty inet table, which affects no packet,
// and deletes it at the end of the test unless it is gone.
func addKernelTable(t *testing.T, name string) {
	t.Helper()
	c, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	tb := c.AddTable(&nftables.Table{Name: name, Family: nftables.TableFamilyINet})
	if err := c.Flush(); err != nil {
		t.Fatalf("adding table %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := deleteTable(c, tb); err != nil {
			t.Errorf("deleting table %s: %v", name, err)
		}
	})
}
