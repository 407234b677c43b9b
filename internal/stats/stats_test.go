package stats_test

import (
	"testing"
	"time"

	"github.com/packetd/packetd/internal/stats"
)

// TestHotPathAllocs checks that what the event loops call per packet
// allocates nothing.
func TestHotPathAllocs(t *testing.T) {
	var st stats.Stats
	tr := st.NewTraffic()
	if n := testing.AllocsPerRun(1000, func() {
		tr.In(5, 40)
		tr.Out(6, 100, 4000)
		st.AckLatency.Observe(3 * time.Millisecond)
	}); n != 0 {
		t.Errorf("Traffic.In, Traffic.Out, Histogram.Observe: got %v allocations, want 0", n)
	}
}

// TestHistogram checks bucketing: a bound belongs to its own bucket.
func TestHistogram(t *testing.T) {
	t.Parallel()
	var h stats.Histogram
	for _, d := range []time.Duration{0, 50 * time.Microsecond, 51 * time.Microsecond, time.Second, time.Minute} {
		h.Observe(d)
	}
	s := h.Snapshot()
	if s.Count != 5 || s.Sum != time.Minute+time.Second+101*time.Microsecond {
		t.Errorf("count, sum: got %d, %v", s.Count, s.Sum)
	}
	if len(s.Counts) != len(s.Bounds)+1 {
		t.Fatalf("got %d counts for %d bounds, want one more", len(s.Counts), len(s.Bounds))
	}
	want := map[time.Duration]uint64{50 * time.Microsecond: 2, 100 * time.Microsecond: 1, time.Second: 1}
	for i, b := range s.Bounds {
		if s.Counts[i] != want[b] {
			t.Errorf("bucket le %v: got %d, want %d", b, s.Counts[i], want[b])
		}
	}
	if inf := s.Counts[len(s.Bounds)]; inf != 1 {
		t.Errorf("bucket +Inf: got %d, want 1", inf)
	}
}

// TestTraffic checks that Stats.Traffic sums every Traffic by type.
func TestTraffic(t *testing.T) {
	t.Parallel()
	var st stats.Stats
	a, b := st.NewTraffic(), st.NewTraffic()
	a.In(5, 10)
	b.In(5, 30)
	b.Out(6, 2, 200)
	a.In(200, 1) // out of range: type 0
	tt := st.Traffic()
	if tt.InPackets[5] != 2 || tt.InBytes[5] != 40 || tt.OutPackets[6] != 2 || tt.OutBytes[6] != 200 || tt.InPackets[0] != 1 {
		t.Errorf("got %+v", tt)
	}
}

// TestSnapshot reads every exported counter by name (packetbench's spawned
// server reports them so), whatever else Stats holds.
func TestSnapshot(t *testing.T) {
	var s stats.Stats
	s.Retransmits.Add(3)
	m := s.Snapshot()
	if m["Retransmits"] != 3 {
		t.Errorf("Snapshot()[Retransmits] = %d, want 3", m["Retransmits"])
	}
	if len(m) < 20 {
		t.Errorf("Snapshot has %d counters, want them all", len(m))
	}
}
