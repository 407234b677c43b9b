package bench

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func TestFlowObserve(t *testing.T) {
	t.Parallel()
	const (
		in  = OutcomeInOrder
		ooo = OutcomeOutOfOrder
		dup = OutcomeDuplicate
	)
	tests := []struct {
		name  string
		seqs  []uint64
		want  []Outcome
		stats FlowStats // JitterMs and Jittered not compared
	}{
		{
			name:  "in order",
			seqs:  []uint64{1, 2, 3, 4, 5},
			want:  []Outcome{in, in, in, in, in},
			stats: FlowStats{Delivered: 5, Bytes: 50, Lowest: 1, Highest: 5},
		},
		{
			name:  "duplicate",
			seqs:  []uint64{1, 2, 2, 3, 1},
			want:  []Outcome{in, in, dup, in, dup},
			stats: FlowStats{Delivered: 3, Bytes: 30, Duplicates: 2, Lowest: 1, Highest: 3},
		},
		{
			name:  "gap filled late",
			seqs:  []uint64{1, 2, 5, 3, 4},
			want:  []Outcome{in, in, in, ooo, ooo},
			stats: FlowStats{Delivered: 5, Bytes: 50, OutOfOrder: 2, Lowest: 1, Highest: 5},
		},
		{
			name:  "gap left open",
			seqs:  []uint64{1, 4, 7},
			want:  []Outcome{in, in, in},
			stats: FlowStats{Delivered: 3, Bytes: 30, Lowest: 1, Highest: 7, Gaps: 4},
		},
		{
			name:  "reordered then duplicated",
			seqs:  []uint64{1, 3, 2, 2, 3},
			want:  []Outcome{in, in, ooo, dup, dup},
			stats: FlowStats{Delivered: 3, Bytes: 30, Duplicates: 2, OutOfOrder: 1, Lowest: 1, Highest: 3},
		},
		{
			name:  "starts after 1",
			seqs:  []uint64{100, 101, 99},
			want:  []Outcome{in, in, ooo},
			stats: FlowStats{Delivered: 3, Bytes: 30, OutOfOrder: 1, Lowest: 99, Highest: 101},
		},
		{
			name: "jump past the window forgets everything",
			seqs: []uint64{10, 10 + FlowWindow + 100, 10 + FlowWindow + 95, 10 + FlowWindow + 95, 10},
			want: []Outcome{in, in, ooo, dup, ooo},
			stats: FlowStats{Delivered: 4, Bytes: 40, Duplicates: 1, OutOfOrder: 2, Lowest: 10,
				Highest: 10 + FlowWindow + 100, Gaps: FlowWindow + 100 - 3},
		},
		{
			name:  "window edge",
			seqs:  []uint64{1, 2, FlowWindow + 1, 2, 1},
			want:  []Outcome{in, in, in, dup, ooo}, // 2 is within the window, 1 just out of it
			stats: FlowStats{Delivered: 4, Bytes: 40, Duplicates: 1, OutOfOrder: 1, Lowest: 1, Highest: FlowWindow + 1, Gaps: FlowWindow - 3},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var f Flow
			for i, seq := range tt.seqs {
				if got := f.Observe(seq, 0, int64(time.Millisecond), 10); got != tt.want[i] {
					t.Errorf("Observe(%d) #%d = %v, want %v", seq, i, got, tt.want[i])
				}
			}
			got := f.Stats()
			got.JitterMs, got.Jittered = 0, 0
			if got != tt.stats {
				t.Errorf("Stats = %+v\nwant    %+v", got, tt.stats)
			}
		})
	}
}

// TestFlowModel checks Flow against a model that remembers every sequence
// number, on random walks with reordering, duplicates and jumps.
func TestFlowModel(t *testing.T) {
	t.Parallel()
	for seed := range uint64(4) {
		rng := rand.New(rand.NewPCG(seed, 1))
		var f Flow
		seen := map[uint64]bool{}
		var hi uint64
		for i := range 200000 {
			var seq uint64
			switch k := rng.IntN(100); {
			case k < 70 || hi == 0:
				seq = hi + 1
			case k < 80:
				seq = hi + 1 + uint64(rng.IntN(50))
			case k < 81:
				seq = hi + uint64(rng.IntN(3*FlowWindow))
			case k < 95:
				seq = hi - uint64(rng.IntN(int(min(hi, 100))))
			default:
				seq = hi - uint64(rng.IntN(int(min(hi, 2*FlowWindow))))
			}
			seq = max(seq, 1)
			var want Outcome
			switch {
			case i == 0 || seq > hi:
				want = OutcomeInOrder
			case hi-seq >= FlowWindow:
				want = OutcomeOutOfOrder
			case seen[seq]:
				want = OutcomeDuplicate
			default:
				want = OutcomeOutOfOrder
			}
			seen[seq] = true
			hi = max(hi, seq)
			if got := f.Observe(seq, 0, 0, 1); got != want {
				t.Fatalf("seed %d step %d: Observe(%d) with highest %d = %v, want %v", seed, i, seq, hi, got, want)
			}
		}
	}
}

func TestFlowJitter(t *testing.T) {
	t.Parallel()
	ms := int64(time.Millisecond)
	tests := []struct {
		name     string
		transits []int64 // recv - sent, in arrival order
		dupLast  bool    // the last message repeats the one before
		want     float64 // ms
	}{
		{"single message", []int64{5 * ms}, false, 0},
		{"constant transit", []int64{ms, ms, ms, ms}, false, 0},
		// RFC 3550: J += (|D| - J)/16 with D = 1, 1, 0 ms.
		{"varying", []int64{ms, 2 * ms, ms, ms}, false, (1.0/16 + (1-1.0/16)/16) * (1 - 1.0/16)},
		{"duplicates do not count", []int64{ms, 2 * ms, 50 * ms}, true, 1.0 / 16},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var f Flow
			for i, tr := range tt.transits {
				seq := uint64(i + 1)
				if tt.dupLast && i == len(tt.transits)-1 {
					seq--
				}
				sent := int64(i) * 10 * ms
				f.Observe(seq, sent, sent+tr, 1)
			}
			if got := f.Stats().JitterMs; math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("jitter = %v ms, want %v ms", got, tt.want)
			}
		})
	}
}

func TestLocalObserve(t *testing.T) {
	t.Parallel()
	start := time.Unix(1000, 0)
	r := NewRecorder(RecorderConfig{Transport: "udp", Run: 9, Start: start, Interval: time.Hour})
	l := r.NewLocal()
	t0 := start.UnixNano()
	ms := int64(time.Millisecond)
	tests := []struct {
		name string
		p    Payload
		want Outcome
	}{
		{"first", Payload{Publisher: 1, Seq: 1, Sent: t0, Run: 9}, OutcomeInOrder},
		{"other run", Payload{Publisher: 1, Seq: 2, Sent: t0, Run: 8}, OutcomeForeign},
		{"warmup", Payload{Publisher: 1, Seq: 2, Sent: t0 - 1, Run: 9}, OutcomeEarly},
		{"next", Payload{Publisher: 1, Seq: 2, Sent: t0, Run: 9}, OutcomeInOrder},
		{"again", Payload{Publisher: 1, Seq: 2, Sent: t0, Run: 9}, OutcomeDuplicate},
		{"other publisher", Payload{Publisher: 2, Seq: 7, Sent: t0, Run: 9}, OutcomeInOrder},
		{"sparse publisher", Payload{Publisher: 1 << 30, Seq: 1, Sent: t0, Run: 9}, OutcomeInOrder},
		{"sparse publisher again", Payload{Publisher: 1 << 30, Seq: 1, Sent: t0, Run: 9}, OutcomeDuplicate},
	}
	for _, tt := range tests {
		if got := l.Observe(tt.p, tt.p.Sent+ms, 64); got != tt.want {
			t.Errorf("%s: Observe = %v, want %v", tt.name, got, tt.want)
		}
	}
	l.Record(t0+ms, 3*ms, 10)
	l.Close()
	l.Close()
	r.Finish(start.Add(time.Second))
	res := r.Result()
	if got, want := res.Received.Packets, int64(5); got != want {
		t.Errorf("received = %d, want %d", got, want)
	}
	if got, want := res.Received.Bytes, int64(4*64+10); got != want {
		t.Errorf("received bytes = %d, want %d", got, want)
	}
	if got, want := res.Duplicates, int64(2); got != want {
		t.Errorf("duplicates = %d, want %d", got, want)
	}
	if got, want := res.Latency.Count, int64(5); got != want {
		t.Errorf("latency count = %d, want %d", got, want)
	}
	if got, want := res.Latency.Max, 3000.0; math.Abs(got-want)/want > 0.001 {
		t.Errorf("latency max = %v us, want %v", got, want)
	}
}

// TestLocalCountLimit: a Local that has counted as many latency values as
// its 32-bit counts hold hands them over before the next, whatever the
// interval.
func TestLocalCountLimit(t *testing.T) {
	t.Parallel()
	r := NewRecorder(RecorderConfig{Start: measStart, Interval: time.Hour, ExpectedInterval: time.Millisecond})
	l := r.NewLocal()
	l.limit = 7
	t0 := measStart.UnixNano()
	for i := range 10 {
		l.Record(t0, int64(i)*int64(time.Millisecond), 1) // 1, 1, 2, 3 ... 10 values
	}
	r.Finish(measStart.Add(time.Second))
	res := r.Result()
	if got, want := res.Latency.Count, int64(1+1+2+3+4+5+6+7+8+9); got != want {
		t.Errorf("latency count = %d, want %d", got, want)
	}
	if got := res.Received.Packets; got != 10 {
		t.Errorf("received = %d, want 10", got)
	}
	if got, want := res.Latency.Max, 9000.0; math.Abs(got-want)/want > 0.001 {
		t.Errorf("latency max = %v us, want %v", got, want)
	}
}

// Allocation tests do not call t.Parallel (AllocsPerRun counts the whole
// process).
func TestObserveAllocs(t *testing.T) {
	start := time.Unix(1000, 0)
	t0 := start.UnixNano()
	var f Flow
	seq := uint64(0)
	if n := testing.AllocsPerRun(10000, func() {
		seq++
		f.Observe(seq, t0, t0+50000, 64)
	}); n != 0 {
		t.Errorf("Flow.Observe allocs = %v, want 0", n)
	}
	for _, tc := range []struct {
		name     string
		expected time.Duration
	}{{"plain", 0}, {"corrected", 10 * time.Microsecond}} {
		r := NewRecorder(RecorderConfig{Start: start, Interval: time.Hour, ExpectedInterval: tc.expected})
		l := r.NewLocal()
		p := Payload{Publisher: 3, Sent: t0}
		observe := func() {
			p.Seq++
			p.Sent += 1000
			l.Observe(p, p.Sent+int64(p.Seq%100)*1000, 64)
		}
		for range 1000 { // the flow, the histogram's pages
			observe()
		}
		if n := testing.AllocsPerRun(10000, observe); n != 0 {
			t.Errorf("%s: Local.Observe allocs = %v, want 0", tc.name, n)
		}
		l.Begin()
		if n := testing.AllocsPerRun(10000, observe); n != 0 {
			t.Errorf("%s: Local.Observe in a batch allocs = %v, want 0", tc.name, n)
		}
		l.End()
	}
}

func BenchmarkFlowObserve(b *testing.B) {
	b.ReportAllocs()
	var f Flow
	var seq uint64
	for b.Loop() {
		seq++
		f.Observe(seq, 1000, 51000+int64(seq%7)*100, 64)
	}
}

// benchBatch is how many messages a benchmark receiver handles per read.
const benchBatch = 500

func BenchmarkLocalObserve(b *testing.B) {
	for _, tc := range []struct {
		name     string
		expected time.Duration
		batch    int
	}{{"plain", 0, benchBatch}, {"corrected", 100 * time.Microsecond, benchBatch}, {"unbatched", 0, 1}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			start := time.Now()
			r := NewRecorder(RecorderConfig{Start: start, Interval: time.Hour, ExpectedInterval: tc.expected})
			l := r.NewLocal()
			p := Payload{Publisher: 1, Sent: start.UnixNano()}
			k := 0
			for b.Loop() {
				if k == 0 && tc.batch > 1 {
					l.Begin()
				}
				p.Seq++
				p.Sent += 1000
				l.Observe(p, p.Sent+50000+int64(p.Seq%13)*1000, 64)
				if k++; k == tc.batch {
					k = 0
					if tc.batch > 1 {
						l.End()
					}
				}
			}
			if k > 0 && tc.batch > 1 {
				l.End()
			}
		})
	}
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		start := time.Now()
		r := NewRecorder(RecorderConfig{Start: start, Interval: time.Hour})
		b.RunParallel(func(pb *testing.PB) {
			l := r.NewLocal()
			defer l.Close()
			p := Payload{Publisher: 1, Sent: start.UnixNano()}
			l.Begin()
			for k := 1; pb.Next(); k++ {
				p.Seq++
				p.Sent += 1000
				l.Observe(p, p.Sent+50000+int64(p.Seq%13)*1000, 64)
				if k%benchBatch == 0 {
					l.End()
					l.Begin()
				}
			}
			l.End()
		})
	})
	// A fan-out to 1,000 receivers: each handles a read of benchBatch
	// messages in turn, latencies spread over 200-300 ms.
	b.Run("locals=1000", func(b *testing.B) {
		b.ReportAllocs()
		start := time.Now()
		r := NewRecorder(RecorderConfig{Start: start, Interval: time.Hour})
		ls := make([]*Local, 1000)
		for i := range ls {
			ls[i] = r.NewLocal()
		}
		seq := make([]uint64, len(ls))
		i, k := 0, 0
		ls[0].Begin()
		for b.Loop() {
			seq[i]++
			sent := start.UnixNano() + int64(seq[i])*1000
			ls[i].Observe(Payload{Seq: seq[i], Sent: sent}, sent+200e6+int64(seq[i]%1000)*100000, 64)
			if k++; k == benchBatch {
				ls[i].End()
				k, i = 0, (i+1)%len(ls)
				ls[i].Begin()
			}
		}
		ls[i].End()
	})
}
