package bench

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// TestHistIndex checks histIndex and histValue against hdrhistogram's
// own layout: values recorded at histIndex(v) in a plain array give the
// library's counts, and histValue inverts histIndex.
func TestHistIndex(t *testing.T) {
	t.Parallel()
	h := newHist()
	if got := len(h.Export().Counts); got != histLen {
		t.Fatalf("hdrhistogram has %d counts, want histLen = %d", got, histLen)
	}
	var values []int64
	for i := range histLen {
		v := histValue(i)
		if v > histHighest {
			break
		}
		if got := histIndex(v); got != i {
			t.Fatalf("histIndex(histValue(%d) = %d) = %d", i, v, got)
		}
		values = append(values, v, max(v-1, 0), min(v+1, histHighest))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		values = append(values, rng.Int64N(histHighest+1), rng.Int64N(1<<rng.IntN(36)))
	}
	values = append(values, 0, histHighest)
	counts := make([]int64, histLen)
	for _, v := range values {
		if err := h.RecordValue(v); err != nil {
			t.Fatalf("RecordValue(%d): %v", v, err)
		}
		counts[histIndex(v)]++
	}
	if got := h.Export().Counts; !slices.Equal(got, counts) {
		for i := range counts {
			if got[i] != counts[i] {
				t.Fatalf("count %d (value %d) = %d, want hdrhistogram's %d", i, histValue(i), counts[i], got[i])
			}
		}
	}
}

// TestLocalExact plays random deliveries through several Locals, in
// batches and not, with Ticks in between, and checks the run's histogram
// and every interval's against hdrhistogram fed the same values directly.
func TestLocalExact(t *testing.T) {
	t.Parallel()
	for _, expected := range []time.Duration{0, 3 * time.Millisecond} {
		r := NewRecorder(RecorderConfig{Start: measStart, Interval: 100 * time.Millisecond, ExpectedInterval: expected})
		record := func(h *hdrhistogram.Histogram, lat int64) {
			_ = h.RecordCorrectedValue(min(max(lat, 0), histHighest), int64(expected))
		}
		total := newHist()
		var ivs []*hdrhistogram.Histogram // by interval
		locals := make([]*Local, 5)
		for i := range locals {
			locals[i] = r.NewLocal()
		}
		rng := rand.New(rand.NewPCG(3, uint64(expected)))
		t0 := measStart.UnixNano()
		seq := make([]uint64, len(locals))
		var closed []IntervalStats
		for step := range 20000 {
			now := t0 + int64(step)*50000 // 1 s in all
			if step%2000 == 1 {           // just after a boundary
				closed = append(closed, r.Tick(time.Unix(0, now))...)
			}
			i := rng.IntN(len(locals))
			l := locals[i]
			batch := rng.IntN(2) == 0
			if batch {
				l.Begin()
			}
			for range 1 + rng.IntN(20) {
				lat := int64(rng.ExpFloat64() * float64(time.Millisecond))
				if rng.IntN(1000) == 0 {
					lat = rng.Int64N(int64(2 * time.Minute)) // clamped (when it is not negative)
				}
				sent := now - lat
				if sent < t0 { // sent in the future instead: clamped to 0
					sent, lat = now+lat, -lat
				}
				seq[i]++
				l.Observe(Payload{Seq: seq[i], Sent: sent}, now, 64)
				record(total, lat)
				idx := int((now - t0) / int64(100*time.Millisecond))
				for len(ivs) <= idx {
					ivs = append(ivs, newHist())
				}
				record(ivs[idx], lat)
			}
			if batch {
				l.End()
			}
		}
		closed = append(closed, r.Finish(time.Unix(0, t0+int64(time.Second)))...)
		if !r.total.Equals(total) {
			t.Errorf("expected interval %v: the run's histogram differs from hdrhistogram's (%d values, want %d)",
				expected, r.total.TotalCount(), total.TotalCount())
		}
		if len(closed) != len(ivs) {
			t.Fatalf("expected interval %v: %d intervals, want %d", expected, len(closed), len(ivs))
		}
		for i, iv := range closed {
			want := ivs[i]
			if iv.P50 != usec(want.ValueAtQuantile(50)) || iv.P99 != usec(want.ValueAtQuantile(99)) {
				t.Errorf("expected interval %v: interval %d p50 %v p99 %v us, want %v %v", expected, i,
					iv.P50, iv.P99, usec(want.ValueAtQuantile(50)), usec(want.ValueAtQuantile(99)))
			}
		}
	}
}
