package bench

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

func TestFormatters(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"sigFig zero", sigFig(0, 3), "0"},
		{"sigFig small", sigFig(0.8123, 3), "0.812"},
		{"sigFig trailing zeros", sigFig(0.81, 3), "0.81"},
		{"sigFig integer", sigFig(630.4, 3), "630"},
		{"sigFig large", sigFig(123456, 3), "123456"},
		{"sigFig negative", sigFig(-1.234, 2), "-1.2"},
		{"siValue units", siValue(950), "950"},
		{"siValue k", siValue(12_345), "12.3 k"},
		{"siValue M", siValue(1_234_567), "1.23 M"},
		{"siValue G", siValue(2e9), "2 G"},
		{"siValue rounds up to the next unit", siValue(999.7), "1 k"},
		{"siValue just below", siValue(999.4), "999"},
		{"bitRate", bitRate(630e6), "630 Mbit/s"},
		{"bitRate small", bitRate(12), "12 bit/s"},
		{"formatMicros us", formatMicros(23.456), "23.5 us"},
		{"formatMicros ms", formatMicros(1520), "1.52 ms"},
		{"formatMicros s", formatMicros(2.1e6), "2.1 s"},
		{"formatMicros rounds up to the next unit", formatMicros(999.7), "1 ms"},
		{"formatMillis", formatMillis(0.01907666678670662), "0.0191"},
		{"formatMillis nanoseconds", formatMillis(4.36e-6), "0.000004"},
		{"formatMillis below a nanosecond", formatMillis(2.46e-12), "0"},
		{"formatMillis zero", formatMillis(0), "0"},
		{"formatPercent", formatPercent(84.6123), "84.6"},
		{"formatPercent small", formatPercent(0.00123), "0.0012"},
		{"formatPercent tiny", formatPercent(1.23e-5), "<0.0001"},
		{"formatPercent zero", formatPercent(0), "0"},
		{"roundFig integer part kept", roundFig(13273668.018, 6, 3), "13273668"},
		{"roundFig decimals capped", roundFig(4796.754176000003, 20, 3), "4796.754"},
		{"roundFig negative zero", roundFig(-1e-9, 3, 6), "0"},
		{"csv rate", csvRate(25925.1328482686), "25925.1"},
		{"csv duration", csvSecs(2.000028324), "2.00003"},
		{"csv short duration", csvSecs(0.060822214), "0.060822"},
		{"csv jitter", csvJitter(2.46e-12), "0"},
		{"csv percent", csvPercent(84.61234), "84.61"},
		{"formatBytes B", formatBytes(512), "512 B"},
		{"formatBytes KiB", formatBytes(3 << 10), "3 KiB"},
		{"formatBytes MiB", formatBytes(48 << 20), "48 MiB"},
		{"formatBytes GiB", formatBytes(5 << 40), "5120 GiB"},
		{"impairment", formatImpairment(&ImpairmentSpec{LossPercent: 5, DelayMs: 20, RateBitsPerSecond: 10e6}), "loss 5% delay 20ms rate 10 Mbit/s"},
		{"no impairment", formatImpairment(&ImpairmentSpec{Seed: 3}), "none"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

func TestWriteText(t *testing.T) {
	t.Parallel()
	doc := measDocument(t)
	var buf bytes.Buffer
	if err := WriteText(&buf, doc.Results); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	impair := lines[len(lines)-1]
	lines = lines[:len(lines)-1]
	if want := "impairment (UDP): loss 2% delay 20ms jitter 5ms reorder 1% duplicate 1% rate 10 Mbit/s seed 1"; impair != want {
		t.Errorf("last line %q, want %q", impair, want)
	}
	if f := strings.Fields(lines[0]); len(f) != 4 || f[1] != "TCP" || f[3] != "UDP" {
		t.Errorf("header %q, want the TCP and UDP columns", lines[0])
	}
	width := len(lines[0])
	for _, l := range lines {
		if len(l) != width {
			t.Errorf("line %q is %d wide, want %d (aligned columns)", l, len(l), width)
		}
	}
	want := []string{
		"sent msg/s", "sent Mbit/s", "received msg/s", "received Mbit/s",
		"latency min", "latency mean", "latency p50", "latency p90", "latency p99",
		"latency p99.9", "latency max", "lost", "duplicates", "out of order",
		"jitter", "retransmits", "server CPU", "server peak RSS", "RSS per session",
	}
	var labels []string
	for _, l := range lines[2:] {
		labels = append(labels, strings.TrimSpace(strings.SplitN(l, "|", 2)[0]))
	}
	for _, w := range want {
		if !slices.Contains(labels, w) {
			t.Errorf("no %q row in\n%s", w, out)
		}
	}
	for _, cell := range []string{" 0 (0 %) |", "| 12 (0.667 %)\n", "48 MiB", "3 KiB", "1.25 s", " us ", " ms"} {
		if !strings.Contains(out, cell) {
			t.Errorf("no %q in\n%s", cell, out)
		}
	}
}

// jsonLeaves returns the flattened names of v's leaves, as WriteCSV names
// its columns, skipping the series.
func jsonLeaves(prefix string, v any, out *[]string) {
	m, ok := v.(map[string]any)
	if !ok {
		*out = append(*out, prefix)
		return
	}
	for k, sub := range m {
		if k == "intervals" || k == "latency_cdf" {
			continue
		}
		name := k
		if prefix != "" {
			name = prefix + "_" + k
		}
		jsonLeaves(name, sub, out)
	}
}

func TestWriteCSV(t *testing.T) {
	t.Parallel()
	doc := measDocument(t)
	doc.Results[1].Server.Sessions = 3
	doc.Results[1].Server.RSSBeforeBytes = 1
	doc.Results[1].Server.RSSAfterBytes = 2
	var buf bytes.Buffer
	if err := WriteCSV(&buf, doc.Results); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatalf("output is not CSV: %v", err)
	}
	if len(recs) != 3 {
		t.Fatalf("%d records, want a header and 2 rows", len(recs))
	}
	// The columns are the JSON fields of a full result, flattened.
	js, _ := json.Marshal(doc.Results[1])
	var tree any
	json.Unmarshal(js, &tree)
	var want []string
	jsonLeaves("", tree, &want)
	header := slices.Clone(recs[0])
	sort.Strings(header)
	sort.Strings(want)
	if !slices.Equal(header, want) {
		t.Errorf("CSV header\n%v\nwant the flattened JSON fields\n%v", header, want)
	}
	col := func(name string) int { return slices.Index(recs[0], name) }
	tests := []struct {
		row  int
		col  string
		want string
	}{
		{1, "transport", "tcp"},
		{2, "transport", "udp"},
		{2, "lost_packets", "12"},
		{1, "sent_packets", "600"},
		{1, "impairment_loss_percent", ""},
		{2, "impairment_loss_percent", "2"},
		{2, "server_sessions", "3"},
	}
	for _, tt := range tests {
		if got := recs[tt.row][col(tt.col)]; got != tt.want {
			t.Errorf("row %d %s = %q, want %q", tt.row, tt.col, got, tt.want)
		}
	}
	if v, err := strconv.ParseFloat(recs[1][col("latency_us_p99")], 64); err != nil || v != doc.Results[0].Latency.P99 {
		t.Errorf("latency_us_p99 = %q, want %v", recs[1][col("latency_us_p99")], doc.Results[0].Latency.P99)
	}
	// Numbers are plain decimals, to their resolution: no exponent, no
	// float noise.
	for _, rec := range recs[1:] {
		for i, cell := range rec {
			if _, err := strconv.ParseFloat(cell, 64); err != nil {
				continue
			}
			_, frac, _ := strings.Cut(cell, ".")
			if strings.ContainsAny(cell, "eE") || len(frac) > 6 {
				t.Errorf("%s = %q, want a decimal with at most 6 decimals", recs[0][i], cell)
			}
		}
	}
}
