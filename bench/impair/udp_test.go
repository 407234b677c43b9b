package impair

import (
	"errors"
	"math"
	"net"
	"runtime"
	"slices"
	"testing"
	"time"
)

// exchange sends n datagrams of size bytes from one client through a proxy
// with opts to an echo server, waits until both directions have settled and
// everything sent has arrived, and returns what the server and the client
// received.
func exchange(t *testing.T, opts Options, n uint64, size int) (atServer, atClient []datagram, st Stats) {
	t.Helper()
	base := time.Now()
	srv := startServer(t, base, true)
	px := startProxy(t, srv.addr(), opts)
	c := dial(t, px, base)
	c.send(t, px, 0, n, size)
	atServer = drain(t, px, srv)
	waitFor(t, "down to settle", func() bool {
		s := px.Stats().Down
		return s.Received >= uint64(len(atServer)) && settled(s)
	})
	want := int(px.Stats().Down.Sent)
	waitFor(t, "client to receive", func() bool { return len(c.received()) >= want })
	return atServer, c.received(), px.Stats()
}

func TestCleanLink(t *testing.T) {
	t.Parallel()
	const n = 1000
	atServer, atClient, st := exchange(t, Options{}, n, 200)
	want := make([]uint64, n)
	for i := range want {
		want[i] = uint64(i)
	}
	if got := indexes(atServer); !slices.Equal(got, want) {
		t.Errorf("server received %d datagrams, want 0..%d in order", len(got), n-1)
	}
	if got := indexes(atClient); !slices.Equal(got, want) {
		t.Errorf("client received %d echoes, want 0..%d in order", len(got), n-1)
	}
	clean := DirStats{Received: n, Sent: n}
	if st.Up != clean || st.Down != clean {
		t.Errorf("stats:\ngot  up %+v down %+v\nwant %+v both ways", st.Up, st.Down, clean)
	}
	if st.Flows != 1 || st.Opened != 1 {
		t.Errorf("flows: got %d open, %d opened, want 1 and 1", st.Flows, st.Opened)
	}
}

// TestLossReproducible sends the same traffic through two proxies with the
// same seed and checks that the same datagrams are lost.
func TestLossReproducible(t *testing.T) {
	t.Parallel()
	const n, p = 10000, 0.2
	run := func(seed int64) []uint64 {
		got, _, st := exchange(t, Options{Up: Config{Loss: p}, Seed: seed}, n, 64)
		if lost := n - uint64(len(got)); st.Up.Lost != lost {
			t.Errorf("seed %d: Lost %d, want %d (the datagrams missing at the server)", seed, st.Up.Lost, lost)
		}
		tol := 5 * math.Sqrt(n*p*(1-p))
		if d := math.Abs(float64(st.Up.Lost) - n*p); d > tol {
			t.Errorf("seed %d: lost %d of %d, want %.0f ± %.0f", seed, st.Up.Lost, n, n*p, tol)
		}
		if inv := inversions(got); inv != 0 {
			t.Errorf("seed %d: %d datagrams out of order, want 0", seed, inv)
		}
		return indexes(got)
	}
	first, second, other := run(42), run(42), run(43)
	if !slices.Equal(first, second) {
		t.Errorf("seed 42 twice: received %d and %d datagrams, want the same indexes", len(first), len(second))
	}
	if slices.Equal(first, other) {
		t.Errorf("seeds 42 and 43: got the same %d datagrams, want different losses", len(first))
	}
}

func TestImpairments(t *testing.T) {
	t.Parallel()
	const n = 2000
	tests := []struct {
		name  string
		opts  Options
		check func(t *testing.T, got []datagram, s DirStats)
	}{
		{"up loss", Options{Up: Config{Loss: 0.3}}, checkLoss},
		{"down loss", Options{Down: Config{Loss: 0.3}}, checkLoss},
		{"up duplicate", Options{Up: Config{Duplicate: 0.1}}, checkDuplicate},
		{"down duplicate", Options{Down: Config{Duplicate: 0.1}}, checkDuplicate},
		{"up reorder", Options{Up: Config{Reorder: 0.1}}, checkReorder},
		{"down reorder gap 3", Options{Down: Config{Reorder: 0.1, ReorderGap: 3}}, checkReorder},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			atServer, atClient, st := exchange(t, tt.opts, n, 64)
			got, s, other := atServer, st.Up, st.Down
			if tt.opts.Up == (Config{}) {
				got, s, other = atClient, st.Down, st.Up
			}
			tt.check(t, got, s)
			if want := (DirStats{Received: other.Received, Sent: other.Received}); other != want || other.Received == 0 {
				t.Errorf("the clean direction: got %+v, want %+v", other, want)
			}
		})
	}
}

func checkLoss(t *testing.T, got []datagram, s DirStats) {
	if s.Lost == 0 || s.Lost != s.Received-uint64(len(got)) {
		t.Errorf("Lost %d of %d received, want > 0 and equal to the %d missing", s.Lost, s.Received, s.Received-uint64(len(got)))
	}
	if inv := inversions(got); inv != 0 {
		t.Errorf("got %d out of order, want 0", inv)
	}
}

func checkDuplicate(t *testing.T, got []datagram, s DirStats) {
	seen := map[uint64]int{}
	for _, d := range got {
		seen[d.idx]++
	}
	dups := uint64(len(got) - len(seen))
	if s.Duplicated == 0 || dups != s.Duplicated {
		t.Errorf("observed %d duplicates, Duplicated %d, want equal and > 0", dups, s.Duplicated)
	}
	if uint64(len(seen)) != s.Received {
		t.Errorf("distinct datagrams: got %d, want %d", len(seen), s.Received)
	}
}

func checkReorder(t *testing.T, got []datagram, s DirStats) {
	idx := indexes(got)
	slices.Sort(idx)
	if uint64(len(slices.Compact(idx))) != s.Received || uint64(len(got)) != s.Received {
		t.Errorf("got %d datagrams (%d distinct), want each of %d once", len(got), len(idx), s.Received)
	}
	if inv := inversions(got); inv == 0 || s.Reordered == 0 {
		t.Errorf("got %d out of order, Reordered %d, want both > 0", inv, s.Reordered)
	}
}

func TestDelay(t *testing.T) {
	t.Parallel()
	const upDelay, downDelay = 30 * time.Millisecond, 20 * time.Millisecond
	atServer, atClient, _ := exchange(t, Options{Up: Config{Delay: upDelay}, Down: Config{Delay: downDelay}}, 50, 64)
	if len(atServer) != 50 || len(atClient) != 50 {
		t.Fatalf("received %d at the server and %d at the client, want 50 and 50", len(atServer), len(atClient))
	}
	for _, d := range atServer {
		if got := d.at - d.sent; got < upDelay || got > upDelay+5*time.Second {
			t.Errorf("datagram %d: one-way delay %v, want at least %v", d.idx, got, upDelay)
		}
	}
	for _, d := range atClient {
		if got := d.at - d.sent; got < upDelay+downDelay {
			t.Errorf("datagram %d: round trip %v, want at least %v", d.idx, got, upDelay+downDelay)
		}
	}
}

func TestJitterReorders(t *testing.T) {
	t.Parallel()
	const delay, jitter = 5 * time.Millisecond, 20 * time.Millisecond
	got, _, st := exchange(t, Options{Up: Config{Delay: delay, Jitter: jitter}}, 500, 64)
	if len(got) != 500 || st.Up.Sent != 500 {
		t.Fatalf("received %d, Sent %d, want 500 and 500", len(got), st.Up.Sent)
	}
	if inversions(got) == 0 {
		t.Errorf("got every datagram in order, want some overtaking with %v jitter", jitter)
	}
	for _, d := range got {
		if d.at-d.sent < delay {
			t.Errorf("datagram %d: one-way delay %v, want at least %v", d.idx, d.at-d.sent, delay)
		}
	}
}

func TestRate(t *testing.T) {
	t.Parallel()
	const n, size, rate = 200, 1000, 1_000_000 // 200 ms of traffic
	base := time.Now()
	srv := startServer(t, base, false)
	px := startProxy(t, srv.addr(), Options{Up: Config{Rate: rate}})
	c := dial(t, px, base)
	c.send(t, px, 0, n, size)
	got := drain(t, px, srv)
	if len(got) != n {
		t.Fatalf("received %d, want %d (stats %+v)", len(got), n, px.Stats().Up)
	}
	// The first datagram leaves after size/rate, and each later one
	// size/rate after the one before.
	elapsed := got[n-1].at - got[0].sent
	if want := time.Duration(n * size * int64(time.Second) / rate); elapsed < want || elapsed > 20*want {
		t.Errorf("%d bytes took %v, want at least %v at %d B/s", n*size, elapsed, want, rate)
	}
}

func TestQueueLimit(t *testing.T) {
	t.Parallel()
	const n, size = 100, 1000
	base := time.Now()
	srv := startServer(t, base, false)
	// 10 datagrams fit in the queue, and the link drains one every 10 ms.
	px := startProxy(t, srv.addr(), Options{Up: Config{Rate: 100_000, QueueLimit: 10 * size}})
	c := dial(t, px, base)
	c.send(t, px, 0, n, size)
	got := drain(t, px, srv)
	s := px.Stats().Up
	if s.QueueDrops == 0 || s.Sent < 10 || s.Sent+s.QueueDrops != n {
		t.Errorf("Sent %d, QueueDrops %d, want at least 10 sent, some dropped, %d in all", s.Sent, s.QueueDrops, n)
	}
	if uint64(len(got)) != s.Sent || inversions(got) != 0 {
		t.Errorf("server received %d (%d out of order), want the %d sent in order", len(got), inversions(got), s.Sent)
	}
}

func TestFlowsGetOwnPorts(t *testing.T) {
	t.Parallel()
	base := time.Now()
	srv := startServer(t, base, false)
	px := startProxy(t, srv.addr(), Options{})
	a, b := dial(t, px, base), dial(t, px, base)
	a.send(t, px, 0, 10, 64)
	b.send(t, px, 100, 10, 64)
	got := drain(t, px, srv)
	ports := map[bool]map[uint16]bool{true: {}, false: {}} // by sender a
	for _, d := range got {
		ports[d.idx < 100][d.from.Port()] = true
	}
	if len(ports[true]) != 1 || len(ports[false]) != 1 {
		t.Fatalf("source ports: got %v for a and %v for b, want one each", ports[true], ports[false])
	}
	for p := range ports[true] {
		if ports[false][p] {
			t.Errorf("both clients reached the server from port %d, want distinct ports", p)
		}
	}
	if st := px.Stats(); st.Flows != 2 || st.Opened != 2 {
		t.Errorf("flows: got %d open, %d opened, want 2 and 2", st.Flows, st.Opened)
	}
}

func TestRebind(t *testing.T) {
	t.Parallel()
	base := time.Now()
	srv := startServer(t, base, true)
	px := startProxy(t, srv.addr(), Options{})
	c := dial(t, px, base)
	c.send(t, px, 0, 5, 64)
	waitFor(t, "5 echoes", func() bool { return len(c.received()) == 5 })
	if err := px.Rebind(c.conn.LocalAddr().(*net.UDPAddr)); err != nil {
		t.Fatalf("Rebind: %v", err)
	}
	c.send(t, px, 5, 5, 64)
	waitFor(t, "10 echoes", func() bool { return len(c.received()) == 10 })

	got := srv.received()
	before, after := got[0].from, got[9].from
	if before.Port() == after.Port() {
		t.Errorf("source port after Rebind: got %d, want a new one", after.Port())
	}
	for _, d := range got {
		if want := map[bool]uint16{true: before.Port(), false: after.Port()}[d.idx < 5]; d.from.Port() != want {
			t.Errorf("datagram %d from port %d, want %d", d.idx, d.from.Port(), want)
		}
	}
	if st := px.Stats(); st.Flows != 1 || st.Opened != 1 {
		t.Errorf("flows: got %d open, %d opened, want 1 and 1: Rebind keeps the flow", st.Flows, st.Opened)
	}

	for _, tt := range []struct {
		name string
		addr *net.UDPAddr
	}{
		{"unknown client", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}},
		{"nil", nil},
	} {
		if err := px.Rebind(tt.addr); !errors.Is(err, ErrUnknownFlow) {
			t.Errorf("Rebind(%s): got %v, want ErrUnknownFlow", tt.name, err)
		}
	}
}

func TestSetOptions(t *testing.T) {
	t.Parallel()
	base := time.Now()
	srv := startServer(t, base, false)
	px := startProxy(t, srv.addr(), Options{})
	c := dial(t, px, base)
	c.send(t, px, 0, 100, 64)
	if err := px.SetOptions(Options{Up: Config{Loss: 1}}); err != nil {
		t.Fatal(err)
	}
	c.send(t, px, 100, 100, 64)
	if err := px.SetOptions(Options{Up: Config{Loss: -1}}); !errors.Is(err, ErrConfig) {
		t.Errorf("SetOptions(Loss -1): got %v, want ErrConfig", err)
	}
	c.send(t, px, 200, 10, 64) // still lost: the bad options changed nothing
	if err := px.SetOptions(Options{}); err != nil {
		t.Fatal(err)
	}
	c.send(t, px, 300, 100, 64)
	got := indexes(drain(t, px, srv))
	var want []uint64
	for i := range uint64(100) {
		want = append(want, i)
	}
	for i := range uint64(100) {
		want = append(want, 300+i)
	}
	if !slices.Equal(got, want) {
		t.Errorf("received %d datagrams, want 0..99 and 300..399", len(got))
	}
	if s := px.Stats().Up; s.Lost != 110 {
		t.Errorf("Lost: got %d, want 110", s.Lost)
	}
}

func TestIdleFlowsForgotten(t *testing.T) {
	t.Parallel()
	base := time.Now()
	srv := startServer(t, base, false)
	px := startProxy(t, srv.addr(), Options{IdleTimeout: 50 * time.Millisecond})
	c := dial(t, px, base)
	c.send(t, px, 0, 1, 64)
	waitFor(t, "the flow to be forgotten", func() bool { return px.Stats().Flows == 0 })
	c.send(t, px, 1, 1, 64)
	if got := drain(t, px, srv); len(got) != 2 {
		t.Errorf("received %d, want 2", len(got))
	}
	if st := px.Stats(); st.Opened != 2 {
		t.Errorf("Opened: got %d, want 2: a forgotten client gets a new flow", st.Opened)
	}
}

func TestLimits(t *testing.T) {
	t.Parallel()
	base := time.Now()
	srv := startServer(t, base, false)
	px := startProxy(t, srv.addr(), Options{MaxFlows: 1, MaxDatagram: 100})
	a, b := dial(t, px, base), dial(t, px, base)
	a.send(t, px, 0, 1, 100)
	a.send(t, px, 1, 1, 101)
	if _, err := b.conn.Write(payload(b.buf, 2, base, 64)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b to be refused", func() bool { return px.Stats().Refused == 1 })
	got := drain(t, px, srv)
	if !slices.Equal(indexes(got), []uint64{0}) {
		t.Errorf("received %v, want [0]: the 101-byte datagram and the second client dropped", indexes(got))
	}
	if s := px.Stats().Up; s.Oversize != 1 || s.Received != 2 {
		t.Errorf("Oversize %d of %d received, want 1 of 2", s.Oversize, s.Received)
	}
}

// TestClose checks that Close stops every goroutine of a busy proxy. It
// counts goroutines, so it does not run in parallel.
func TestClose(t *testing.T) {
	base := time.Now()
	srv := startServer(t, base, true)
	before := runtime.NumGoroutine()
	px, err := NewUDP("127.0.0.1:0", srv.addr(), Options{
		Up:   Config{Delay: time.Second, Reorder: 0.5},
		Down: Config{Rate: 1000},
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		conn, err := net.DialUDP("udp", nil, px.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		for j := range 20 {
			conn.Write(payload(make([]byte, 64), uint64(i*100+j), base, 64))
		}
	}
	waitFor(t, "5 flows", func() bool { return px.Stats().Flows == 5 })
	if got := px.sched.len(); got == 0 {
		t.Errorf("scheduled before Close: got 0, want some")
	}
	if err := px.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	waitFor(t, "goroutines to exit", func() bool { return runtime.NumGoroutine() <= before })
	if err := px.Close(); err != nil {
		t.Errorf("second Close: got %v, want nil", err)
	}
	if err := px.Rebind(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}); !errors.Is(err, ErrClosed) {
		t.Errorf("Rebind after Close: got %v, want ErrClosed", err)
	}
	if st := px.Stats(); st.Flows != 0 {
		t.Errorf("flows after Close: got %d, want 0", st.Flows)
	}
}

// TestCleanPathAllocs checks that a datagram through a clean proxy, there
// and back, allocates nothing. It does not run in parallel: AllocsPerRun
// counts every goroutine's allocations.
func TestCleanPathAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	srv, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	px := startProxy(t, srv.LocalAddr().String(), Options{Up: Config{Loss: 0.000001}})
	conn, err := net.DialUDP("udp", nil, px.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	msg, buf := make([]byte, 100), make([]byte, 2048)
	roundTrip := func() {
		conn.Write(msg)
		_, from, err := srv.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatal(err)
		}
		srv.WriteToUDPAddrPort(msg, from)
		if _, err := conn.Read(buf); err != nil {
			t.Fatal(err)
		}
	}
	for range 100 { // open the flow, warm up
		roundTrip()
	}
	if got := testing.AllocsPerRun(1000, roundTrip); got != 0 {
		t.Errorf("allocs per round trip: got %v, want 0", got)
	}
}
