package bench

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"io"
	"math"
	"strconv"
	"strings"
)

// WriteJSON writes doc as indented JSON (the schema is in the package doc).
func WriteJSON(w io.Writer, doc *Document) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// summaryRow is a row of the summary table: a label and one cell per
// result.
type summaryRow struct {
	label string
	cells []string
}

// summaryRows is the summary table shared by WriteText and WriteHTML; the
// impairment row comes last, if any result has one.
func summaryRows(results []Result) []summaryRow {
	row := func(label string, cell func(r *Result) string) summaryRow {
		s := summaryRow{label: label, cells: make([]string, len(results))}
		for i := range results {
			s.cells[i] = cell(&results[i])
		}
		return s
	}
	lat := func(label string, v func(l *LatencyStats) float64) summaryRow {
		return row(label, func(r *Result) string {
			if r.Latency.Count == 0 {
				return "-"
			}
			return formatMicros(v(&r.Latency))
		})
	}
	known := func(v int64, f func(int64) string) string {
		if v <= 0 {
			return "-"
		}
		return f(v)
	}
	rows := []summaryRow{
		row("scenario", func(r *Result) string { return r.Scenario }),
		row("clients / pub / sub", func(r *Result) string {
			return strconv.Itoa(r.Clients) + " / " + strconv.Itoa(r.Publishers) + " / " + strconv.Itoa(r.Subscribers)
		}),
		row("size, qos", func(r *Result) string { return strconv.Itoa(r.Size) + " B, qos " + strconv.Itoa(r.QoS) }),
		row("duration", func(r *Result) string { return sigFig(r.Duration, 3) + " s" }),
		row("sending time", func(r *Result) string { return sigFig(r.SendTime, 3) + " s" }),
		row("sent msgs", func(r *Result) string { return strconv.FormatInt(r.Sent.Packets, 10) }),
		row("sent msg/s", func(r *Result) string { return siValue(r.Sent.PacketsPerSecond) }),
		row("sent Mbit/s", func(r *Result) string { return sigFig(r.Sent.BitsPerSecond/1e6, 3) }),
		row("received msgs", func(r *Result) string { return strconv.FormatInt(r.Received.Packets, 10) }),
		row("received msg/s", func(r *Result) string { return siValue(r.Received.PacketsPerSecond) }),
		row("received Mbit/s", func(r *Result) string { return sigFig(r.Received.BitsPerSecond/1e6, 3) }),
		lat("latency min", func(l *LatencyStats) float64 { return l.Min }),
		lat("latency mean", func(l *LatencyStats) float64 { return l.Mean }),
		lat("latency p50", func(l *LatencyStats) float64 { return l.P50 }),
		lat("latency p90", func(l *LatencyStats) float64 { return l.P90 }),
		lat("latency p99", func(l *LatencyStats) float64 { return l.P99 }),
		lat("latency p99.9", func(l *LatencyStats) float64 { return l.P999 }),
		lat("latency max", func(l *LatencyStats) float64 { return l.Max }),
		row("lost", func(r *Result) string {
			return strconv.FormatInt(r.LostPackets, 10) + " (" + formatPercent(r.LostPercent) + " %)"
		}),
		row("duplicates", func(r *Result) string { return strconv.FormatInt(r.Duplicates, 10) }),
		row("out of order", func(r *Result) string { return strconv.FormatInt(r.OutOfOrder, 10) }),
		row("jitter", func(r *Result) string { return formatMillis(r.JitterMs) + " ms" }),
		row("retransmits", func(r *Result) string { return strconv.FormatInt(r.Retransmits, 10) }),
		row("msgs per read", func(r *Result) string {
			if r.Reads == 0 {
				return "-"
			}
			return sigFig(float64(r.Received.Packets)/float64(r.Reads), 3)
		}),
		row("reads ending mid-frame", func(r *Result) string {
			if r.Transport == "udp" || r.Reads == 0 {
				return "-"
			}
			return strconv.FormatInt(r.SplitReads, 10)
		}),
		row("server CPU", func(r *Result) string {
			if r.Server.CPUSeconds <= 0 {
				return "-"
			}
			return sigFig(r.Server.CPUSeconds, 3) + " s"
		}),
		row("server peak RSS", func(r *Result) string { return known(r.Server.PeakRSSBytes, formatBytes) }),
		row("RSS per session", func(r *Result) string { return known(r.Server.RSSPerSessionBytes, formatBytes) }),
	}
	for i := range results {
		if results[i].Impairment != nil {
			rows = append(rows, row("impairment", func(r *Result) string { return formatImpairment(r.Impairment) }))
			break
		}
	}
	return rows
}

// WriteText writes the summary table: one row per measure, one column per
// result (TCP | UDP side by side), then the impairment of each result
// that had one, on a line of its own.
func WriteText(w io.Writer, results []Result) error {
	rows := summaryRows(results)
	var impairment summaryRow
	if last := len(rows) - 1; rows[last].label == "impairment" {
		rows, impairment = rows[:last], rows[last]
	}
	head := summaryRow{cells: make([]string, len(results))}
	for i := range results {
		head.cells[i] = strings.ToUpper(results[i].Transport)
	}
	labelW := 0
	cellW := make([]int, len(results))
	for _, r := range append(rows, head) {
		labelW = max(labelW, len(r.label))
		for i, c := range r.cells {
			cellW[i] = max(cellW[i], len(c))
		}
	}
	bw := bufio.NewWriter(w)
	line := func(r summaryRow) {
		bw.WriteString(r.label)
		bw.WriteString(strings.Repeat(" ", labelW-len(r.label)))
		for i, c := range r.cells {
			bw.WriteString(" | ")
			bw.WriteString(strings.Repeat(" ", cellW[i]-len(c)))
			bw.WriteString(c)
		}
		bw.WriteByte('\n')
	}
	line(head)
	bw.WriteString(strings.Repeat("-", labelW))
	for _, n := range cellW {
		bw.WriteString("-+-")
		bw.WriteString(strings.Repeat("-", n))
	}
	bw.WriteByte('\n')
	for _, r := range rows {
		line(r)
	}
	for i, c := range impairment.cells {
		if results[i].Impairment != nil {
			bw.WriteString("impairment (" + head.cells[i] + "): " + c + "\n")
		}
	}
	return bw.Flush()
}

// csvColumn is a column of WriteCSV: its header and its value.
type csvColumn struct {
	name  string
	value func(r *Result) string
}

func csvInt(v int64) string { return strconv.FormatInt(v, 10) }

// CSV numbers carry the digits that mean something, without an exponent:
// rates and settings 6 significant digits (whole numbers whole), times to
// their resolution (a nanosecond; a microsecond for the duration, a
// millisecond for CPU seconds), percentages 4 significant digits, jitter 3.
func csvRate(v float64) string    { return roundFig(v, 6, 3) }
func csvSecs(v float64) string    { return roundFig(v, 6, 6) }
func csvCPU(v float64) string     { return roundFig(v, 6, 3) }
func csvMicros(v float64) string  { return roundFig(v, 20, 3) }
func csvMillis(v float64) string  { return roundFig(v, 20, 6) }
func csvPercent(v float64) string { return roundFig(v, 4, 6) }
func csvJitter(v float64) string  { return roundFig(v, 3, 6) }

func csvImpair(v func(m *ImpairmentSpec) string) func(r *Result) string {
	return func(r *Result) string {
		if r.Impairment == nil {
			return ""
		}
		return v(r.Impairment)
	}
}

// csvColumns flattens Result: nested JSON names joined with '_'.
var csvColumns = []csvColumn{
	{"transport", func(r *Result) string { return r.Transport }},
	{"scenario", func(r *Result) string { return r.Scenario }},
	{"qos", func(r *Result) string { return strconv.Itoa(r.QoS) }},
	{"size", func(r *Result) string { return strconv.Itoa(r.Size) }},
	{"clients", func(r *Result) string { return strconv.Itoa(r.Clients) }},
	{"publishers", func(r *Result) string { return strconv.Itoa(r.Publishers) }},
	{"subscribers", func(r *Result) string { return strconv.Itoa(r.Subscribers) }},
	{"duration_s", func(r *Result) string { return csvSecs(r.Duration) }},
	{"send_time_s", func(r *Result) string { return csvSecs(r.SendTime) }},
	{"sent_packets", func(r *Result) string { return csvInt(r.Sent.Packets) }},
	{"sent_bytes", func(r *Result) string { return csvInt(r.Sent.Bytes) }},
	{"sent_packets_per_second", func(r *Result) string { return csvRate(r.Sent.PacketsPerSecond) }},
	{"sent_bits_per_second", func(r *Result) string { return csvRate(r.Sent.BitsPerSecond) }},
	{"received_packets", func(r *Result) string { return csvInt(r.Received.Packets) }},
	{"received_bytes", func(r *Result) string { return csvInt(r.Received.Bytes) }},
	{"received_packets_per_second", func(r *Result) string { return csvRate(r.Received.PacketsPerSecond) }},
	{"received_bits_per_second", func(r *Result) string { return csvRate(r.Received.BitsPerSecond) }},
	{"lost_packets", func(r *Result) string { return csvInt(r.LostPackets) }},
	{"lost_percent", func(r *Result) string { return csvPercent(r.LostPercent) }},
	{"duplicates", func(r *Result) string { return csvInt(r.Duplicates) }},
	{"out_of_order", func(r *Result) string { return csvInt(r.OutOfOrder) }},
	{"jitter_ms", func(r *Result) string { return csvJitter(r.JitterMs) }},
	{"latency_us_min", func(r *Result) string { return csvMicros(r.Latency.Min) }},
	{"latency_us_mean", func(r *Result) string { return csvMicros(r.Latency.Mean) }},
	{"latency_us_p50", func(r *Result) string { return csvMicros(r.Latency.P50) }},
	{"latency_us_p90", func(r *Result) string { return csvMicros(r.Latency.P90) }},
	{"latency_us_p99", func(r *Result) string { return csvMicros(r.Latency.P99) }},
	{"latency_us_p99_9", func(r *Result) string { return csvMicros(r.Latency.P999) }},
	{"latency_us_max", func(r *Result) string { return csvMicros(r.Latency.Max) }},
	{"latency_us_count", func(r *Result) string { return csvInt(r.Latency.Count) }},
	{"retransmits", func(r *Result) string { return csvInt(r.Retransmits) }},
	{"reads", func(r *Result) string { return csvInt(r.Reads) }},
	{"split_reads", func(r *Result) string { return csvInt(r.SplitReads) }},
	{"server_cpu_seconds", func(r *Result) string { return csvCPU(r.Server.CPUSeconds) }},
	{"server_peak_rss_bytes", func(r *Result) string { return csvInt(r.Server.PeakRSSBytes) }},
	{"server_rss_per_session_bytes", func(r *Result) string { return csvInt(r.Server.RSSPerSessionBytes) }},
	{"server_rss_before_bytes", func(r *Result) string { return csvInt(r.Server.RSSBeforeBytes) }},
	{"server_rss_after_bytes", func(r *Result) string { return csvInt(r.Server.RSSAfterBytes) }},
	{"server_sessions", func(r *Result) string { return csvInt(r.Server.Sessions) }},
	{"impairment_loss_percent", csvImpair(func(m *ImpairmentSpec) string { return csvRate(m.LossPercent) })},
	{"impairment_delay_ms", csvImpair(func(m *ImpairmentSpec) string { return csvMillis(m.DelayMs) })},
	{"impairment_jitter_ms", csvImpair(func(m *ImpairmentSpec) string { return csvMillis(m.JitterMs) })},
	{"impairment_reorder_percent", csvImpair(func(m *ImpairmentSpec) string { return csvRate(m.ReorderPercent) })},
	{"impairment_duplicate_percent", csvImpair(func(m *ImpairmentSpec) string { return csvRate(m.DuplicatePercent) })},
	{"impairment_rate_bits_per_second", csvImpair(func(m *ImpairmentSpec) string { return csvRate(m.RateBitsPerSecond) })},
	{"impairment_seed", csvImpair(func(m *ImpairmentSpec) string { return csvInt(m.Seed) })},
	{"impairment_packets", csvImpair(func(m *ImpairmentSpec) string { return strconv.FormatUint(m.Packets, 10) })},
	{"impairment_dropped", csvImpair(func(m *ImpairmentSpec) string { return strconv.FormatUint(m.Dropped, 10) })},
}

// WriteCSV writes a header and one row per result: the JSON fields,
// flattened (latency_us.p99 becomes latency_us_p99), without the
// intervals and the CDF. Impairment columns are empty without one.
func WriteCSV(w io.Writer, results []Result) error {
	cw := csv.NewWriter(w)
	rec := make([]string, len(csvColumns))
	for i, c := range csvColumns {
		rec[i] = c.name
	}
	cw.Write(rec)
	for i := range results {
		for j, c := range csvColumns {
			rec[j] = c.value(&results[i])
		}
		cw.Write(rec)
	}
	cw.Flush()
	return cw.Error()
}

// sigFig formats v with n significant digits, without an exponent and
// without trailing zeros after the point ("0.81", "630", "1234").
func sigFig(v float64, n int) string { return roundFig(v, n, 15) }

// roundFig formats v with n significant digits but at most dec decimals
// (the resolution of the quantity), without an exponent and without
// trailing zeros after the point: the digits of the integer part are all
// kept ("1234" with n = 3), and a value that rounds to zero is "0".
func roundFig(v float64, n, dec int) string {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return "0"
	}
	d := min(max(n-1-int(math.Floor(math.Log10(math.Abs(v)))), 0), dec)
	s := strconv.FormatFloat(v, 'f', d, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" {
		return "0"
	}
	return s
}

// round3 rounds v to 3 significant digits, so that a unit is chosen for
// the value as printed (999.7 is "1 k", not "1000").
func round3(v float64) float64 {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return v
	}
	p := math.Pow(10, math.Floor(math.Log10(math.Abs(v)))-2)
	return math.Round(v/p) * p
}

// formatMillis formats a time in milliseconds measured to the nanosecond
// (jitter): 3 significant digits, at most 6 decimals ("0.0152",
// "0.000004", "0").
func formatMillis(ms float64) string { return roundFig(ms, 3, 6) }

// formatPercent formats a percentage: 3 significant digits, at most 4
// decimals, "<0.0001" for less but not zero.
func formatPercent(p float64) string {
	if s := roundFig(p, 3, 4); s != "0" || p <= 0 {
		return s
	}
	return "<0.0001"
}

// siValue formats a count or rate with an SI prefix: "950", "12.3 k",
// "1.23 M".
func siValue(v float64) string {
	v = round3(v)
	switch a := math.Abs(v); {
	case a >= 1e9:
		return sigFig(v/1e9, 3) + " G"
	case a >= 1e6:
		return sigFig(v/1e6, 3) + " M"
	case a >= 1e3:
		return sigFig(v/1e3, 3) + " k"
	}
	return sigFig(v, 3)
}

// bitRate formats bits per second: "630 Mbit/s".
func bitRate(v float64) string {
	s := siValue(v)
	if strings.HasSuffix(s, " G") || strings.HasSuffix(s, " M") || strings.HasSuffix(s, " k") {
		return s + "bit/s"
	}
	return s + " bit/s"
}

// formatMicros formats a duration given in microseconds with its unit:
// "23.5 us", "1.52 ms", "2.1 s".
func formatMicros(us float64) string {
	us = round3(us)
	switch a := math.Abs(us); {
	case a >= 1e6:
		return sigFig(us/1e6, 3) + " s"
	case a >= 1e3:
		return sigFig(us/1e3, 3) + " ms"
	}
	return sigFig(us, 3) + " us"
}

// formatBytes formats a size in IEC units: "45.6 MiB".
func formatBytes(n int64) string {
	v := float64(n)
	for _, u := range []string{"B", "KiB", "MiB", "GiB"} {
		if math.Abs(v) < 1024 || u == "GiB" {
			return sigFig(v, 3) + " " + u
		}
		v /= 1024
	}
	return "" // not reached
}

// formatImpairment is the one-line form of an impairment: its non-zero
// settings and the seed that replays it (--seed).
func formatImpairment(m *ImpairmentSpec) string {
	if m == nil {
		return "-"
	}
	var parts []string
	add := func(v float64, s string) {
		if v != 0 {
			parts = append(parts, s)
		}
	}
	add(m.LossPercent, "loss "+sigFig(m.LossPercent, 3)+"%")
	add(m.DelayMs, "delay "+sigFig(m.DelayMs, 3)+"ms")
	add(m.JitterMs, "jitter "+sigFig(m.JitterMs, 3)+"ms")
	add(m.ReorderPercent, "reorder "+sigFig(m.ReorderPercent, 3)+"%")
	add(m.DuplicatePercent, "duplicate "+sigFig(m.DuplicatePercent, 3)+"%")
	add(m.RateBitsPerSecond, "rate "+bitRate(m.RateBitsPerSecond))
	if len(parts) == 0 {
		return "none"
	}
	if m.Seed != 0 {
		parts = append(parts, "seed "+strconv.FormatInt(m.Seed, 10))
	}
	if m.Packets > 0 {
		parts = append(parts, "(dropped "+strconv.FormatUint(m.Dropped, 10)+" of "+strconv.FormatUint(m.Packets, 10)+" packets)")
	}
	return strings.Join(parts, " ")
}
