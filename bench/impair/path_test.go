package impair

import (
	"encoding/binary"
	"math"
	"slices"
	"testing"
	"time"
)

// sim drives one path on a simulated clock: a link that records what the
// path writes, with the proxy's scheduler heap run by hand.
type sim struct {
	now   int64
	sched scheduler
	st    counters
	pa    path
	out   []sent
}

type sent struct {
	idx int
	at  time.Duration
}

func newSim(seed int64) *sim {
	m := &sim{}
	m.pa.out, m.pa.st = m, &m.st
	seedPCG(&m.pa.rng, seed, 0, up)
	return m
}

func (m *sim) write(pa *path, b []byte) {
	m.out = append(m.out, sent{int(binary.BigEndian.Uint64(b)), time.Duration(m.now)})
	pa.st.sent.Add(1)
}

func (m *sim) schedule(pkt *packet) { m.sched.schedule(pkt) }

// advance runs the scheduler up to time to, with c in force.
func (m *sim) advance(c *Config, to int64) {
	for len(m.sched.heap) > 0 && m.sched.heap[0].due <= to {
		pkt := m.sched.popLocked()
		m.now = max(m.now, pkt.due)
		if pkt.timer {
			pkt.free()
			m.pa.expire(c, m.now)
			continue
		}
		m.write(pkt.path, pkt.buf)
		m.pa.sent(pkt)
		pkt.free()
	}
	m.now = max(m.now, to)
}

// ingress delivers datagram idx of size bytes at time at.
func (m *sim) ingress(c *Config, idx, size int, at time.Duration) {
	m.advance(c, int64(at))
	b := make([]byte, max(size, 8))
	binary.BigEndian.PutUint64(b, uint64(idx))
	m.pa.ingress(c, b, int64(at))
}

func TestPathStages(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	tests := []struct {
		name string
		cfg  Config
		// marks forces one datagram's random stages: L lose, D duplicate,
		// H hold for Reorder, . none. Datagram i arrives at i*every.
		marks string
		every time.Duration
		size  int
		want  []sent
		stats DirStats
	}{
		{
			name: "clean", marks: "...", every: ms, size: 100,
			want:  []sent{{0, 0}, {1, ms}, {2, 2 * ms}},
			stats: DirStats{Received: 3, Sent: 3},
		},
		{
			name: "loss", marks: ".L.L", every: ms, size: 100,
			want:  []sent{{0, 0}, {2, 2 * ms}},
			stats: DirStats{Received: 4, Sent: 2, Lost: 2},
		},
		{
			name: "duplicate", marks: "D.", every: ms, size: 100,
			want:  []sent{{0, 0}, {0, 0}, {1, ms}},
			stats: DirStats{Received: 2, Sent: 3, Duplicated: 1},
		},
		{
			name: "delay", cfg: Config{Delay: 10 * ms}, marks: "...", every: ms, size: 100,
			want:  []sent{{0, 10 * ms}, {1, 11 * ms}, {2, 12 * ms}},
			stats: DirStats{Received: 3, Sent: 3, Delayed: 3},
		},
		{
			name: "rate serializes a burst", cfg: Config{Rate: 1000}, marks: "...", size: 100,
			want:  []sent{{0, 100 * ms}, {1, 200 * ms}, {2, 300 * ms}},
			stats: DirStats{Received: 3, Sent: 3, Delayed: 3},
		},
		{
			name: "rate when idle", cfg: Config{Rate: 1000}, marks: "...", every: 500 * ms, size: 100,
			want:  []sent{{0, 100 * ms}, {1, 600 * ms}, {2, 1100 * ms}},
			stats: DirStats{Received: 3, Sent: 3, Delayed: 3},
		},
		{
			name: "rate then delay", cfg: Config{Rate: 1000, Delay: 50 * ms}, marks: "..", size: 100,
			want:  []sent{{0, 150 * ms}, {1, 250 * ms}},
			stats: DirStats{Received: 2, Sent: 2, Delayed: 2},
		},
		{
			name: "queue limit", cfg: Config{Rate: 1000, QueueLimit: 250}, marks: ".....", size: 100,
			want:  []sent{{0, 100 * ms}, {1, 200 * ms}},
			stats: DirStats{Received: 5, Sent: 2, QueueDrops: 3, Delayed: 2},
		},
		{
			name: "queue limit counts delayed bytes", cfg: Config{Delay: time.Second, QueueLimit: 200}, marks: "...", every: ms, size: 100,
			want:  []sent{{0, 1000 * ms}, {1, 1001 * ms}},
			stats: DirStats{Received: 3, Sent: 2, QueueDrops: 1, Delayed: 2},
		},
		{
			name: "reorder gap 1", marks: "H...", every: ms, size: 100,
			want:  []sent{{1, ms}, {0, ms}, {2, 2 * ms}, {3, 3 * ms}},
			stats: DirStats{Received: 4, Sent: 4, Reordered: 1, Delayed: 2}, // 1 queues behind 0
		},
		{
			name: "reorder gap 2", cfg: Config{ReorderGap: 2}, marks: "H...", every: ms, size: 100,
			want:  []sent{{1, ms}, {2, 2 * ms}, {0, 2 * ms}, {3, 3 * ms}},
			stats: DirStats{Received: 4, Sent: 4, Reordered: 1, Delayed: 3},
		},
		{
			name: "two held, one overtaker", marks: "HH..", every: ms, size: 100,
			want:  []sent{{2, 2 * ms}, {0, 2 * ms}, {1, 2 * ms}, {3, 3 * ms}},
			stats: DirStats{Received: 4, Sent: 4, Reordered: 2, Delayed: 3},
		},
		{
			name: "held duplicate", marks: "X.", every: ms, size: 100,
			want:  []sent{{1, ms}, {0, ms}, {0, ms}},
			stats: DirStats{Received: 2, Sent: 3, Duplicated: 1, Reordered: 2, Delayed: 3},
		},
		{
			name: "held alone times out", marks: "H", size: 100,
			want:  []sent{{0, DefaultReorderTimeout}},
			stats: DirStats{Received: 1, Sent: 1, Delayed: 1},
		},
		{
			name: "held past a quiet flow", cfg: Config{ReorderGap: 3, ReorderTimeout: 20 * ms}, marks: "H.", every: ms, size: 100,
			want:  []sent{{1, ms}, {0, 20 * ms}},
			stats: DirStats{Received: 2, Sent: 2, Reordered: 1, Delayed: 2},
		},
		{
			name: "released into a delay", cfg: Config{Delay: 10 * ms}, marks: "H.", every: ms, size: 100,
			want:  []sent{{1, 11 * ms}, {0, 11 * ms}},
			stats: DirStats{Received: 2, Sent: 2, Reordered: 1, Delayed: 2},
		},
		{
			name: "held counts against the queue", cfg: Config{QueueLimit: 150}, marks: "HH", every: ms, size: 100,
			want:  []sent{{0, DefaultReorderTimeout}},
			stats: DirStats{Received: 2, Sent: 1, QueueDrops: 1, Delayed: 1},
		},
		{
			name: "a dropped datagram does not overtake", cfg: Config{QueueLimit: 150}, marks: "H.", every: ms, size: 100,
			want:  []sent{{0, DefaultReorderTimeout}},
			stats: DirStats{Received: 2, Sent: 1, QueueDrops: 1, Delayed: 1},
		},
		{
			name: "a lost datagram does not overtake", marks: "HL.", every: ms, size: 100,
			want:  []sent{{2, 2 * ms}, {0, 2 * ms}},
			stats: DirStats{Received: 3, Sent: 2, Lost: 1, Reordered: 1, Delayed: 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := newSim(1)
			c, err := tt.cfg.validate("Up")
			if err != nil {
				t.Fatal(err)
			}
			for i, mark := range tt.marks {
				d := c
				d.Loss = b2f(mark == 'L')
				d.Duplicate = b2f(mark == 'D' || mark == 'X')
				d.Reorder = b2f(mark == 'H' || mark == 'X')
				m.ingress(&d, i, tt.size, time.Duration(i)*tt.every)
			}
			m.advance(&c, math.MaxInt64)
			if !slices.Equal(m.out, tt.want) {
				t.Errorf("sent (index, time):\ngot  %v\nwant %v", m.out, tt.want)
			}
			if got := m.st.snapshot(); got != tt.stats {
				t.Errorf("stats:\ngot  %+v\nwant %+v", got, tt.stats)
			}
			if got := m.pa.queued.Load(); got != 0 {
				t.Errorf("queued bytes after draining: got %d, want 0", got)
			}
		})
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func TestPathJitter(t *testing.T) {
	t.Parallel()
	const n = 1000
	delay, jitter := 5*time.Millisecond, 10*time.Millisecond
	c, _ := Config{Delay: delay, Jitter: jitter}.validate("Up")
	m := newSim(3)
	for i := range n {
		m.ingress(&c, i, 100, time.Duration(i)*time.Millisecond)
	}
	m.advance(&c, math.MaxInt64)
	if len(m.out) != n {
		t.Fatalf("sent: got %d, want %d", len(m.out), n)
	}
	inv, top := 0, -1
	for _, s := range m.out {
		arrived := time.Duration(s.idx) * time.Millisecond
		if d := s.at - arrived; d < delay || d >= delay+jitter {
			t.Errorf("datagram %d delayed %v, want in [%v, %v)", s.idx, d, delay, delay+jitter)
		}
		if s.idx < top {
			inv++
		}
		top = max(top, s.idx)
	}
	if inv == 0 {
		t.Errorf("inversions: got 0, want some with jitter %v over 1 ms spacing", jitter)
	}
}

// TestPathQueueEmptyDatagrams checks that empty datagrams count against
// QueueLimit, so a sender of them cannot grow a delayed queue without bound.
func TestPathQueueEmptyDatagrams(t *testing.T) {
	t.Parallel()
	for _, c := range []Config{
		{Delay: time.Second, QueueLimit: 2},
		{Reorder: 1, ReorderTimeout: time.Second, QueueLimit: 2},
	} {
		m := newSim(1)
		for range 5 {
			m.pa.ingress(&c, nil, 0)
		}
		if got, want := m.st.queueDrops.Load(), uint64(3); got != want {
			t.Errorf("%+v: queue drops: got %d, want %d", c, got, want)
		}
		if got, want := m.pa.queued.Load(), int64(2); got != want {
			t.Errorf("%+v: queued: got %d, want %d", c, got, want)
		}
	}
}

// TestPathReorderTimers checks that a path holding many datagrams keeps
// one reorder timer in the scheduler, and that each held datagram still
// leaves at its own deadline, also one that a shorter ReorderTimeout puts
// before the others'.
func TestPathReorderTimers(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	long := Config{Reorder: 1, ReorderGap: 1000, ReorderTimeout: 100 * ms, QueueLimit: DefaultQueueLimit}
	short := long
	short.ReorderTimeout = 10 * ms
	m := newSim(1)
	var want []sent
	for i := range 50 {
		at := time.Duration(i) * ms / 10
		m.ingress(&long, i, 100, at)
		want = append(want, sent{i, at + long.ReorderTimeout})
	}
	if got := len(m.sched.heap); got != 1 {
		t.Errorf("timers for 50 held datagrams: got %d, want 1", got)
	}
	m.ingress(&short, 50, 100, 5*ms)
	want = append([]sent{{50, 5*ms + short.ReorderTimeout}}, want...)
	m.advance(&short, math.MaxInt64)
	if !slices.Equal(m.out, want) {
		t.Errorf("got %v, want %v", m.out, want)
	}
}

// TestPathFIFO checks that without jitter a path stays in order when its
// delay shrinks mid-stream.
func TestPathFIFO(t *testing.T) {
	t.Parallel()
	m := newSim(1)
	long, _ := Config{Delay: 100 * time.Millisecond}.validate("Up")
	short, _ := Config{Delay: time.Millisecond}.validate("Up")
	m.ingress(&long, 0, 100, 0)
	m.ingress(&short, 1, 100, time.Millisecond)
	m.ingress(&Config{QueueLimit: DefaultQueueLimit}, 2, 100, 2*time.Millisecond)
	m.advance(&short, math.MaxInt64)
	want := []sent{{0, 100 * time.Millisecond}, {1, 100 * time.Millisecond}, {2, 100 * time.Millisecond}}
	if !slices.Equal(m.out, want) {
		t.Errorf("got %v, want %v", m.out, want)
	}
}

// verdicts returns the first n verdicts of a path.
func verdicts(seed int64, flow uint64, d dir, c Config, n int) []verdict {
	var pa path
	seedPCG(&pa.rng, seed, flow, d)
	out := make([]verdict, n)
	for i := range out {
		out[i] = pa.decideLocked(&c)
	}
	return out
}

func lostSet(vs []verdict) []int {
	var out []int
	for i, v := range vs {
		if v.lost {
			out = append(out, i)
		}
	}
	return out
}

func TestDecideDeterministic(t *testing.T) {
	t.Parallel()
	c := Config{Loss: 0.2, Duplicate: 0.1, Reorder: 0.1, Jitter: time.Millisecond}
	const n = 1000
	ref := verdicts(42, 0, up, c, n)
	tests := []struct {
		name string
		vs   []verdict
		same bool
	}{
		{"same seed, flow, direction", verdicts(42, 0, up, c, n), true},
		{"other seed", verdicts(43, 0, up, c, n), false},
		{"other flow", verdicts(42, 1, up, c, n), false},
		{"other direction", verdicts(42, 0, down, c, n), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := slices.Equal(tt.vs, ref); got != tt.same {
				t.Errorf("same verdicts: got %v, want %v", got, tt.same)
			}
		})
	}
}

func TestDecideStagesIndependent(t *testing.T) {
	t.Parallel()
	const n = 10000
	low := lostSet(verdicts(7, 0, up, Config{Loss: 0.1}, n))
	high := lostSet(verdicts(7, 0, up, Config{Loss: 0.2}, n))
	mixed := lostSet(verdicts(7, 0, up, Config{Loss: 0.1, Duplicate: 0.5, Reorder: 0.5, Jitter: time.Second}, n))
	for _, i := range low {
		if _, ok := slices.BinarySearch(high, i); !ok {
			t.Fatalf("datagram %d lost at Loss 0.1 but not at 0.2", i)
		}
	}
	if !slices.Equal(low, mixed) {
		t.Errorf("losses changed with the other stages' settings: got %d lost, want the same %d", len(mixed), len(low))
	}
}

func TestDecideRates(t *testing.T) {
	t.Parallel()
	const n = 100000
	tests := []struct {
		name  string
		cfg   Config
		count func(verdict) bool
		p     float64
	}{
		{"loss", Config{Loss: 0.2}, func(v verdict) bool { return v.lost }, 0.2},
		{"duplicate", Config{Duplicate: 0.05}, func(v verdict) bool { return v.dup }, 0.05},
		{"reorder", Config{Reorder: 0.3}, func(v verdict) bool { return v.hold }, 0.3},
		{"loss 0", Config{}, func(v verdict) bool { return v.lost }, 0},
		{"loss 1", Config{Loss: 1}, func(v verdict) bool { return v.lost }, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := 0
			for _, v := range verdicts(99, 0, up, tt.cfg, n) {
				if tt.count(v) {
					got++
				}
			}
			want := tt.p * n
			tol := 5 * math.Sqrt(n*tt.p*(1-tt.p)) // five standard deviations
			if math.Abs(float64(got)-want) > tol {
				t.Errorf("got %d of %d, want %.0f ± %.0f", got, n, want, tol)
			}
		})
	}
}

func TestPathAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	tests := []struct {
		name string
		cfg  Config
	}{
		{"clean", Config{}},
		{"lossy", Config{Loss: 0.5}},
		{"delayed", Config{Delay: time.Millisecond, Jitter: time.Millisecond}},
		{"reordered", Config{Reorder: 0.3, Duplicate: 0.2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := tt.cfg.validate("Up")
			m := newSim(1)
			b := make([]byte, 100)
			now := int64(0)
			step := func() {
				now += int64(100 * time.Microsecond)
				m.pa.ingress(&c, b, now)
				m.advance(&c, now)
				m.out = m.out[:0]
			}
			for range 1000 { // warm the pool and grow the heap and lists
				step()
			}
			if got := testing.AllocsPerRun(1000, step); got != 0 {
				t.Errorf("allocs per datagram: got %v, want 0", got)
			}
		})
	}
}
