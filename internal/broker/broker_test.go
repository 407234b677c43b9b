package broker

import (
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"testing"

	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/deliver"
	"github.com/packetd/packetd/internal/stats"
)

// fakePeer records what it is sent; it is written from any pass like a UDP
// session.
type fakePeer struct {
	s      *Session
	key    uint64 // 0: a TCP peer
	frames int
	last   []byte
}

func (p *fakePeer) ID() string                          { return p.s.Name() }
func (p *fakePeer) Group() int                          { return deliver.GroupAny }
func (p *fakePeer) Attach(s *Session)                   { p.s = s }
func (p *fakePeer) Session() *Session                   { return p.s }
func (p *fakePeer) Reliable() bool                      { return true }
func (p *fakePeer) Kick(codec.Code)                     {}
func (p *fakePeer) MaxPacket() int                      { return 1 << 20 }
func (p *fakePeer) Remote() netip.AddrPort              { return netip.MustParseAddrPort("127.0.0.1:9") }
func (p *fakePeer) Identity() string                    { return "" }
func (p *fakePeer) DatagramKey() uint64                 { return p.key }
func (p *fakePeer) Flush(*deliver.Outbox)               {}
func (p *fakePeer) Enqueue(_ *deliver.Outbox, f []byte) { p.frames++; p.last = f }

type fixture struct {
	b     *Broker
	w     *Worker
	st    *stats.Stats
	peers []*fakePeer
}

func newFixture(tb testing.TB, n int, cfg Config) *fixture {
	tb.Helper()
	st := new(stats.Stats)
	hub := deliver.NewHub(1<<20, st)
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	b, err := New(cfg, hub, st)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { b.Close() })
	f := &fixture{b: b, w: b.NewWorker(deliver.NewOutbox(deliver.NoGroup, st)), st: st}
	for range n {
		p := &fakePeer{}
		if _, code := b.Open(f.w, p, codec.Header{Type: codec.TypeHello, ID: 1}, nil); code != codec.CodeNormal {
			tb.Fatalf("Open: code %v", code)
		}
		f.peers = append(f.peers, p)
	}
	f.w.Flush()
	return f
}

func (f *fixture) handle(tb testing.TB, p *fakePeer, t codec.Type, id uint32, body codec.Body) Verdict {
	tb.Helper()
	pkt, err := codec.ParsePacket(codec.AppendPacket(nil, codec.Header{Type: t, ID: id}, body))
	if err != nil {
		tb.Fatal(err)
	}
	v := f.b.Handle(f.w, p, pkt)
	f.w.Flush()
	return v
}

func rooms1(names ...string) [][]byte {
	out := make([][]byte, len(names))
	for i, n := range names {
		out[i] = []byte(n)
	}
	return out
}

func TestHandleReplies(t *testing.T) {
	t.Parallel()
	long := make([]byte, MaxName+1)
	for i := range long {
		long[i] = 'x'
	}
	tests := []struct {
		name     string
		typ      codec.Type
		flags    codec.Flags
		body     codec.Body
		wantType codec.Type
		wantCode codec.Code
		wantEnd  bool
	}{
		{"join", codec.TypeJoin, 0, &codec.Rooms{Rooms: rooms1("a", "b")}, codec.TypeAck, 0, false},
		{"leave", codec.TypeLeave, 0, &codec.Rooms{Rooms: rooms1("a")}, codec.TypeAck, 0, false},
		{"join reserved", codec.TypeJoin, 0, &codec.Rooms{Rooms: rooms1("$x")}, codec.TypeError, codec.CodeInvalidRoom, false},
		{"join too long", codec.TypeJoin, 0, &codec.Rooms{Rooms: [][]byte{long}}, codec.TypeError, codec.CodeInvalidRoom, false},
		{"join not utf8", codec.TypeJoin, 0, &codec.Rooms{Rooms: [][]byte{{0xff}}}, codec.TypeError, codec.CodeInvalidRoom, false},
		{"emit qos1", codec.TypeEmit, codec.FlagQoS1, &codec.Emit{Rooms: rooms1("a")}, codec.TypeAck, 0, false},
		{"emit long event", codec.TypeEmit, 0, &codec.Emit{Rooms: rooms1("a"), Event: long}, codec.TypeError, codec.CodeInvalidEvent, false},
		{"ping", codec.TypePing, 0, &codec.Ping{Token: []byte("tok")}, codec.TypePong, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, 1, Config{})
			p := f.peers[0]
			id := uint32(9)
			if tt.flags.QoS() == 1 {
				id = 1 // QoS 1 EMITs are numbered from 1
			}
			pkt, _ := codec.ParsePacket(codec.AppendPacket(nil, codec.Header{Type: tt.typ, Flags: tt.flags, ID: id}, tt.body))
			v := f.b.Handle(f.w, p, pkt)
			if v.End != tt.wantEnd {
				t.Fatalf("End = %v, want %v", v.End, tt.wantEnd)
			}
			reply, err := codec.ParsePacket(p.last[codec.LenPrefixLen:])
			if err != nil {
				t.Fatal(err)
			}
			if reply.Type != tt.wantType || reply.ID != id {
				t.Fatalf("reply %v id %d, want %v id %d", reply.Type, reply.ID, tt.wantType, id)
			}
			if tt.wantType == codec.TypeError {
				var e codec.Error
				if err := codec.NewDecoder().Decode(reply.Type, reply.Body, &e); err != nil {
					t.Fatal(err)
				}
				if codec.Code(e.Code) != tt.wantCode {
					t.Fatalf("code %d, want %d", e.Code, tt.wantCode)
				}
			}
		})
	}
}

func TestTooManyRooms(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1, Config{})
	p := f.peers[0]
	names := make([]string, 0, 257)
	for i := range 257 {
		names = append(names, fmt.Sprint("r", i))
	}
	f.handle(t, p, codec.TypeJoin, 1, &codec.Rooms{Rooms: rooms1(names...)})
	reply, _ := codec.ParsePacket(p.last[codec.LenPrefixLen:])
	if reply.Type != codec.TypeError {
		t.Fatalf("got %v, want ERROR", reply.Type)
	}
	if got := f.b.adapter.RoomsOf(p.s.Name()); len(got) != 1 {
		t.Fatalf("rooms after refused join: %v, want only its own", got)
	}
}

// TestEmitAllocs proves the broadcast path allocates nothing per message or
// per recipient: decoding the EMIT, encoding the MESSAGE once, resolving
// the room, and handing it to 1,000 recipients.
func TestEmitAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates; run without -race to check allocations")
	}
	f := newFixture(t, 1001, Config{MaxSessions: 2000})
	for _, p := range f.peers[1:] {
		f.handle(t, p, codec.TypeJoin, 1, &codec.Rooms{Rooms: rooms1("room")})
	}
	pub := f.peers[0]
	pkt, _ := codec.ParsePacket(codec.AppendPacket(nil, codec.Header{Type: codec.TypeEmit},
		&codec.Emit{Rooms: rooms1("room"), Event: []byte("e"), Data: []byte{0xc4, 1, 7}}))
	run := func() {
		f.b.Handle(f.w, pub, pkt)
		f.w.Flush()
	}
	run()
	before, pubBefore := f.peers[1].frames, pub.frames
	if allocs := testing.AllocsPerRun(200, run); allocs != 0 {
		t.Errorf("EMIT to 1,000 recipients: %v allocs per message, want 0", allocs)
	}
	if got := f.peers[1].frames - before; got != 201 {
		t.Errorf("recipient got %d frames, want 201", got)
	}
	if got := pub.frames - pubBefore; got != 0 {
		t.Errorf("publisher got %d frames of its own emit, want 0", got)
	}
}

func BenchmarkEmit(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("recipients=%d", n), func(b *testing.B) {
			f := newFixture(b, n+1, Config{MaxSessions: n + 10})
			for _, p := range f.peers[1:] {
				f.handle(b, p, codec.TypeJoin, 1, &codec.Rooms{Rooms: rooms1("room")})
			}
			pkt, _ := codec.ParsePacket(codec.AppendPacket(nil, codec.Header{Type: codec.TypeEmit},
				&codec.Emit{Rooms: rooms1("room"), Data: append([]byte{0xc4, 64}, make([]byte, 64)...)}))
			b.ReportAllocs()
			b.SetBytes(int64(len(pkt.Body)))
			for b.Loop() {
				f.b.Handle(f.w, f.peers[0], pkt)
				f.w.Flush()
			}
		})
	}
}
