package admin_test

import (
	"strings"
	"testing"

	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/testutil"
)

// TestMetricsReflectTraffic sends known packets over TCP and UDP and
// checks that a scrape counts exactly them: packets and bytes by type in
// and out, EMITs, deliveries, sessions by transport, rooms.
func TestMetricsReflectTraffic(t *testing.T) {
	t.Parallel()
	srv, base := start(t, nil)

	pub := testutil.DialTCP(t, srv)
	pub.Hello(0)
	sub := testutil.DialTCP(t, srv)
	sub.Hello(0)
	sub.Join(1, "lobby")
	u := testutil.ListenUDP(t, srv)
	u.Hello(1, 0, codec.MinHelloDatagram)
	u.Join(2, "lobby")

	const n = 5
	emit := &codec.Emit{Rooms: [][]byte{[]byte("lobby")}, Event: []byte("temp"), Data: []byte{0x2a}}
	for i := range uint32(n) {
		pub.Send(codec.Header{Type: codec.TypeEmit, ID: i + 1}, emit)
	}
	var tcpBytes, udpBytes int
	for range n {
		p := sub.ExpectType(codec.TypeMessage)
		tcpBytes += codec.HeaderLen + len(p.Body)
		p = u.ExpectType(codec.TypeMessage)
		udpBytes += codec.HeaderLen + len(p.Body)
	}
	pub.Ping(9) // everything pub sent has been handled

	m := scrape(t, base)
	want(t, m, map[string]float64{
		`packetd_packets_in_total{type="hello"}`:        3,
		`packetd_packets_in_total{type="join"}`:         2,
		`packetd_packets_in_total{type="emit"}`:         n,
		`packetd_packets_in_total{type="ping"}`:         1,
		`packetd_in_bytes_total{type="emit"}`:           float64(n * codec.PacketLen(emit)),
		`packetd_packets_out_total{type="welcome"}`:     3,
		`packetd_packets_out_total{type="ack"}`:         2,
		`packetd_packets_out_total{type="message"}`:     2 * n,
		`packetd_packets_out_total{type="pong"}`:        1,
		`packetd_out_bytes_total{type="message"}`:       float64(tcpBytes + udpBytes),
		`packetd_emits_total{qos="0"}`:                  n,
		`packetd_emits_total{qos="1"}`:                  0,
		`packetd_deliveries_total`:                      2 * n,
		`packetd_sessions{transport="tcp"}`:             2,
		`packetd_sessions{transport="udp"}`:             1,
		`packetd_connections{transport="tcp"}`:          2,
		`packetd_connections{transport="udp"}`:          1,
		`packetd_sessions_offline`:                      0,
		`packetd_rooms`:                                 1,
		`packetd_sessions_opened_total`:                 3,
		`packetd_dropped_total{reason="slow_consumer"}`: 0,
		`packetd_errors_total{reason="protocol"}`:       0,
	})
	// The UDP peer sent a HELLO and a JOIN.
	if got := m[`packetd_udp_datagrams_in_total`]; got != 2 {
		t.Errorf("packetd_udp_datagrams_in_total: got %v, want 2", got)
	}
	_, body := get(t, base+"/metrics")
	for _, s := range []string{"# HELP packetd_packets_in_total ", "# TYPE packetd_ack_latency_seconds histogram", "go_goroutines", "process_cpu_seconds_total"} {
		if !strings.Contains(body, s) {
			t.Errorf("/metrics has no %q", s)
		}
	}
}

// TestMetricsQoS1 checks the queue gauges of an offline persistent
// session, the store's commit latency, and the ACK latency and counts
// once the session resumes and acknowledges.
func TestMetricsQoS1(t *testing.T) {
	t.Parallel()
	srv, base := start(t, nil)

	dev := testutil.DialTCP(t, srv)
	dev.HelloWith(&codec.Hello{ClientID: []byte("dev-1"), Persist: true})
	dev.Join(1, "q")
	_ = dev.Close()
	testutil.WaitFor(t, "dev-1 offline", func() bool { return !srv.Broker.Online("dev-1") })

	pub := testutil.DialTCP(t, srv)
	pub.Hello(0)
	const n = 3
	for i := range uint32(n) {
		pub.Send(codec.Header{Type: codec.TypeEmit, Flags: codec.FlagQoS1, ID: i + 1},
			&codec.Emit{Rooms: [][]byte{[]byte("q")}, Event: []byte("e")})
		pub.Expect(codec.TypeAck, i+1) // durable
	}
	m := scrape(t, base)
	want(t, m, map[string]float64{
		`packetd_emits_total{qos="1"}`:      n,
		`packetd_queued_messages`:           n,
		`packetd_queue_max_messages`:        n,
		`packetd_inflight_messages`:         0,
		`packetd_sessions_offline`:          1,
		`packetd_sessions_persistent`:       1,
		`packetd_sessions{transport="tcp"}`: 1,
	})
	if m[`packetd_store_commit_seconds_count`] < 1 {
		t.Errorf("packetd_store_commit_seconds_count: got %v, want at least 1", m[`packetd_store_commit_seconds_count`])
	}
	if m[`packetd_queued_bytes`] <= 0 {
		t.Errorf("packetd_queued_bytes: got %v, want > 0", m[`packetd_queued_bytes`])
	}

	again := testutil.DialTCP(t, srv)
	again.HelloWith(&codec.Hello{ClientID: []byte("dev-1"), Persist: true})
	for range n {
		p := again.ExpectType(codec.TypeMessage)
		again.Send(codec.Header{Type: codec.TypeAck, ID: p.ID}, nil)
	}
	again.Ping(7) // the ACKs have been handled
	m = scrape(t, base)
	want(t, m, map[string]float64{
		`packetd_qos1_acks_total`:                   n,
		`packetd_ack_latency_seconds_count`:         n,
		`packetd_queued_messages`:                   0,
		`packetd_inflight_messages`:                 0,
		`packetd_sessions_offline`:                  0,
		`packetd_sessions_resumed_total`:            1,
		`packetd_retransmissions_total`:             0,
		`packetd_packets_out_total{type="message"}`: n,
	})
}
