package metrics_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/packetd/packetd/internal/broker"
	"github.com/packetd/packetd/internal/deliver"
	"github.com/packetd/packetd/internal/metrics"
	"github.com/packetd/packetd/internal/stats"
)

func newCollector(t *testing.T) (*metrics.Collector, *stats.Stats) {
	t.Helper()
	st := new(stats.Stats)
	b, err := broker.New(broker.Config{}, deliver.NewHub(1<<20, st), st)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return metrics.New(st, b), st
}

// TestLint checks every metric against Prometheus' naming conventions
// (promlint: units, _total on counters, help texts).
func TestLint(t *testing.T) {
	t.Parallel()
	c, _ := newCollector(t)
	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

// TestCounters checks that the collector reads the stats at scrape time:
// a counter added to after New shows in the next scrape, under its
// mapped name and label, and histograms convert to seconds.
func TestCounters(t *testing.T) {
	t.Parallel()
	c, st := newCollector(t)
	st.DropSlowConsumer.Add(3)
	st.Emits.Add(5)
	st.QoS1Emits.Add(2)
	st.TCPConns.Add(4)
	st.AckLatency.Observe(2 * time.Millisecond)
	st.AckLatency.Observe(time.Hour)
	tr := st.NewTraffic()
	tr.In(5, 40)
	tr.Out(6, 3, 90)
	want := `
# HELP packetd_dropped_total Packets or messages dropped, by reason (docs/OPERATIONS.md explains each).
# TYPE packetd_dropped_total counter
packetd_dropped_total{reason="amplification"} 0
packetd_dropped_total{reason="emit_out_of_window"} 0
packetd_dropped_total{reason="hello_too_small"} 0
packetd_dropped_total{reason="inbox_full"} 0
packetd_dropped_total{reason="malformed_datagram"} 0
packetd_dropped_total{reason="oversize_datagram"} 0
packetd_dropped_total{reason="pending_full"} 0
packetd_dropped_total{reason="queue_limit"} 0
packetd_dropped_total{reason="slow_consumer"} 3
packetd_dropped_total{reason="too_large_for_udp"} 0
packetd_dropped_total{reason="udp_receive_buffer"} 0
packetd_dropped_total{reason="udp_send_buffer"} 0
packetd_dropped_total{reason="unknown_session"} 0
# HELP packetd_emits_total EMITs broadcast, by QoS level.
# TYPE packetd_emits_total counter
packetd_emits_total{qos="0"} 3
packetd_emits_total{qos="1"} 2
# HELP packetd_connections Connections open now by transport: TCP connections (HELLO or not), UDP session entries (validated or not).
# TYPE packetd_connections gauge
packetd_connections{transport="tcp"} 4
packetd_connections{transport="udp"} 0
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "packetd_dropped_total", "packetd_emits_total", "packetd_connections"); err != nil {
		t.Error(err)
	}
	m, err := testutil.CollectAndFormat(c, expfmt.TypeTextPlain, "packetd_ack_latency_seconds", "packetd_packets_in_total", "packetd_out_bytes_total")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		`packetd_ack_latency_seconds_bucket{le="0.001"} 0`,
		`packetd_ack_latency_seconds_bucket{le="0.0025"} 1`,
		`packetd_ack_latency_seconds_bucket{le="10"} 1`,
		`packetd_ack_latency_seconds_bucket{le="+Inf"} 2`,
		`packetd_ack_latency_seconds_count 2`,
		`packetd_ack_latency_seconds_sum 3600.002`,
		`packetd_packets_in_total{type="emit"} 1`,
		`packetd_out_bytes_total{type="message"} 90`,
	} {
		if !strings.Contains(string(m), s+"\n") {
			t.Errorf("missing %q in\n%s", s, m)
		}
	}
}

// TestUnmappedFieldsExported checks that every stats counter reaches
// /metrics under a name of its own: New exports a field the families do
// not map under a generic name, which this test reports (map it).
func TestUnmappedFieldsExported(t *testing.T) {
	t.Parallel()
	c, _ := newCollector(t)
	n, err := testutil.GatherAndCount(metrics.NewRegistry(c))
	if err != nil {
		t.Fatal(err)
	}
	if n < 50 {
		t.Fatalf("got %d metrics, want many", n)
	}
	ch := make(chan *prometheus.Desc, 1000)
	c.Describe(ch)
	close(ch)
	for d := range ch {
		if strings.Contains(d.String(), "internal/stats ") {
			t.Errorf("a stats field exported under a generic name: map it in internal/metrics families and document it in docs/OPERATIONS.md: %s", d)
		}
	}
}
