package deliver

import (
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/stats"
	"github.com/packetd/packetd/rooms"
)

func TestAdjacent(t *testing.T) {
	t.Parallel()
	arena := make([]byte, 10, 20)
	other := make([]byte, 4)
	tests := []struct {
		name string
		a, b []byte
		want bool
	}{
		{"consecutive", arena[0:4], arena[4:10], true},
		{"gap", arena[0:3], arena[4:10], false},
		{"other array", arena[0:4], other, false},
		{"reversed", arena[4:10], arena[0:4], false},
		{"a capped", arena[0:4:4], arena[4:10], false},
		{"empty a", arena[0:0], arena[0:4], false},
		{"empty b", arena[0:4], arena[4:4], false},
	}
	for _, tt := range tests {
		if got := Adjacent(tt.a, tt.b); got != tt.want {
			t.Errorf("%s: Adjacent = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// goExec runs tasks on its own goroutine, one at a time, like an event loop.
type goExec struct {
	tasks chan func()
	wg    sync.WaitGroup
}

func newGoExec(t *testing.T) *goExec {
	e := &goExec{tasks: make(chan func(), 1024)}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for f := range e.tasks {
			f()
		}
	}()
	t.Cleanup(func() { close(e.tasks); e.wg.Wait() })
	return e
}

func (e *goExec) Execute(f func()) error { e.tasks <- f; return nil }

// recorder is a TCP-like recipient of one group: it may only be written on
// that group's goroutine, which it checks.
type recorder struct {
	id    string
	group int
	out   **Outbox // the only Outbox allowed to write to it

	mu     sync.Mutex
	frames [][]byte
	done   chan struct{}
	want   int
}

func (r *recorder) ID() string { return r.id }
func (r *recorder) Group() int { return r.group }
func (r *recorder) Enqueue(o *Outbox, f []byte) {
	if o != *r.out {
		panic("recipient written from a foreign outbox")
	}
	r.mu.Lock()
	r.frames = append(r.frames, append([]byte(nil), f...))
	if len(r.frames) == r.want {
		close(r.done)
	}
	r.mu.Unlock()
}
func (r *recorder) Flush(*Outbox) {}

func TestHubCrossGroup(t *testing.T) {
	t.Parallel()
	st := new(stats.Stats)
	h := NewHub(1<<20, st)
	g1, out1 := h.AddGroup(newGoExec(t))
	g2, out2 := h.AddGroup(newGoExec(t))
	const msgs = 500
	var members []rooms.Member
	var recs []*recorder
	for i := range 10 {
		g, out := g1, &out1
		if i%2 == 1 {
			g, out = g2, &out2
		}
		r := &recorder{id: string(rune('a' + i)), group: g, out: out, done: make(chan struct{}), want: msgs}
		recs = append(recs, r)
		members = append(members, r)
	}
	// A producer on no loop sends to both groups; each message must reach
	// each recipient once, in order, written only from its own loop.
	origin := NewOutbox(NoGroup, st)
	for i := range msgs {
		frame := origin.Frame(codec.Header{Type: codec.TypeMessage, ID: uint32(i + 1)}, nil)
		for _, g := range []int{g1, g2} {
			var ms []rooms.Member
			for _, m := range members {
				if m.Group() == g {
					ms = append(ms, m)
				}
			}
			h.Deliver(origin, g, frame, ms)
		}
		origin.Flush()
	}
	for _, r := range recs {
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
			t.Fatalf("recipient %s got %d frames, want %d", r.id, len(r.frames), msgs)
		}
		r.mu.Lock()
		for i, f := range r.frames {
			p, err := codec.ParsePacket(f[codec.LenPrefixLen:])
			if err != nil || p.ID != uint32(i+1) {
				t.Fatalf("recipient %s frame %d: id %d err %v, want id %d", r.id, i, p.ID, err, i+1)
			}
		}
		r.mu.Unlock()
	}
}

type stuckExec struct{}

func (stuckExec) Execute(func()) error { return nil } // never runs anything

func TestHubInboxBound(t *testing.T) {
	t.Parallel()
	st := new(stats.Stats)
	h := NewHub(100, st)
	g, out := h.AddGroup(stuckExec{})
	r := &recorder{id: "r", group: g, out: &out, done: make(chan struct{}), want: -1}
	origin := NewOutbox(NoGroup, st)
	msg := make([]byte, 40)
	for range 5 {
		h.Deliver(origin, g, msg, []rooms.Member{r})
	}
	if got := st.DropInboxFull.Load(); got != 3 {
		t.Errorf("DropInboxFull = %d, want 3 (two 40-byte messages fit in 100 bytes)", got)
	}
}

func TestDatagramBatch(t *testing.T) {
	t.Parallel()
	rx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	// Loopback drops what the receiver's buffer cannot hold.
	if err := rx.SetReadBuffer(4 << 20); err != nil {
		t.Fatal(err)
	}
	tx, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(tx)
	st := new(stats.Stats)
	o := NewOutbox(NoGroup, st)
	sa := SockaddrOf(rx.LocalAddr().(*net.UDPAddr).AddrPort(), false)
	const n = 1500 // more than one sendmmsg call
	for i := range n {
		o.Datagram(tx, &sa, []byte{byte(i), byte(i >> 8)})
	}
	o.Flush()
	if got := st.DatagramsSent.Load(); got != n {
		t.Fatalf("DatagramsSent = %d, want %d (dropped %d)", got, n, st.DatagramsDropped.Load())
	}
	buf := make([]byte, 16)
	_ = rx.SetReadDeadline(time.Now().Add(5 * time.Second))
	for i := range n {
		m, err := rx.Read(buf)
		if err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
		if got := int(buf[0]) | int(buf[1])<<8; m != 2 || got != i {
			t.Fatalf("datagram %d: got %d (%d bytes), want %d", i, got, m, i)
		}
	}
}

func TestSockaddrOf(t *testing.T) {
	t.Parallel()
	v4 := netip.MustParseAddrPort("10.1.2.3:4660")
	sa := SockaddrOf(v4, false)
	if sa.len != syscall.SizeofSockaddrInet4 {
		t.Errorf("v4 len = %d", sa.len)
	}
	b := (*[16]byte)(rawPtr(&sa.raw))
	if b[2] != 0x12 || b[3] != 0x34 || b[4] != 10 || b[7] != 3 {
		t.Errorf("v4 sockaddr bytes % x, want port 12 34 and addr 0a 01 02 03", b[:8])
	}
	sa6 := SockaddrOf(v4, true)
	if sa6.len != syscall.SizeofSockaddrInet6 || sa6.raw.Addr[10] != 0xff || sa6.raw.Addr[12] != 10 {
		t.Errorf("v4 on a v6 socket: len %d addr % x, want ::ffff:10.1.2.3", sa6.len, sa6.raw.Addr)
	}
}

func TestOutboxFlushAllocs(t *testing.T) {
	st := new(stats.Stats)
	o := NewOutbox(NoGroup, st)
	tx, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(tx)
	rx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	sa := SockaddrOf(rx.LocalAddr().(*net.UDPAddr).AddrPort(), false)
	body := &codec.Ping{Token: []byte("x")}
	run := func() {
		for range 100 {
			f := o.Frame(codec.Header{Type: codec.TypePing}, body)
			o.Datagram(tx, &sa, f[codec.LenPrefixLen:])
		}
		o.Flush()
	}
	run()
	if a := testing.AllocsPerRun(50, run); a != 0 {
		t.Errorf("100 frames + sendmmsg: %v allocs, want 0", a)
	}
}

// TestDatagramGSO: datagrams to several peers, interleaved and of mixed
// sizes (some too large for GSO, some empty), reach each peer whole, in
// order, once; runs to one peer go out with GSO where the kernel has it.
func TestDatagramGSO(t *testing.T) {
	t.Parallel()
	const peers, each = 3, 400
	var rxs []*net.UDPConn
	var sas []Sockaddr
	for range peers {
		rx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		defer rx.Close()
		if err := rx.SetReadBuffer(4 << 20); err != nil {
			t.Fatal(err)
		}
		rxs = append(rxs, rx)
		sas = append(sas, SockaddrOf(rx.LocalAddr().(*net.UDPAddr).AddrPort(), false))
	}
	tx, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(tx)
	st := new(stats.Stats)
	o := NewOutbox(NoGroup, st)
	sizes := []int{40, 40, 40, 7, 40, 2000, 40, 0, 40, 40, 3}
	want := make([][][]byte, peers)
	for i := range each {
		for p := range peers {
			b := make([]byte, sizes[(i+p)%len(sizes)])
			for k := range b {
				b[k] = byte(i + p + k)
			}
			if len(b) > 1 {
				b[0], b[1] = byte(i), byte(i>>8)
			}
			want[p] = append(want[p], b)
			o.Datagram(tx, &sas[p], b)
		}
	}
	o.Flush()
	if got := st.DatagramsSent.Load(); got != peers*each {
		t.Fatalf("DatagramsSent = %d, want %d (dropped %d)", got, peers*each, st.DatagramsDropped.Load())
	}
	if gsoEnabled(tx) && st.GSOSegments.Load() == 0 {
		t.Error("GSOSegments = 0: no run went out with GSO")
	}
	t.Logf("%d datagrams, %d in GSO runs", st.DatagramsSent.Load(), st.GSOSegments.Load())
	buf := make([]byte, 4096)
	for p, rx := range rxs {
		_ = rx.SetReadDeadline(time.Now().Add(5 * time.Second))
		for i, w := range want[p] {
			m, err := rx.Read(buf)
			if err != nil {
				t.Fatalf("peer %d datagram %d: %v", p, i, err)
			}
			if string(buf[:m]) != string(w) {
				t.Fatalf("peer %d datagram %d: got %d bytes % x..., want %d bytes % x...", p, i, m, buf[:min(m, 4)], len(w), w[:min(len(w), 4)])
			}
		}
	}
}
