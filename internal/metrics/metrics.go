// Package metrics exports packetd's counters as Prometheus metrics.
//
// Nothing on a hot path calls into Prometheus: the counters are
// internal/stats' atomics, which the event loops already add to, and a
// Collector reads them when /metrics is scraped and hands them over as
// constant metrics. Gauges that describe state (sessions by transport,
// rooms, queue depths) are counted at scrape time from the broker's
// registry (broker.Census), one session at a time. docs/OPERATIONS.md
// lists every metric and suggests alert rules.
//
// Concurrency: a Collector is safe for concurrent use (scrapes may
// overlap).
package metrics

import (
	"reflect"
	"strings"
	"sync/atomic"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/broker"
	"github.com/packetd/packetd/internal/stats"
)

// Namespace prefixes every metric name.
const Namespace = "packetd"

// Collector is a prometheus.Collector over a server's counters.
type Collector struct {
	stats  *stats.Stats
	broker *broker.Broker

	fields  []fieldMetric // stats fields, mapped or generic
	traffic [4]*prometheus.Desc
	emits   *prometheus.Desc
	hists   []histMetric
	gauges  gaugeDescs
}

// fieldMetric is one internal/stats counter exported as a sample of a
// metric family.
type fieldMetric struct {
	desc  *prometheus.Desc
	typ   prometheus.ValueType
	label string // the value of the family's one label, if it has one
	index int    // the field's index in stats.Stats
	gauge bool   // an atomic.Int64 (a level), else an atomic.Uint64
}

type histMetric struct {
	desc *prometheus.Desc
	get  func(*stats.Stats) *stats.Histogram
}

type gaugeDescs struct {
	sessions, offline, persistent, rooms                 *prometheus.Desc
	queued, queuedBytes, inflight, maxQueued, storeQueue *prometheus.Desc
	storeTx, storeSyncs, storeBytes                      *prometheus.Desc
}

// family describes a metric family built from stats fields: either one
// field (label "") or one field per value of its label.
type family struct {
	name, help string
	typ        prometheus.ValueType
	label      string            // the label's name, "" for none
	fields     map[string]string // label value (or "") -> stats field
}

func counter(name, help, field string) family {
	return family{name: name, help: help, typ: prometheus.CounterValue, fields: map[string]string{"": field}}
}

func gauge(name, help, field string) family {
	return family{name: name, help: help, typ: prometheus.GaugeValue, fields: map[string]string{"": field}}
}

// families maps internal/stats' fields to metrics. A field not listed is
// still exported, as packetd_<field in snake case>[_total] with a generic
// help text, so a counter added to stats is never invisible.
var families = []family{
	{name: "connections", help: "Connections open now by transport: TCP connections (HELLO or not), UDP session entries (validated or not).",
		typ: prometheus.GaugeValue, label: "transport", fields: map[string]string{"tcp": "TCPConns", "udp": "UDPSessions"}},
	counter("sessions_opened_total", "HELLOs answered with WELCOME for a new session.", "SessionsOpened"),
	counter("sessions_resumed_total", "Persistent sessions resumed by a HELLO.", "SessionsResumed"),
	counter("sessions_expired_total", "Persistent sessions ended by their expiry while offline.", "SessionsExpired"),
	counter("admin_disconnects_total", "Sessions ended through the admin API (BYE 307).", "AdminDisconnects"),
	{name: "timeouts_total", help: "Sessions or connections ended by a timeout, by reason: handshake (no HELLO in time), idle (1.5 keepalives of silence), delivery (UDP: a QoS 1 MESSAGE unacknowledged through every retransmission).",
		typ: prometheus.CounterValue, label: "reason", fields: map[string]string{"handshake": "HandshakeTimeouts", "idle": "IdleTimeouts", "delivery": "DeliveryTimeouts"}},
	{name: "errors_total", help: "Errors by reason: protocol (TCP connections closed for malformed or unexpected input), request (requests answered with a non-fatal ERROR), server_full (HELLOs or connections refused at a limit, ERROR 300), accept (failed accepts, each followed by a pause), store (batches the store failed to write).",
		typ: prometheus.CounterValue, label: "reason", fields: map[string]string{"protocol": "ProtocolErrors", "request": "RequestErrors", "server_full": "SessionsRefused", "accept": "AcceptErrors", "store": "StoreErrors"}},
	{name: "dropped_total", help: "Packets or messages dropped, by reason (docs/OPERATIONS.md explains each).",
		typ: prometheus.CounterValue, label: "reason", fields: map[string]string{
			"malformed_datagram": "DatagramMalformed",
			"oversize_datagram":  "DatagramOversize",
			"unknown_session":    "DatagramNoSession",
			"hello_too_small":    "HelloTooSmall",
			"pending_full":       "HelloPendingFull",
			"emit_out_of_window": "DroppedEmits",
			"slow_consumer":      "DropSlowConsumer",
			"amplification":      "DropAmplification",
			"too_large_for_udp":  "DropTooLargeForUDP",
			"inbox_full":         "DropInboxFull",
			"queue_limit":        "QueueDrops",
			"udp_send_buffer":    "DatagramsDropped",
			"udp_receive_buffer": "UDPRecvDrops",
		}},
	counter("tcp_frames_in_total", "TCP frames (packets) received.", "FramesIn"),
	counter("udp_datagrams_in_total", "UDP datagrams received, valid or not.", "DatagramsIn"),
	counter("udp_datagrams_out_total", "UDP datagrams the kernel accepted for sending.", "DatagramsSent"),
	counter("udp_gso_segments_total", "UDP datagrams sent in a GSO run (several to one peer in one send).", "GSOSegments"),
	counter("udp_path_challenges_total", "UDP address changes (NAT rebinding) that started a validation.", "PathChallenges"),
	counter("deliveries_total", "Recipients of broadcasts: one per recipient session per EMIT.", "Recipients"),
	counter("qos1_acks_total", "QoS 1 MESSAGEs acknowledged by their recipients.", "Acked"),
	counter("retransmissions_total", "QoS 1 MESSAGEs sent again (UDP retransmission timer, or a resumed session).", "Retransmits"),
	counter("qos1_duplicate_emits_total", "QoS 1 EMITs received again (same id) and not broadcast again.", "DupPublishes"),
	counter("qos1_held_emits_total", "QoS 1 EMITs that arrived before an earlier one and waited for it.", "HeldEmits"),
	counter("store_batches_total", "Batches of writes handed to the store.", "StoreBatches"),
	{name: "auth_total", help: "HELLOs checked against the authenticators, by result: ok (authenticated with credentials: password, token or certificate), failed (refused, ERROR 308).",
		typ: prometheus.CounterValue, label: "result", fields: map[string]string{"ok": "AuthOK", "failed": "AuthFailures"}},
	{name: "hellos_rate_limited_total", help: "HELLOs refused with ERROR 309, by limit: failed_auth (too many failed authentications from the address; refused unchecked), hello_rate (too many HELLOs from the address), password_checks (the server-wide budget of password checks was spent; refused unchecked).",
		typ: prometheus.CounterValue, label: "limit", fields: map[string]string{"failed_auth": "AuthRateLimited", "hello_rate": "HelloRateLimited", "password_checks": "AuthThrottled"}},
	gauge("tls_connections", "TLS connections open now (also counted in connections{transport=\"tcp\"}).", "TLSConns"),
	{name: "tls_handshake_failures_total", help: "TLS handshakes failed, by reason: protocol (not TLS, no common version or cipher, a protocol error), client_certificate (mTLS: missing, unknown CA, expired), timeout (not finished within -handshake-timeout).",
		typ: prometheus.CounterValue, label: "reason", fields: map[string]string{"protocol": "TLSHandshakeFails", "client_certificate": "TLSBadClientCerts", "timeout": "TLSHandshakeSlow"}},
	counter("token_expiries_total", "Connections ended because the token that opened their session expired (BYE 308).", "TokenExpiries"),
	counter("permission_denied_total", "JOINs and EMITs refused by the session's permissions (ERROR 207).", "PermissionDenied"),
	counter("rate_limited_total", "TCP sessions ended for sending more packets or bytes a second than -session-packet-rate or -session-byte-rate allow (ERROR 310).", "RateLimited"),
	counter("rate_limited_datagrams_total", "UDP datagrams dropped for going beyond -session-packet-rate or -session-byte-rate (the session goes on).", "RateLimitedDrops"),
	counter("connections_per_ip_refused_total", "TCP and TLS connections refused because their address (IPv6: /64) had -max-conns-per-ip connections open.", "ConnsPerIPRefused"),
	counter("room_full_total", "JOINs refused because a room held -max-room-members members (ERROR 208).", "RoomFull"),
}

// fieldsDone are stats fields exported otherwise (emits, histograms).
var fieldsDone = map[string]bool{"Emits": true, "QoS1Emits": true}

// New returns a Collector over st and b.
func New(st *stats.Stats, b *broker.Broker) *Collector {
	c := &Collector{stats: st, broker: b}
	t := reflect.TypeFor[stats.Stats]()
	used := make(map[string]bool)
	for _, f := range families {
		var labels []string
		if f.label != "" {
			labels = []string{f.label}
		}
		desc := prometheus.NewDesc(Namespace+"_"+f.name, f.help, labels, nil)
		for value, name := range f.fields {
			sf, ok := t.FieldByName(name)
			if !ok {
				continue // not (or no longer) counted; a renamed field shows as unmapped
			}
			used[name] = true
			c.fields = append(c.fields, fieldMetric{desc: desc, typ: f.typ, label: value, index: sf.Index[0],
				gauge: sf.Type == reflect.TypeFor[atomic.Int64]()})
		}
	}
	for i := range t.NumField() {
		sf := t.Field(i)
		if used[sf.Name] || fieldsDone[sf.Name] || !sf.IsExported() {
			continue
		}
		switch sf.Type {
		case reflect.TypeFor[atomic.Uint64]():
			c.fields = append(c.fields, fieldMetric{typ: prometheus.CounterValue, index: i,
				desc: prometheus.NewDesc(Namespace+"_"+snake(sf.Name)+"_total", "internal/stats counter "+sf.Name+".", nil, nil)})
		case reflect.TypeFor[atomic.Int64]():
			c.fields = append(c.fields, fieldMetric{typ: prometheus.GaugeValue, index: i, gauge: true,
				desc: prometheus.NewDesc(Namespace+"_"+snake(sf.Name), "internal/stats level "+sf.Name+".", nil, nil)})
		}
	}
	typ := []string{"type"}
	c.traffic = [4]*prometheus.Desc{
		prometheus.NewDesc(Namespace+"_packets_in_total", "Packets received and parsed, by type (invalid ones are in dropped_total or errors_total).", typ, nil),
		prometheus.NewDesc(Namespace+"_in_bytes_total", "Bytes of the packets received, by type: header and body, without the TCP length prefix or the UDP datagram key.", typ, nil),
		prometheus.NewDesc(Namespace+"_packets_out_total", "Packets queued for sending, by type: a broadcast MESSAGE counts once per recipient (drops after queuing are in dropped_total).", typ, nil),
		prometheus.NewDesc(Namespace+"_out_bytes_total", "Bytes of the packets queued for sending, by type: header and body, without the TCP length prefix.", typ, nil),
	}
	c.emits = prometheus.NewDesc(Namespace+"_emits_total", "EMITs broadcast, by QoS level.", []string{"qos"}, nil)
	c.hists = []histMetric{
		{prometheus.NewDesc(Namespace+"_ack_latency_seconds", "Time from sending a QoS 1 MESSAGE to its ACK, for MESSAGEs sent once (Karn's rule: a retransmitted one's ACK is ambiguous).", nil, nil),
			func(s *stats.Stats) *stats.Histogram { return &s.AckLatency }},
		{prometheus.NewDesc(Namespace+"_store_commit_seconds", "Time from handing a pass's writes to the store until they are durable: what a QoS 1 publisher's ACK and a persistent session's JOIN wait for.", nil, nil),
			func(s *stats.Stats) *stats.Histogram { return &s.StoreCommit }},
		{prometheus.NewDesc(Namespace+"_store_transaction_seconds", "Time of one store write transaction, fsync included (one serves every batch that arrived meanwhile).", nil, nil),
			func(s *stats.Stats) *stats.Histogram { return &s.StoreTransaction }},
	}
	g := &c.gauges
	g.sessions = prometheus.NewDesc(Namespace+"_sessions", "Sessions with a connection, by transport.", []string{"transport"}, nil)
	g.offline = prometheus.NewDesc(Namespace+"_sessions_offline", "Persistent sessions without a connection, waiting for their client (or their expiry).", nil, nil)
	g.persistent = prometheus.NewDesc(Namespace+"_sessions_persistent", "Persistent sessions, online or offline.", nil, nil)
	g.rooms = prometheus.NewDesc(Namespace+"_rooms", "Rooms that exist (joined by name; each session's own room not counted).", nil, nil)
	g.queued = prometheus.NewDesc(Namespace+"_queued_messages", "QoS 1 messages queued in sessions and not sent yet (beyond their inflight windows, or offline).", nil, nil)
	g.queuedBytes = prometheus.NewDesc(Namespace+"_queued_bytes", "Bytes of the QoS 1 message bodies queued in sessions.", nil, nil)
	g.inflight = prometheus.NewDesc(Namespace+"_inflight_messages", "QoS 1 messages sent and not yet acknowledged, all sessions.", nil, nil)
	g.maxQueued = prometheus.NewDesc(Namespace+"_queue_max_messages", "The longest queue of one session, in messages (compare with -queue-messages).", nil, nil)
	g.storeQueue = prometheus.NewDesc(Namespace+"_store_pending_batches", "Batches handed to the store and not yet durable.", nil, nil)
	g.storeTx = prometheus.NewDesc(Namespace+"_store_transactions_total", "Store write transactions committed (one per group of batches).", nil, nil)
	g.storeSyncs = prometheus.NewDesc(Namespace+"_store_syncs_total", "Store transactions ended with fsync.", nil, nil)
	g.storeBytes = prometheus.NewDesc(Namespace+"_store_written_bytes_total", "Bytes of the batches the store made durable.", nil, nil)
	return c
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	seen := make(map[*prometheus.Desc]bool)
	for _, f := range c.fields {
		if !seen[f.desc] {
			seen[f.desc] = true
			ch <- f.desc
		}
	}
	for _, d := range c.traffic {
		ch <- d
	}
	ch <- c.emits
	for _, h := range c.hists {
		ch <- h.desc
	}
	g := &c.gauges
	for _, d := range []*prometheus.Desc{g.sessions, g.offline, g.persistent, g.rooms, g.queued, g.queuedBytes,
		g.inflight, g.maxQueued, g.storeQueue, g.storeTx, g.storeSyncs, g.storeBytes} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: it reads the counters now.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	v := reflect.ValueOf(c.stats).Elem()
	for _, f := range c.fields {
		var x float64
		if f.gauge {
			x = float64(v.Field(f.index).Addr().Interface().(*atomic.Int64).Load())
		} else {
			x = float64(v.Field(f.index).Addr().Interface().(*atomic.Uint64).Load())
		}
		if f.label != "" {
			ch <- prometheus.MustNewConstMetric(f.desc, f.typ, x, f.label)
		} else {
			ch <- prometheus.MustNewConstMetric(f.desc, f.typ, x)
		}
	}
	tt := c.stats.Traffic()
	for t := codec.TypeHello; t <= codec.TypeBye; t++ {
		name := strings.ToLower(t.String())
		ch <- prometheus.MustNewConstMetric(c.traffic[0], prometheus.CounterValue, float64(tt.InPackets[t]), name)
		ch <- prometheus.MustNewConstMetric(c.traffic[1], prometheus.CounterValue, float64(tt.InBytes[t]), name)
		ch <- prometheus.MustNewConstMetric(c.traffic[2], prometheus.CounterValue, float64(tt.OutPackets[t]), name)
		ch <- prometheus.MustNewConstMetric(c.traffic[3], prometheus.CounterValue, float64(tt.OutBytes[t]), name)
	}
	q1 := c.stats.QoS1Emits.Load()
	ch <- prometheus.MustNewConstMetric(c.emits, prometheus.CounterValue, float64(c.stats.Emits.Load()-min(q1, c.stats.Emits.Load())), "0")
	ch <- prometheus.MustNewConstMetric(c.emits, prometheus.CounterValue, float64(q1), "1")
	for _, h := range c.hists {
		ch <- constHistogram(h.desc, h.get(c.stats).Snapshot())
	}
	g := &c.gauges
	census := c.broker.Census()
	for _, tr := range []string{"tcp", "udp"} {
		if _, ok := census.Online[tr]; !ok {
			census.Online[tr] = 0
		}
	}
	for tr, n := range census.Online {
		ch <- prometheus.MustNewConstMetric(g.sessions, prometheus.GaugeValue, float64(n), tr)
	}
	gauges := []struct {
		d *prometheus.Desc
		v int
	}{{g.offline, census.Offline}, {g.persistent, census.Persistent}, {g.rooms, c.broker.Adapter().RoomCount()},
		{g.queued, census.Queued}, {g.queuedBytes, census.QueuedBytes}, {g.inflight, census.Inflight}, {g.maxQueued, census.MaxQueued}}
	for _, x := range gauges {
		ch <- prometheus.MustNewConstMetric(x.d, prometheus.GaugeValue, float64(x.v))
	}
	ss := c.broker.StoreStats()
	ch <- prometheus.MustNewConstMetric(g.storeQueue, prometheus.GaugeValue, float64(ss.Pending))
	ch <- prometheus.MustNewConstMetric(g.storeTx, prometheus.CounterValue, float64(ss.Transactions))
	ch <- prometheus.MustNewConstMetric(g.storeSyncs, prometheus.CounterValue, float64(ss.Syncs))
	ch <- prometheus.MustNewConstMetric(g.storeBytes, prometheus.CounterValue, float64(ss.Bytes))
}

// constHistogram converts a stats histogram to Prometheus' cumulative
// buckets, in seconds.
func constHistogram(d *prometheus.Desc, s stats.HistogramSnapshot) prometheus.Metric {
	buckets := make(map[float64]uint64, len(s.Bounds))
	var cum uint64
	for i, b := range s.Bounds {
		cum += s.Counts[i]
		buckets[b.Seconds()] = cum
	}
	return prometheus.MustNewConstHistogram(d, s.Count, s.Sum.Seconds(), buckets)
}

// NewRegistry returns a registry with c and Go's runtime and process
// collectors, for promhttp.HandlerFor.
func NewRegistry(c *Collector) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(c, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// snake turns a Go field name into snake case: UDPRecvDrops ->
// udp_recv_drops.
func snake(s string) string {
	var b strings.Builder
	r := []rune(s)
	for i, c := range r {
		if unicode.IsUpper(c) && i > 0 && (unicode.IsLower(r[i-1]) || i+1 < len(r) && unicode.IsLower(r[i+1])) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToLower(c))
	}
	return b.String()
}
