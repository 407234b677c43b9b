package stats

import (
	"sync/atomic"
	"time"
)

// latencyBounds are the upper bounds of a Histogram's buckets: 50 µs to
// 10 s, about three per decade, for loopback round trips as for fsyncs on
// a slow disk and retransmitted UDP.
var latencyBounds = [...]time.Duration{
	50 * time.Microsecond, 100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond, 10 * time.Millisecond,
	25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
	500 * time.Millisecond, time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second,
}

// Histogram counts durations in fixed buckets (LatencyBounds). Observe is
// two atomic adds: no lock, no allocation, safe on hot paths and for
// concurrent use. The zero value is ready to use.
type Histogram struct {
	counts [len(latencyBounds) + 1]atomic.Uint64 // the last bucket is +Inf
	sum    atomic.Int64                          // nanoseconds
}

// Observe adds one duration.
func (h *Histogram) Observe(d time.Duration) {
	i := 0
	for i < len(latencyBounds) && d > latencyBounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(int64(d))
}

// HistogramSnapshot is a Histogram's state at one moment.
type HistogramSnapshot struct {
	Bounds []time.Duration // upper bounds of the buckets, +Inf excluded
	Counts []uint64        // per bucket, not cumulative; one more than Bounds (+Inf)
	Count  uint64          // the sum of Counts
	Sum    time.Duration   // of every duration observed
}

// Snapshot reads the histogram. Observations that run concurrently may be
// in Counts and not yet in Sum.
func (h *Histogram) Snapshot() HistogramSnapshot {
	s := HistogramSnapshot{Bounds: LatencyBounds(), Counts: make([]uint64, len(h.counts))}
	for i := range h.counts {
		s.Counts[i] = h.counts[i].Load()
		s.Count += s.Counts[i]
	}
	s.Sum = time.Duration(h.sum.Load())
	return s
}

// LatencyBounds returns the upper bounds of a Histogram's buckets.
func LatencyBounds() []time.Duration { return append([]time.Duration(nil), latencyBounds[:]...) }
