package bench

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// measStart is the start of the synthetic runs: a fixed time, so that
// their results are reproducible.
var measStart = time.Date(2025, 11, 25, 12, 0, 0, 0, time.UTC)

// measRun plays a synthetic run through a Recorder: pubs publishers each
// send n messages 10 ms apart from the start, subs receivers get every
// one after a latency that varies from 50 us to about 5 ms; over "udp" the
// first receiver loses every 50th message, sees every 70th twice and every
// 30th swapped with the next. It ticks at every interval boundary.
func measRun(t testing.TB, transport string, pubs, subs, n int) Result {
	t.Helper()
	r := NewRecorder(RecorderConfig{
		Transport: transport, Scenario: "fanout", Size: 64,
		Clients: subs, Publishers: pubs, Subscribers: subs,
		Run: 77, Start: measStart,
	})
	t0 := measStart.UnixNano()
	locals := make([]*Local, subs)
	for i := range locals {
		locals[i] = r.NewLocal()
	}
	lossy := transport == "udp"
	next := measStart.Add(time.Second)
	for k := 1; k <= n; k++ {
		sent := t0 + int64(k-1)*int64(10*time.Millisecond)
		if sent >= next.UnixNano() {
			r.Tick(next)
			next = next.Add(time.Second)
		}
		for pub := range pubs {
			r.AddSent(1, 64)
			for i, l := range locals {
				seq := uint64(k)
				if lossy && i == 0 {
					switch {
					case k%50 == 0:
						continue
					case k%30 == 0 && k < n:
						seq++ // the next one overtakes
					case k%30 == 1 && k > 1:
						seq--
					}
				}
				lat := int64(50*time.Microsecond) + int64(k%100)*int64(50*time.Microsecond) + int64(i)*1000
				p := Payload{Publisher: uint32(pub), Seq: seq, Sent: sent, Run: 77}
				l.Observe(p, sent+lat, 64)
				if lossy && i == 0 && k%70 == 0 {
					l.Observe(p, sent+lat+1000, 64)
				}
			}
		}
	}
	r.Expect(int64(n * pubs * subs))
	for _, l := range locals {
		l.Close()
	}
	r.Finish(measStart.Add(time.Duration(n) * 10 * time.Millisecond))
	res := r.Result()
	res.Server = ServerStats{CPUSeconds: 1.25, PeakRSSBytes: 48 << 20, RSSPerSessionBytes: 3 << 10}
	if lossy {
		res.Impairment = &ImpairmentSpec{LossPercent: 2, DelayMs: 20, JitterMs: 5, ReorderPercent: 1,
			DuplicatePercent: 1, RateBitsPerSecond: 10e6, Seed: 1}
	}
	return res
}

// measDocument is a synthetic two-transport document.
func measDocument(t testing.TB) *Document {
	t.Helper()
	doc := NewDocument("v0.1.0-test", []string{"packetbench", "fanout", "-c", "3", "--transport", "tcp,udp"}, measStart)
	doc.Results = append(doc.Results, measRun(t, "tcp", 2, 3, 300), measRun(t, "udp", 2, 3, 300))
	return doc
}

func TestSyntheticRun(t *testing.T) {
	t.Parallel()
	doc := measDocument(t)
	tcp, udp := doc.Results[0], doc.Results[1]
	const want = 300 * 2 * 3
	tests := []struct {
		name      string
		got, want float64
	}{
		{"tcp sent", float64(tcp.Sent.Packets), 600},
		{"tcp sent msg/s", tcp.Sent.PacketsPerSecond, 200},
		{"tcp sent bit/s", tcp.Sent.BitsPerSecond, 200 * 64 * 8},
		{"tcp duration", tcp.Duration, 3},
		{"tcp received", float64(tcp.Received.Packets), want},
		{"tcp received msg/s", tcp.Received.PacketsPerSecond, want / 3},
		{"tcp lost", float64(tcp.LostPackets), 0},
		{"tcp duplicates", float64(tcp.Duplicates), 0},
		{"tcp out of order", float64(tcp.OutOfOrder), 0},
		{"tcp latency count", float64(tcp.Latency.Count), want},
		{"tcp latency min", tcp.Latency.Min, 50}, // within the histogram's 0.1 %
		{"tcp intervals", float64(len(tcp.Intervals)), 3},
		{"udp lost", float64(udp.LostPackets), 2 * 6},
		{"udp lost %", udp.LostPercent, 100 * 12.0 / want},
		{"udp received", float64(udp.Received.Packets), want - 12},
		{"udp duplicates", float64(udp.Duplicates), 2 * 4},
		{"udp out of order", float64(udp.OutOfOrder), 2 * 8}, // 150's swap is a loss
	}
	for _, tt := range tests {
		if math.Abs(tt.got-tt.want) > 1e-3*math.Max(1, math.Abs(tt.want)) {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	var recv int64
	for _, iv := range tcp.Intervals {
		recv += iv.ReceivedPackets
		if iv.P50 <= 0 || iv.P99 < iv.P50 {
			t.Errorf("interval %v-%v: p50 %v us, p99 %v us", iv.Start, iv.End, iv.P50, iv.P99)
		}
		if iv.SentPackets != 200 {
			t.Errorf("interval %v-%v: sent %d, want 200", iv.Start, iv.End, iv.SentPackets)
		}
	}
	if recv != tcp.Received.Packets {
		t.Errorf("intervals received %d in all, want %d", recv, tcp.Received.Packets)
	}
	l := tcp.Latency
	if !(l.Min <= l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max && l.Min <= l.Mean && l.Mean <= l.Max) {
		t.Errorf("latency stats out of order: %+v", l)
	}
	if cdf := tcp.LatencyCDF; len(cdf) == 0 || cdf[len(cdf)-1].Percent != 100 ||
		!slices.IsSortedFunc(cdf, func(a, b CDFPoint) int { return int(a.US - b.US) }) {
		t.Errorf("latency CDF not cumulative: %v", cdf)
	}
	if udp.JitterMs <= 0 || tcp.JitterMs <= 0 {
		t.Errorf("jitter tcp %v ms, udp %v ms, want > 0", tcp.JitterMs, udp.JitterMs)
	}
}

// jsonSchema lists every key of the documented JSON objects; a key
// prefixed with '?' may be absent. Nested objects are keyed "parent.key"
// (arrays of objects: "parent.key[]").
var jsonSchema = map[string][]string{
	"":                        {"packetbench", "results"},
	"packetbench":             {"version", "start", "args", "host"},
	"packetbench.host":        {"cpus", "os", "go"},
	"results[]":               {"transport", "scenario", "qos", "size", "clients", "publishers", "subscribers", "duration_s", "send_time_s", "sent", "received", "lost_packets", "lost_percent", "duplicates", "out_of_order", "jitter_ms", "latency_us", "?latency_cdf", "retransmits", "reads", "split_reads", "server", "intervals", "?impairment"},
	"results[].sent":          {"packets", "bytes", "packets_per_second", "bits_per_second"},
	"results[].received":      {"packets", "bytes", "packets_per_second", "bits_per_second"},
	"results[].latency_us":    {"min", "mean", "p50", "p90", "p99", "p99_9", "max", "count"},
	"results[].latency_cdf[]": {"us", "percent"},
	"results[].server":        {"cpu_seconds", "peak_rss_bytes", "rss_per_session_bytes", "?rss_before_bytes", "?rss_after_bytes", "?sessions"},
	"results[].intervals[]":   {"start", "end", "sent_packets", "received_packets", "lost_packets", "bits_per_second", "p50_us", "p99_us"},
	"results[].impairment":    {"loss_percent", "delay_ms", "jitter_ms", "reorder_percent", "duplicate_percent", "rate_bits_per_second", "seed", "packets", "dropped"},
}

// checkSchema walks v, the decoded JSON at path, checking every object
// against jsonSchema; it records the paths it met in met.
func checkSchema(t *testing.T, path string, v any, met map[string]bool) {
	t.Helper()
	switch v := v.(type) {
	case map[string]any:
		keys, ok := jsonSchema[path]
		if !ok {
			t.Errorf("%s: undocumented object", path)
			return
		}
		met[path] = true
		for _, k := range keys {
			name, optional := strings.CutPrefix(k, "?")
			if _, ok := v[name]; !ok && !optional {
				t.Errorf("%s: missing %q", path, name)
			}
		}
		for k, sub := range v {
			if !slices.Contains(keys, k) && !slices.Contains(keys, "?"+k) {
				t.Errorf("%s: undocumented field %q", path, k)
			}
			checkSchema(t, strings.TrimPrefix(path+"."+k, "."), sub, met)
		}
	case []any:
		for _, e := range v {
			checkSchema(t, path+"[]", e, met)
		}
	}
}

func TestJSONSchema(t *testing.T) {
	t.Parallel()
	doc := measDocument(t)
	doc.Results[0].Server.Sessions = 3 // a conns field
	doc.Results[0].Server.RSSBeforeBytes = 1 << 20
	doc.Results[0].Server.RSSAfterBytes = 2 << 20
	var buf bytes.Buffer
	if err := WriteJSON(&buf, doc); err != nil {
		t.Fatal(err)
	}
	var tree any
	if err := json.Unmarshal(buf.Bytes(), &tree); err != nil {
		t.Fatalf("output is not JSON: %v", err)
	}
	met := map[string]bool{}
	checkSchema(t, "", tree, met)
	var missing []string
	for path := range jsonSchema {
		if !met[path] {
			missing = append(missing, path)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("objects not in the output: %v", missing)
	}

	// The document decodes into its own types and encodes the same.
	var back Document
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	if err := WriteJSON(&again, &back); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Bytes(), buf.Bytes()) {
		t.Errorf("decoded and re-encoded document differs")
	}
	if got, want := back.Results[1].LostPackets, doc.Results[1].LostPackets; got != want {
		t.Errorf("decoded lost_packets = %d, want %d", got, want)
	}
}

func TestJSONEmptyRun(t *testing.T) {
	t.Parallel()
	r := NewRecorder(RecorderConfig{Transport: "tcp", Start: measStart})
	r.Finish(measStart)
	doc := NewDocument("v", nil, measStart)
	doc.Results = append(doc.Results, r.Result())
	var buf bytes.Buffer
	if err := WriteJSON(&buf, doc); err != nil {
		t.Fatalf("WriteJSON of an empty run: %v", err)
	}
	for _, want := range []string{`"intervals": []`, `"args": []`, `"p99_9": 0`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("empty run JSON lacks %s:\n%s", want, buf.String())
		}
	}
}

func TestRecorderIntervals(t *testing.T) {
	t.Parallel()
	r := NewRecorder(RecorderConfig{Start: measStart})
	l := r.NewLocal()
	t0 := measStart.UnixNano()
	at := func(d time.Duration) int64 { return t0 + int64(d) }
	observe := func(pub uint32, seq uint64, recv int64) {
		l.Observe(Payload{Publisher: pub, Seq: seq, Sent: recv - int64(time.Millisecond)}, recv, 100)
	}
	r.AddSent(10, 1000)
	for i := range 10 {
		observe(0, uint64(i+1), at(500*time.Millisecond))
	}
	if ivs := r.Tick(measStart.Add(999 * time.Millisecond)); len(ivs) != 0 {
		t.Fatalf("Tick before the first boundary closed %d intervals", len(ivs))
	}
	ivs := r.Tick(measStart.Add(time.Second + 5*time.Millisecond))
	observe(0, 14, at(1500*time.Millisecond)) // 3 lost
	observe(0, 12, at(1600*time.Millisecond)) // 1 found
	r.AddSent(5, 500)
	ivs = append(ivs, r.Tick(measStart.Add(2*time.Second+5*time.Millisecond))...)
	want := []IntervalStats{
		{Start: 0, End: 1, SentPackets: 10, ReceivedPackets: 10, ReceivedBytes: 1000, BitsPerSecond: 8000, P50: 1000, P99: 1000},
		{Start: 1, End: 2, SentPackets: 5, ReceivedPackets: 2, ReceivedBytes: 200, BitsPerSecond: 1600, P50: 1000, P99: 1000, Lost: 2},
	}
	if len(ivs) != len(want) {
		t.Fatalf("Tick closed %d intervals, want %d", len(ivs), len(want))
	}
	for i := range want {
		got := ivs[i]
		if math.Abs(got.P50-want[i].P50) < 1 && math.Abs(got.P99-want[i].P99) < 1 {
			got.P50, got.P99 = want[i].P50, want[i].P99 // histogram precision
		}
		if got != want[i] {
			t.Errorf("interval %d = %+v\nwant         %+v", i, got, want[i])
		}
	}
	// A sample stamped before a closed boundary counts in the first open
	// interval.
	observe(0, 13, at(1700*time.Millisecond))
	ivs = r.Finish(measStart.Add(2500 * time.Millisecond))
	if len(ivs) != 1 || ivs[0].Start != 2 || ivs[0].End != 2.5 || ivs[0].ReceivedPackets != 1 || ivs[0].Lost != -1 {
		t.Errorf("Finish intervals = %+v, want one 2-2.5 s with the late sample", ivs)
	}
	if ivs := r.Finish(measStart.Add(time.Hour)); ivs != nil {
		t.Errorf("second Finish returned %v", ivs)
	}
	if ivs := r.Tick(measStart.Add(time.Hour)); ivs != nil {
		t.Errorf("Tick after Finish returned %v", ivs)
	}
	if res := r.Result(); len(res.Intervals) != 3 || res.Duration != 2.5 {
		t.Errorf("result: %d intervals over %v s, want 3 over 2.5 s", len(res.Intervals), res.Duration)
	}
}

func TestRecorderFinishPartial(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		end  time.Duration
		want int
	}{
		{"at a boundary", 2 * time.Second, 2},
		{"sliver dropped", 2*time.Second + 50*time.Millisecond, 2},
		{"tenth kept", 2*time.Second + 100*time.Millisecond, 3},
		{"short run", 300 * time.Millisecond, 1},
		{"nothing", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := NewRecorder(RecorderConfig{Start: measStart})
			if got := len(r.Finish(measStart.Add(tt.end))); got != tt.want {
				t.Errorf("Finish at %v closed %d intervals, want %d", tt.end, got, tt.want)
			}
		})
	}
}

func TestRecorderCorrection(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		expected  time.Duration
		latency   time.Duration
		wantCount int64
	}{
		{"uncorrected", 0, 10 * time.Millisecond, 1},
		{"corrected stall", time.Millisecond, 10 * time.Millisecond, 10},
		{"below interval", time.Millisecond, 500 * time.Microsecond, 1},
		{"clamped to 60 s", 0, time.Hour, 1},
		{"negative clamped to 0", 0, -time.Second, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := NewRecorder(RecorderConfig{Start: measStart, ExpectedInterval: tt.expected})
			l := r.NewLocal()
			l.Record(measStart.UnixNano(), int64(tt.latency), 1)
			r.Finish(measStart.Add(time.Second))
			res := r.Result()
			if got := res.Latency.Count; got != tt.wantCount {
				t.Errorf("latency count = %d, want %d", got, tt.wantCount)
			}
			if got := res.Received.Packets; got != 1 {
				t.Errorf("received = %d, want 1 (corrections are not deliveries)", got)
			}
			if res.Latency.Max > 60.1e6 {
				t.Errorf("max = %v us, beyond the histogram's 60 s", res.Latency.Max)
			}
		})
	}
}

func TestRecorderLoss(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		seqs        []uint64
		expect      int64
		wantLost    int64
		wantPercent float64
	}{
		{"expected counts tail loss", []uint64{1, 2, 3}, 5, 2, 40},
		{"gaps without expect", []uint64{1, 2, 5}, 0, 2, 40},
		{"no loss", []uint64{1, 2, 3, 4}, 4, 0, 0},
		{"more than expected", []uint64{1, 2, 3}, 2, 0, 0},
		{"nothing at all", nil, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := NewRecorder(RecorderConfig{Start: measStart})
			l := r.NewLocal()
			for _, s := range tt.seqs {
				l.Observe(Payload{Seq: s, Sent: measStart.UnixNano()}, measStart.UnixNano()+1e5, 1)
			}
			r.Expect(tt.expect)
			r.Finish(measStart.Add(time.Second)) // closes l
			res := r.Result()
			if res.LostPackets != tt.wantLost || math.Abs(res.LostPercent-tt.wantPercent) > 1e-9 {
				t.Errorf("lost = %d (%v %%), want %d (%v %%)", res.LostPackets, res.LostPercent, tt.wantLost, tt.wantPercent)
			}
			var sum int64
			for _, iv := range res.Intervals {
				sum += iv.Lost
			}
			if len(res.Intervals) != 1 || sum != res.LostPackets {
				t.Errorf("intervals %+v lose %d in all, want one interval and %d", res.Intervals, sum, res.LostPackets)
			}
		})
	}
}

// TestRecorderConcurrent runs receivers, publishers and the ticker at once
// (meant for -race) and checks that nothing is lost or counted twice.
func TestRecorderConcurrent(t *testing.T) {
	t.Parallel()
	const (
		receivers  = 8
		publishers = 4
		n          = 5000
	)
	r := NewRecorder(RecorderConfig{Transport: "tcp", Interval: 2 * time.Millisecond})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	ticks := make(chan int)
	go func() {
		total := 0
		for {
			select {
			case <-stop:
				ticks <- total
				return
			default:
				total += len(r.Tick(time.Now()))
				time.Sleep(time.Millisecond)
			}
		}
	}()
	for range publishers {
		wg.Go(func() {
			for range n / 100 {
				r.AddSent(100, 6400)
			}
		})
	}
	for i := range receivers {
		wg.Go(func() {
			l := r.NewLocal()
			if i%2 == 0 {
				defer l.Close() // the others are closed by Finish
			}
			for k := 1; k <= n; k++ {
				for pub := range publishers {
					now := time.Now().UnixNano()
					l.Observe(Payload{Publisher: uint32(pub), Seq: uint64(k), Sent: now - 20000}, now, 64)
					if k%100 == 0 {
						l.Observe(Payload{Publisher: uint32(pub), Seq: uint64(k), Sent: now - 20000}, now, 64)
					}
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	ticked := <-ticks
	r.Expect(receivers * publishers * n)
	final := r.Finish(time.Now())
	res := r.Result()
	if got, want := res.Received.Packets, int64(receivers*publishers*n); got != want {
		t.Errorf("received = %d, want %d", got, want)
	}
	if got, want := res.Duplicates, int64(receivers*publishers*n/100); got != want {
		t.Errorf("duplicates = %d, want %d", got, want)
	}
	if res.LostPackets != 0 || res.OutOfOrder != 0 {
		t.Errorf("lost %d, out of order %d, want 0", res.LostPackets, res.OutOfOrder)
	}
	if got, want := res.Sent.Packets, int64(publishers*n); got != want {
		t.Errorf("sent = %d, want %d", got, want)
	}
	if got, want := res.Latency.Count, res.Received.Packets; got != want {
		t.Errorf("latency count = %d, want %d", got, want)
	}
	if got := len(res.Intervals); got != ticked+len(final) {
		t.Errorf("%d intervals, want %d ticked + %d at Finish", got, ticked, len(final))
	}
	var sum int64
	for _, iv := range res.Intervals {
		sum += iv.ReceivedPackets
	}
	// Samples after the last boundary before Finish's end are in the totals
	// only; those before it are in an interval.
	if sum > res.Received.Packets {
		t.Errorf("intervals hold %d deliveries, more than the %d received", sum, res.Received.Packets)
	}
}

func BenchmarkRecorderResult(b *testing.B) {
	b.ReportAllocs()
	r := NewRecorder(RecorderConfig{Start: measStart})
	l := r.NewLocal()
	for i := range 100000 {
		l.Record(measStart.UnixNano(), int64(i%5000)*1000, 64)
	}
	r.Finish(measStart.Add(10 * time.Second))
	for b.Loop() {
		_ = r.Result()
	}
}

// TestFinishShortTail: deliveries after the last boundary land in an
// interval however short the tail is, so that the intervals add up.
func TestFinishShortTail(t *testing.T) {
	t.Parallel()
	r := NewRecorder(RecorderConfig{Start: measStart})
	l := r.NewLocal()
	t0 := measStart.UnixNano()
	for i := range 10 {
		l.Observe(Payload{Seq: uint64(i + 1), Sent: t0}, t0+int64(500*time.Millisecond), 1)
	}
	l.Observe(Payload{Seq: 11, Sent: t0}, t0+int64(time.Second+5*time.Millisecond), 1)
	check := func(r *Recorder, want int) {
		t.Helper()
		res := r.Result()
		var recv int64
		for _, iv := range res.Intervals {
			recv += iv.ReceivedPackets
		}
		if recv != res.Received.Packets || len(res.Intervals) != want || res.Intervals[want-1].End != 1.01 {
			t.Errorf("intervals %+v receive %d, want %d intervals, the last ending at 1.01 s, and %d", res.Intervals, recv, want, res.Received.Packets)
		}
	}
	r.Finish(measStart.Add(time.Second + 10*time.Millisecond)) // a 10 ms tail
	check(r, 1)                                                // joins the interval Finish closes

	// Once a progress line has shown the last interval, the tail is one of
	// its own.
	r = NewRecorder(RecorderConfig{Start: measStart})
	l = r.NewLocal()
	l.Observe(Payload{Seq: 1, Sent: t0}, t0+int64(500*time.Millisecond), 1)
	r.Tick(measStart.Add(time.Second + time.Millisecond))
	l.Observe(Payload{Seq: 2, Sent: t0}, t0+int64(time.Second+5*time.Millisecond), 1)
	r.Finish(measStart.Add(time.Second + 10*time.Millisecond))
	check(r, 2)
}
