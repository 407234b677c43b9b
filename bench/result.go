package bench

import (
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// DefaultInterval is the length of the per-interval series when
// RecorderConfig.Interval is zero.
const DefaultInterval = time.Second

// RecorderConfig describes one transport's run. Its fields other than Run,
// Start, Interval and ExpectedInterval are copied to the Result as they are.
type RecorderConfig struct {
	Transport   string // "tcp", "tls" or "udp"
	Scenario    string // "fanout", "rtt", "ingest", "conns"
	QoS         int
	Size        int // payload bytes (-s)
	Clients     int // -c
	Publishers  int
	Subscribers int

	// Run is the run id carried by every payload; Local.Observe ignores
	// payloads of other runs. 0 accepts every run id.
	Run uint32
	// Start is when the measurement begins: payloads sent before it
	// (warmup) are ignored, intervals and rates count from it. Zero means
	// the time NewRecorder is called.
	Start time.Time
	// Interval is the length of the per-interval series; 0 means
	// DefaultInterval.
	Interval time.Duration
	// ExpectedInterval, when positive, is the time between two messages of
	// one flow in a fixed-rate run (1/rate): latencies are then recorded
	// with hdrhistogram's RecordCorrectedValue, which adds the samples a
	// stalled sender failed to take (coordinated omission). It assumes
	// that a latency above ExpectedInterval means the sender was held up,
	// as in a closed loop paced at a fixed rate; for a pipelined sender
	// whose normal latency exceeds 1/rate, leave it 0 and stamp
	// Payload.Sent with the scheduled send time instead.
	ExpectedInterval time.Duration
}

// Recorder aggregates one transport's run: counters of messages sent and
// delivered, a latency histogram (hdrhistogram) of the whole run and one
// per interval, and the Flows of every receiver, merged at the end.
//
// It is safe for concurrent use. Each receiver goroutine takes a Local
// (NewLocal) and observes messages through it, without touching the
// Recorder; publishers call AddSent (atomic; batch the calls where cheap).
// Tick collects the Locals' counts and closes the intervals that have
// ended; Finish ends the run, after every receiver has stopped, and Result
// reports it. Lock order: a Local's lock, then the Recorder's.
type Recorder struct {
	cfg      RecorderConfig
	run      uint32
	start    int64 // unix nanoseconds
	interval int64 // nanoseconds
	expected int64 // ExpectedInterval in nanoseconds, 0 without correction

	sentPackets atomic.Int64
	sentBytes   atomic.Int64
	expect      atomic.Int64
	retransmits atomic.Int64
	clamped     atomic.Int64 // latencies above histHighest, counted as it

	mu        sync.Mutex // guards the fields below
	locals    []*Local
	total     *hdrhistogram.Histogram
	open      []*accum // intervals not closed yet, ascending idx, open[0].idx >= next
	spare     []*accum
	next      int64 // index of the first interval not closed yet
	intervals []IntervalStats
	lastSent  int64 // sent packets when the previous interval closed
	gaps      int64 // the flows' sequence gaps, as merged from the Locals
	received  int64
	recvBytes int64
	flows     flowTotals // of closed Locals
	end       int64      // unix nanoseconds of Finish, or of the last Tick
	sendEnd   int64      // unix nanoseconds of SendEnd; 0: end
	reads     int64      // of closed Locals (AddReads)
	split     int64
	finished  bool
}

// accum collects one interval's deliveries.
type accum struct {
	idx     int64
	hist    *hdrhistogram.Histogram
	packets int64
	bytes   int64
	lost    int64 // the change in the flows' gaps by its deliveries
}

// flowTotals sums the FlowStats of finished flows.
type flowTotals struct {
	delivered, duplicates, outOfOrder, gaps int64
	jitterSum                               float64 // ms, over flows with a jitter estimate
	jitterFlows                             int64
}

func (t *flowTotals) add(s FlowStats) {
	t.delivered += s.Delivered
	t.duplicates += s.Duplicates
	t.outOfOrder += s.OutOfOrder
	t.gaps += s.Gaps
	if s.Jittered > 0 {
		t.jitterSum += s.JitterMs
		t.jitterFlows++
	}
}

// NewRecorder returns a Recorder for one transport's run.
func NewRecorder(cfg RecorderConfig) *Recorder {
	if cfg.Start.IsZero() {
		cfg.Start = time.Now()
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	r := &Recorder{
		cfg:      cfg,
		run:      cfg.Run,
		start:    cfg.Start.UnixNano(),
		interval: int64(cfg.Interval),
		expected: max(int64(cfg.ExpectedInterval), 0),
		total:    newHist(),
	}
	r.end = r.start
	return r
}

// Config returns the configuration, with defaults filled in.
func (r *Recorder) Config() RecorderConfig { return r.cfg }

// NewLocal registers a receiver and returns its Local. Not after Finish.
func (r *Recorder) NewLocal() *Local {
	l := &Local{r: r, run: r.run, start: r.start, expected: r.expected,
		end: r.start + r.interval, limit: maxLocalCount}
	l.hist.lo, l.hist.hi = histLen, -1
	r.mu.Lock()
	l.index = len(r.locals)
	r.locals = append(r.locals, l)
	r.mu.Unlock()
	return l
}

// AddSent counts packets sent, of bytes payload bytes in all. Count only
// what is sent at or after the start (measured payloads).
func (r *Recorder) AddSent(packets, bytes int64) {
	r.sentPackets.Add(packets)
	r.sentBytes.Add(bytes)
}

// Expect adds n to the deliveries expected: for a fan-out, every
// subscriber expects every message of every publisher it hears. Loss is
// expected minus delivered; without any Expect call it is the sum of the
// flows' sequence gaps (which cannot see losses at a flow's tail).
func (r *Recorder) Expect(n int64) { r.expect.Add(n) }

// Clamped returns how many latencies were above the histogram's range
// (60 s) and counted as 60 s.
func (r *Recorder) Clamped() int64 { return r.clamped.Load() }

// AddRetransmits counts QoS 1 retransmissions: the publishers' resent
// EMITs (the scenarios add the spawned server's MESSAGE retransmissions to
// the Result).
func (r *Recorder) AddRetransmits(n int64) { r.retransmits.Add(n) }

// merge hands l's counts to the Recorder (l.mu held).
func (r *Recorder) merge(l *Local) {
	r.mu.Lock()
	r.mergeLocked(l)
	r.mu.Unlock()
}

// mergeLocked moves l's counts into the interval they belong to (the
// first open one if it is closed) and into the run's histogram.
func (r *Recorder) mergeLocked(l *Local) {
	h := &l.hist
	if h.empty() {
		return
	}
	a := r.accumLocked(max(l.cur, r.next))
	h.moveTo(a.hist, r.total)
	a.packets += h.packets
	a.bytes += h.bytes
	a.lost += h.lost
	r.received += h.packets
	r.recvBytes += h.bytes
	r.gaps += h.lost
	h.packets, h.bytes, h.lost = 0, 0, 0
}

// accumLocked returns the open interval idx >= r.next, opening it (and any
// before it) if needed.
func (r *Recorder) accumLocked(idx int64) *accum {
	for _, a := range r.open {
		if a.idx == idx {
			return a
		}
	}
	var a *accum
	if n := len(r.spare); n > 0 {
		a, r.spare = r.spare[n-1], r.spare[:n-1]
		a.hist.Reset()
		a.packets, a.bytes, a.lost = 0, 0, 0
	} else {
		a = &accum{hist: newHist()}
	}
	a.idx = idx
	i, _ := slices.BinarySearchFunc(r.open, idx, func(a *accum, idx int64) int {
		return int(a.idx - idx)
	})
	r.open = slices.Insert(r.open, i, a)
	return a
}

// closeIntervalLocked closes interval r.next at end (unix nanoseconds).
func (r *Recorder) closeIntervalLocked(end int64) IntervalStats {
	begin := r.start + r.next*r.interval
	iv := IntervalStats{
		Start: float64(begin-r.start) / 1e9,
		End:   float64(end-r.start) / 1e9,
	}
	sent := r.sentPackets.Load()
	iv.SentPackets, r.lastSent = sent-r.lastSent, sent
	if len(r.open) > 0 && r.open[0].idx == r.next {
		a := r.open[0]
		r.open = slices.Delete(r.open, 0, 1)
		iv.ReceivedPackets = a.packets
		iv.ReceivedBytes = a.bytes
		iv.Lost = a.lost
		if secs := float64(end-begin) / 1e9; secs > 0 {
			iv.BitsPerSecond = float64(a.bytes) * 8 / secs
		}
		if a.hist.TotalCount() > 0 {
			iv.P50 = usec(a.hist.ValueAtQuantile(50))
			iv.P99 = usec(a.hist.ValueAtQuantile(99))
		}
		r.spare = append(r.spare, a)
	}
	r.next++
	r.intervals = append(r.intervals, iv)
	return iv
}

// Tick collects every receiver's counts and closes the intervals that
// have ended by now, returning them (none before the first boundary). Call
// it at each interval boundary, a little after; RunProgress does.
// Deliveries, and the losses they reveal, fall in the interval of their
// receive time; sent packets are read as an interval closes (if one Tick
// closes several, the first gets them).
func (r *Recorder) Tick(now time.Time) []IntervalStats {
	r.mu.Lock()
	locals := slices.Clone(r.locals)
	finished := r.finished
	r.mu.Unlock()
	if finished {
		return nil
	}
	for _, l := range locals {
		l.mu.Lock()
		r.mu.Lock()
		if !l.done {
			r.mergeLocked(l)
		}
		r.mu.Unlock()
		l.mu.Unlock()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.finished {
		return nil
	}
	n := now.UnixNano()
	var out []IntervalStats
	for b := r.start + (r.next+1)*r.interval; b <= n; b += r.interval {
		out = append(out, r.closeIntervalLocked(b))
	}
	r.end = max(r.end, n)
	return out
}

// nextBoundary returns the end of the first interval not closed yet, and
// false once the run is finished.
func (r *Recorder) nextBoundary() (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return time.Unix(0, r.start+(r.next+1)*r.interval), !r.finished
}

// closeLocalLocked merges l and folds its flows into the totals, once
// (l.mu held too).
func (r *Recorder) closeLocalLocked(l *Local) {
	if l.done {
		return
	}
	l.done = true
	r.mergeLocked(l)
	l.eachFlowLocked(func(f *Flow) { r.flows.add(f.Stats()) })
	r.reads += l.reads
	r.split += l.split
	last := len(r.locals) - 1
	r.locals[l.index] = r.locals[last]
	r.locals[l.index].index = l.index
	r.locals[last] = nil
	r.locals = r.locals[:last]
}

// SendEnd records when the senders stopped: Result's sent rates count
// from the start to it (without it, to the end given to Finish).
func (r *Recorder) SendEnd(t time.Time) {
	r.mu.Lock()
	r.sendEnd = max(t.UnixNano(), r.start)
	r.mu.Unlock()
}

// Finish ends the measurement at end: it closes the Locals still open
// (their receivers must have stopped), closes the intervals up to end (a
// last partial one if it spans at least a tenth of an interval) and
// returns the intervals it closed. Later calls return nil. The run ends
// no earlier than the intervals Tick closed, so that they lie within it.
// The losses only the end reveals (expected deliveries that never came,
// beyond the flows' gaps: a flow's tail, a receiver that heard nothing)
// go to the last interval, so that the intervals' losses add up to the
// run's.
func (r *Recorder) Finish(end time.Time) []IntervalStats {
	for {
		r.mu.Lock()
		locals := slices.Clone(r.locals)
		r.mu.Unlock()
		if len(locals) == 0 {
			break
		}
		for _, l := range locals {
			l.Close()
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.finished {
		return nil
	}
	n := max(end.UnixNano(), r.start+r.next*r.interval)
	var out []IntervalStats
	b := r.start + (r.next+1)*r.interval
	folded := false
	for ; b <= n; b += r.interval {
		if b+r.interval > n && n > b && n-b < r.interval/10 {
			// A tail shorter than a tenth of an interval joins the last
			// one, which closes here (no progress line has shown it): a
			// sliver of its own would show an absurd rate.
			r.foldLocked(r.next+1, r.next)
			out = append(out, r.closeIntervalLocked(n))
			folded = true
			break
		}
		out = append(out, r.closeIntervalLocked(b))
	}
	// The last piece is an interval of its own if it spans a tenth of
	// one, holds deliveries, or must take the losses only the end
	// reveals and no interval closes here to take them.
	lost, _ := r.lostLocked()
	unreconciled := lost
	for _, iv := range r.intervals {
		unreconciled -= iv.Lost
	}
	for _, a := range r.open {
		unreconciled -= a.lost
	}
	last := b - r.interval
	if !folded && n > last && (n-last >= r.interval/10 || r.holdsLocked(r.next) || len(out) == 0 && unreconciled != 0) {
		out = append(out, r.closeIntervalLocked(n))
	}
	r.end = n
	r.finished = true
	if k := len(r.intervals); k > 0 {
		var sum int64
		for _, iv := range r.intervals {
			sum += iv.Lost
		}
		r.intervals[k-1].Lost += lost - sum
		if len(out) > 0 {
			out[len(out)-1].Lost = r.intervals[k-1].Lost
		}
	}
	return out
}

// foldLocked moves the counts of open interval from into interval to.
func (r *Recorder) foldLocked(from, to int64) {
	i := slices.IndexFunc(r.open, func(a *accum) bool { return a.idx == from })
	if i < 0 {
		return
	}
	a := r.open[i]
	r.open = slices.Delete(r.open, i, i+1)
	dst := r.accumLocked(to)
	dst.hist.Merge(a.hist)
	dst.packets += a.packets
	dst.bytes += a.bytes
	dst.lost += a.lost
	r.spare = append(r.spare, a)
}

// holdsLocked reports whether open interval idx has deliveries or losses.
func (r *Recorder) holdsLocked(idx int64) bool {
	for _, a := range r.open {
		if a.idx == idx {
			return a.packets > 0 || a.lost != 0
		}
	}
	return false
}

// lostLocked returns the run's lost deliveries and the deliveries
// expected: expected - delivered after Expect, else the flows' gaps.
func (r *Recorder) lostLocked() (lost, expected int64) {
	expected = r.expect.Load()
	if expected > 0 {
		return max(expected-r.received, 0), expected
	}
	lost = max(r.gaps, 0)
	return lost, r.received + lost
}

// Result reports the run: after Finish, the whole run; before, what the
// Recorder has collected so far (up to the last Tick). The caller fills in
// Server and Impairment.
func (r *Recorder) Result() Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	secs := float64(r.end-r.start) / 1e9
	sendSecs := secs
	if r.sendEnd != 0 {
		sendSecs = float64(r.sendEnd-r.start) / 1e9
	}
	flows := r.flows
	res := Result{
		Transport:   r.cfg.Transport,
		Scenario:    r.cfg.Scenario,
		QoS:         r.cfg.QoS,
		Size:        r.cfg.Size,
		Clients:     r.cfg.Clients,
		Publishers:  r.cfg.Publishers,
		Subscribers: r.cfg.Subscribers,
		Duration:    secs,
		SendTime:    sendSecs,
		Sent:        throughput(r.sentPackets.Load(), r.sentBytes.Load(), sendSecs),
		Received:    throughput(r.received, r.recvBytes, secs),
		Duplicates:  flows.duplicates,
		OutOfOrder:  flows.outOfOrder,
		Latency:     latencyStats(r.total),
		LatencyCDF:  latencyCDF(r.total, maxCDFPoints),
		Retransmits: r.retransmits.Load(),
		Reads:       r.reads,
		SplitReads:  r.split,
		Intervals:   slices.Clone(r.intervals),
	}
	if res.Intervals == nil {
		res.Intervals = []IntervalStats{}
	}
	if flows.jitterFlows > 0 {
		res.JitterMs = flows.jitterSum / float64(flows.jitterFlows)
	}
	var expected int64
	res.LostPackets, expected = r.lostLocked()
	if expected > 0 {
		res.LostPercent = 100 * float64(res.LostPackets) / float64(expected)
	}
	return res
}

func throughput(packets, bytes int64, secs float64) Throughput {
	t := Throughput{Packets: packets, Bytes: bytes}
	if secs > 0 {
		t.PacketsPerSecond = float64(packets) / secs
		t.BitsPerSecond = float64(bytes) * 8 / secs
	}
	return t
}

// usec converts histogram nanoseconds to microseconds.
func usec(ns int64) float64 { return float64(ns) / 1e3 }

func latencyStats(h *hdrhistogram.Histogram) LatencyStats {
	if h.TotalCount() == 0 {
		return LatencyStats{}
	}
	q := h.ValueAtPercentilesSlice([]float64{50, 90, 99, 99.9})
	return LatencyStats{
		Min:   usec(h.Min()),
		Mean:  h.Mean() / 1e3,
		P50:   usec(q[0]),
		P90:   usec(q[1]),
		P99:   usec(q[2]),
		P999:  usec(q[3]),
		Max:   usec(h.Max()),
		Count: h.TotalCount(),
	}
}

// maxCDFPoints bounds Result.LatencyCDF.
const maxCDFPoints = 200

// latencyCDF returns the cumulative distribution of h as at most about
// limit points: every recorded value range's upper end and the percentage
// of samples at or below it, thinned where consecutive points are closer
// than the plot can show (1/limit of the decades spanned, 0.5 %), always
// keeping the first and the last.
func latencyCDF(h *hdrhistogram.Histogram, limit int) []CDFPoint {
	total := h.TotalCount()
	if total == 0 {
		return nil
	}
	var pts []CDFPoint
	var cum int64
	for _, bar := range h.Distribution() {
		if bar.Count == 0 {
			continue
		}
		cum += bar.Count
		pts = append(pts, CDFPoint{US: usec(bar.To), Percent: 100 * float64(cum) / float64(total)})
	}
	if len(pts) <= limit {
		return pts
	}
	lo, hi := math.Log10(max(pts[0].US, 1e-3)), math.Log10(pts[len(pts)-1].US)
	dx := (hi - lo) / float64(limit)
	out := []CDFPoint{pts[0]}
	for i, p := range pts[1:] {
		last := out[len(out)-1]
		if i == len(pts)-2 || math.Log10(p.US)-math.Log10(last.US) >= dx || p.Percent-last.Percent >= 0.5 {
			out = append(out, p)
		}
	}
	return out
}

// Result is one transport's run, the element of Document.Results. The JSON
// names follow iperf3's where iperf3 has the field; see the package doc for
// the schema.
type Result struct {
	Transport   string `json:"transport"`
	Scenario    string `json:"scenario"`
	QoS         int    `json:"qos"`
	Size        int    `json:"size"`
	Clients     int    `json:"clients"`
	Publishers  int    `json:"publishers"`
	Subscribers int    `json:"subscribers"`
	// Duration is the measured time, from the start to the end given to
	// Finish: the scenarios end it at the last delivery (or the end of
	// sending, if later), so the received rates include draining what was
	// queued.
	Duration float64 `json:"duration_s"`
	// SendTime is the time the measured messages were sent in, from the
	// start to SendEnd (the sent rates' denominator; an addition to the
	// DESIGN.md schema).
	SendTime float64 `json:"send_time_s"`

	Sent     Throughput `json:"sent"`
	Received Throughput `json:"received"`

	LostPackets int64        `json:"lost_packets"`
	LostPercent float64      `json:"lost_percent"`
	Duplicates  int64        `json:"duplicates"`
	OutOfOrder  int64        `json:"out_of_order"`
	JitterMs    float64      `json:"jitter_ms"`
	Latency     LatencyStats `json:"latency_us"`
	// LatencyCDF is the latency distribution the HTML report plots
	// (an addition to the DESIGN.md schema); empty without samples.
	LatencyCDF []CDFPoint `json:"latency_cdf,omitempty"`
	// Retransmits counts QoS 1 resends: the publishers' EMITs plus, with
	// a spawned server, its MESSAGE retransmissions.
	Retransmits int64 `json:"retransmits"`
	// Reads counts the receivers' reads (one read or recvmsg call) that
	// delivered a measured message; Received.Packets / Reads is the
	// messages a read returns: many over a TCP byte stream, one per UDP
	// datagram (more with --udp-gro). SplitReads counts the TCP reads
	// that ended inside a frame, its rest coming with a later read: a
	// stream has no message boundaries. Additions to the DESIGN.md schema.
	Reads      int64           `json:"reads"`
	SplitReads int64           `json:"split_reads"`
	Server     ServerStats     `json:"server"`
	Intervals  []IntervalStats `json:"intervals"`
	// Impairment is set when the run went through an impairment proxy.
	Impairment *ImpairmentSpec `json:"impairment,omitempty"`
}

// Throughput counts one direction of a run; bytes are payload bytes.
type Throughput struct {
	Packets          int64   `json:"packets"`
	Bytes            int64   `json:"bytes"`
	PacketsPerSecond float64 `json:"packets_per_second"`
	BitsPerSecond    float64 `json:"bits_per_second"`
}

// LatencyStats summarizes the latency histogram, in microseconds. It is
// one-way latency (recv - sent), or the round trip in the rtt scenario.
type LatencyStats struct {
	Min   float64 `json:"min"`
	Mean  float64 `json:"mean"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p99_9"`
	Max   float64 `json:"max"`
	Count int64   `json:"count"` // samples, including corrected ones
}

// CDFPoint is a point of the latency distribution: Percent of the samples
// took at most US microseconds.
type CDFPoint struct {
	US      float64 `json:"us"`
	Percent float64 `json:"percent"`
}

// ServerStats is the server's resource use during the run, read from /proc
// by the caller; zero means unknown.
type ServerStats struct {
	CPUSeconds         float64 `json:"cpu_seconds"`
	PeakRSSBytes       int64   `json:"peak_rss_bytes"`
	RSSPerSessionBytes int64   `json:"rss_per_session_bytes"`
	// Set by the conns scenario (additions to the DESIGN.md schema): RSS
	// before the sessions opened and while they were held, and how many.
	RSSBeforeBytes int64 `json:"rss_before_bytes,omitempty"`
	RSSAfterBytes  int64 `json:"rss_after_bytes,omitempty"`
	Sessions       int64 `json:"sessions,omitempty"`
}

// IntervalStats is one interval of the series. Start and End are seconds
// since the measurement start, as in iperf3.
type IntervalStats struct {
	Start           float64 `json:"start"`
	End             float64 `json:"end"`
	SentPackets     int64   `json:"sent_packets"` // counted between closes
	ReceivedPackets int64   `json:"received_packets"`
	BitsPerSecond   float64 `json:"bits_per_second"` // received payload
	P50             float64 `json:"p50_us"`          // 0 without samples
	P99             float64 `json:"p99_us"`

	// Lost is the deliveries the interval's deliveries showed missing: the
	// change in the flows' sequence gaps (new gaps minus late arrivals
	// that filled one, so it can be negative under reordering); the last
	// interval adds what only the end reveals (see Recorder.Finish), so
	// that the intervals add up to lost_packets.
	Lost int64 `json:"lost_packets"`

	// For progress lines, not in the JSON: received payload bytes.
	ReceivedBytes int64 `json:"-"`
}

// Seconds returns the interval's length.
func (iv IntervalStats) Seconds() float64 { return iv.End - iv.Start }

// ImpairmentSpec records the impairment a run went through (the
// impairment flags). Percentages are 0-100.
type ImpairmentSpec struct {
	LossPercent       float64 `json:"loss_percent"`
	DelayMs           float64 `json:"delay_ms"`
	JitterMs          float64 `json:"jitter_ms"`
	ReorderPercent    float64 `json:"reorder_percent"`
	DuplicatePercent  float64 `json:"duplicate_percent"`
	RateBitsPerSecond float64 `json:"rate_bits_per_second"` // 0: unlimited
	Seed              int64   `json:"seed"`
	// Packets and Dropped count what the impairment saw and dropped while
	// impairing, both directions together: the UDP proxy's datagrams, or
	// over TCP with loss the IP packets on the proxy's port (on loopback
	// one may carry many segments); 0 over TCP without loss.
	Packets uint64 `json:"packets"`
	Dropped uint64 `json:"dropped"`
}

// Document is the whole JSON output (--json).
type Document struct {
	Packetbench DocumentMeta `json:"packetbench"`
	Results     []Result     `json:"results"`
}

// DocumentMeta describes the invocation.
type DocumentMeta struct {
	Version string    `json:"version"`
	Start   time.Time `json:"start"` // RFC 3339
	Args    []string  `json:"args"`
	Host    HostInfo  `json:"host"`
}

// HostInfo describes the machine packetbench ran on.
type HostInfo struct {
	CPUs int    `json:"cpus"`
	OS   string `json:"os"` // GOOS/GOARCH
	Go   string `json:"go"` // runtime.Version()
}

// NewDocument returns a Document for this process, with no results yet.
func NewDocument(version string, args []string, start time.Time) *Document {
	if args == nil {
		args = []string{}
	}
	return &Document{
		Packetbench: DocumentMeta{
			Version: version,
			Start:   start,
			Args:    args,
			Host: HostInfo{
				CPUs: runtime.NumCPU(),
				OS:   runtime.GOOS + "/" + runtime.GOARCH,
				Go:   runtime.Version(),
			},
		},
		Results: []Result{},
	}
}
