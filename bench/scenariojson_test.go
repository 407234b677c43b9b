package bench

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// TestScenarioJSON runs a small fan-out over the three transports, writes
// the JSON document, and checks that it parses back into Document, with
// one result per transport in order, and has every field of the
// documented schema.
func TestScenarioJSON(t *testing.T) {
	cfg := testConfig(ScenarioFanout, "tcp")
	cfg.Transports = []string{"tcp", "tls", "udp"}
	cfg.Clients = 3
	cfg.Messages = 50
	cfg.Rate = 500
	res := runOneOrMore(t, cfg, 3)
	doc := NewDocument("test", []string{"packetbench", "fanout"}, time.Now())
	doc.Results = res
	var b bytes.Buffer
	if err := WriteJSON(&b, doc); err != nil {
		t.Fatal(err)
	}
	var back Document
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatalf("the JSON does not parse into Document: %v", err)
	}
	if len(back.Results) != 3 || back.Results[0].Transport != "tcp" || back.Results[1].Transport != "tls" || back.Results[2].Transport != "udp" {
		t.Fatalf("got results %+v, want tcp, tls, udp", back.Results)
	}
	for _, r := range back.Results {
		if r.Scenario != "fanout" || r.Sent.Packets != 50 || r.Received.Packets != 150 || r.Subscribers != 3 || r.Publishers != 1 {
			t.Errorf("%s: got %+v, want fanout, 50 sent, 150 received, 1 publisher, 3 subscribers", r.Transport, r)
		}
	}

	var raw map[string]any
	if err := json.Unmarshal(b.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	has := func(m any, path string, keys ...string) {
		obj, ok := m.(map[string]any)
		if !ok {
			t.Errorf("%s: got %T, want an object", path, m)
			return
		}
		for _, k := range keys {
			if _, ok := obj[k]; !ok {
				t.Errorf("%s: no key %q", path, k)
			}
		}
	}
	has(raw, "document", "packetbench", "results")
	meta := raw["packetbench"]
	has(meta, "packetbench", "version", "start", "args", "host")
	has(meta.(map[string]any)["host"], "packetbench.host", "cpus", "os", "go")
	for _, r := range raw["results"].([]any) {
		has(r, "result", "transport", "scenario", "qos", "size", "clients", "publishers", "subscribers",
			"duration_s", "sent", "received", "lost_packets", "lost_percent", "duplicates", "out_of_order",
			"jitter_ms", "latency_us", "retransmits", "server", "intervals")
		m := r.(map[string]any)
		for _, k := range []string{"sent", "received"} {
			has(m[k], k, "packets", "bytes", "packets_per_second", "bits_per_second")
		}
		has(m["latency_us"], "latency_us", "min", "mean", "p50", "p90", "p99", "p99_9", "max", "count")
		has(m["server"], "server", "cpu_seconds", "peak_rss_bytes", "rss_per_session_bytes")
		ivs := m["intervals"].([]any)
		if len(ivs) == 0 {
			t.Errorf("no intervals")
		}
		for _, iv := range ivs {
			has(iv, "interval", "start", "end", "sent_packets", "received_packets", "bits_per_second", "p50_us", "p99_us")
		}
	}
}

// runOneOrMore runs cfg and returns its n results.
func runOneOrMore(t *testing.T, cfg Config, n int) []Result {
	t.Helper()
	res, err := Run(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(res) != n {
		t.Fatalf("got %d results, want %d", len(res), n)
	}
	return res
}
