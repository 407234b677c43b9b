package bench

import (
	"context"
	"fmt"
	"math"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"

	"github.com/packetd/packetd/bench/impair"
)

// childEnv makes the test binary, re-executed by Spawn, run the server
// instead of the tests (TestMain).
const childEnv = "PACKETBENCH_TEST_SERVER=1"

func TestMain(m *testing.M) {
	if os.Getenv("PACKETBENCH_TEST_SERVER") == "1" {
		if err := RunServer(context.Background(), os.Args[1:], os.Stdin, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// testConfig is a small run against a server the test binary spawns.
func testConfig(scenario, transport string) Config {
	return Config{
		Scenario:   scenario,
		Transports: []string{transport},
		Duration:   5 * time.Second, // a cap: the runs end by -n
		Interval:   100 * time.Millisecond,
		Spawn:      SpawnConfig{Command: []string{os.Args[0]}, Env: []string{childEnv}},
	}
}

// runOne runs cfg and returns its single result.
func runOne(t *testing.T, cfg Config) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(res) != 1 {
		t.Fatalf("got %d results, want 1", len(res))
	}
	return res[0]
}

// TestScenarioCounts runs each scenario over each transport with tiny
// parameters and checks that the counts add up: every message sent is
// either delivered to each receiver that expects it or counted lost, and
// over loopback nothing is lost.
func TestScenarioCounts(t *testing.T) {
	tests := []struct {
		name      string
		scenario  string
		qos       int
		clients   int
		pubs      int
		receivers int // receivers expecting each message
	}{
		{"fanout", ScenarioFanout, 0, 5, 2, 5},
		{"fanout qos1", ScenarioFanout, 1, 5, 1, 5},
		{"rtt", ScenarioRTT, 0, 3, 3, 1},
		{"rtt qos1", ScenarioRTT, 1, 2, 2, 1},
		{"ingest", ScenarioIngest, 0, 10, 10, 2},
		{"ingest qos1", ScenarioIngest, 1, 4, 4, 2},
	}
	for _, tt := range tests {
		for _, transport := range []string{"tcp", "tls", "udp"} {
			t.Run(tt.name+"/"+transport, func(t *testing.T) {
				t.Parallel()
				cfg := testConfig(tt.scenario, transport)
				cfg.QoS = tt.qos
				cfg.Clients = tt.clients
				switch tt.scenario {
				case ScenarioFanout:
					cfg.Publishers = tt.pubs
				case ScenarioIngest:
					cfg.Sinks = 2
				}
				cfg.Messages = 100
				cfg.Rate = 500
				res := runOne(t, cfg)
				sent := int64(100 * tt.pubs)
				if res.Sent.Packets != sent {
					t.Errorf("got %d sent, want %d", res.Sent.Packets, sent)
				}
				want := sent * int64(tt.receivers)
				if got := res.Received.Packets + res.LostPackets; got != want {
					t.Errorf("got delivered %d + lost %d = %d, want %d", res.Received.Packets, res.LostPackets, got, want)
				}
				if res.LostPackets != 0 {
					t.Errorf("got %d lost over loopback, want 0", res.LostPackets)
				}
				if res.Latency.Count == 0 || res.Latency.P50 <= 0 {
					t.Errorf("got latency %+v, want samples", res.Latency)
				}
				if res.Server.CPUSeconds < 0 || res.Server.PeakRSSBytes <= 0 {
					t.Errorf("got server %+v, want the spawned server's CPU time and peak RSS", res.Server)
				}
			})
		}
	}
}

// TestFanoutFlood floods a few subscribers for a fixed time: the run ends
// by -t and the counts add up whatever was lost.
func TestFanoutFlood(t *testing.T) {
	for _, tt := range []struct {
		name, transport string
		gro             bool
	}{{"tcp", "tcp", false}, {"tls", "tls", false}, {"udp", "udp", false}, {"udp gro", "udp", true}} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(ScenarioFanout, tt.transport)
			cfg.Clients = 3
			cfg.Duration = 300 * time.Millisecond
			cfg.Warmup = 100 * time.Millisecond
			cfg.UDPGRO = tt.gro
			res := runOne(t, cfg)
			if res.Sent.Packets == 0 || res.Received.Packets == 0 {
				t.Fatalf("got sent %d, received %d, want both", res.Sent.Packets, res.Received.Packets)
			}
			if got, want := res.Received.Packets+res.LostPackets, 3*res.Sent.Packets; got != want {
				t.Errorf("got delivered %d + lost %d = %d, want %d", res.Received.Packets, res.LostPackets, got, want)
			}
			if tt.transport != "udp" && res.LostPackets != 0 {
				t.Errorf("got %d lost over %s, want 0", res.LostPackets, tt.transport)
			}
			if tt.transport != "udp" && res.Reads == 0 {
				t.Errorf("got 0 reads, want the receivers' reads counted")
			}
			if res.Duplicates != 0 {
				t.Errorf("got %d duplicates, want 0", res.Duplicates)
			}
		})
	}
}

// TestFanoutImpaired sends a fan-out through the UDP impairment proxy with
// 20% loss: at QoS 0 the subscribers lose about 20% (within five standard
// deviations of a binomial draw), at QoS 1 nothing.
func TestFanoutImpaired(t *testing.T) {
	t.Run("qos0", func(t *testing.T) {
		cfg := testConfig(ScenarioFanout, "udp")
		cfg.Clients = 5
		cfg.Messages = 400
		cfg.Rate = 2000
		cfg.Impair = Impairment{Loss: 0.2}
		cfg.Seed = 1
		res := runOne(t, cfg)
		n := float64(5 * 400)
		sd := 100 * 5 * math.Sqrt(0.2*0.8/n) // five standard deviations, in percent
		if res.LostPercent < 20-sd || res.LostPercent > 20+sd {
			t.Errorf("got %.1f%% lost, want 20%% +- %.1f", res.LostPercent, sd)
		}
		if res.Impairment == nil || res.Impairment.LossPercent != 20 || res.Impairment.Seed != 1 {
			t.Errorf("got impairment %+v, want loss 20%%, seed 1", res.Impairment)
		}
	})
	t.Run("qos1", func(t *testing.T) {
		cfg := testConfig(ScenarioFanout, "udp")
		cfg.Clients = 3
		cfg.Messages = 100
		cfg.Rate = 500
		cfg.QoS = 1
		cfg.Impair = Impairment{Loss: 0.2}
		cfg.Seed = 1
		// Retransmit soon and never give up on a subscriber.
		cfg.Spawn.Flags = []string{"-retry-timeout=50ms", "-min-rto=20ms", "-max-retries=30"}
		res := runOne(t, cfg)
		if res.LostPackets != 0 || res.Received.Packets != 300 {
			t.Errorf("got %d delivered, %d lost, want 300, 0", res.Received.Packets, res.LostPackets)
		}
		if res.Retransmits == 0 {
			t.Errorf("got 0 retransmissions through 20%% loss, want some")
		}
	})
}

// TestKernelLoss runs rtt over TCP and over TLS with 10% loss in the
// kernel: the kernel drops packets on the proxy's port, TCP retransmits
// them (below TLS), and every echo arrives; the impairment reports what
// it dropped, and the run leaves no nftables table behind. It needs
// CAP_NET_ADMIN (root), and is skipped without.
func TestKernelLoss(t *testing.T) {
	if err := impair.KernelLossAvailable(); err != nil {
		t.Skipf("no kernel loss here: %v", err)
	}
	for _, transport := range []string{"tcp", "tls"} {
		t.Run(transport, func(t *testing.T) {
			cfg := testConfig(ScenarioRTT, transport)
			cfg.Clients = 4
			cfg.Messages = 50
			cfg.Rate = 200
			cfg.Impair = Impairment{Loss: 0.1}
			res := runOne(t, cfg)
			if res.LostPackets != 0 || res.Received.Packets != 200 {
				t.Errorf("got %d echoes, %d lost, want 200, 0: TCP recovers", res.Received.Packets, res.LostPackets)
			}
			im := res.Impairment
			if im == nil || im.LossPercent != 10 || im.Dropped == 0 || im.Dropped >= im.Packets {
				t.Fatalf("got impairment %+v, want loss 10%% and some of its packets dropped", im)
			}
			// About 10% of the packets (ACKs included) are dropped: within
			// five standard deviations.
			n := float64(im.Packets)
			if got, sd := float64(im.Dropped)/n, 5*math.Sqrt(0.1*0.9/n); math.Abs(got-0.1) > sd {
				t.Errorf("dropped %d of %d packets, want 10%% +- %.1f%%", im.Dropped, im.Packets, 100*sd)
			}
			c, err := nftables.New()
			if err != nil {
				t.Fatal(err)
			}
			tables, err := c.ListTables()
			if err != nil {
				t.Fatal(err)
			}
			for _, tb := range tables {
				if strings.HasPrefix(tb.Name, fmt.Sprintf("packetbench_%d_", os.Getpid())) {
					t.Errorf("the run left its nftables table %s behind", tb.Name)
				}
			}
		})
	}
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestConns opens idle sessions and reports the server's memory per
// session.
func TestConns(t *testing.T) {
	for _, transport := range []string{"tcp", "tls", "udp"} {
		t.Run(transport, func(t *testing.T) {
			cfg := testConfig(ScenarioConns, transport)
			cfg.Clients = 1000
			cfg.Duration = 100 * time.Millisecond
			res := runOne(t, cfg)
			if res.Server.Sessions != 1000 || res.Received.Packets != 1000 || res.LostPackets != 0 {
				t.Errorf("got %d sessions, %d WELCOMEs, %d lost, want 1000, 1000, 0",
					res.Server.Sessions, res.Received.Packets, res.LostPackets)
			}
			if res.Server.RSSAfterBytes <= res.Server.RSSBeforeBytes || res.Server.RSSPerSessionBytes <= 0 {
				t.Errorf("got RSS before %d, after %d, per session %d, want growth",
					res.Server.RSSBeforeBytes, res.Server.RSSAfterBytes, res.Server.RSSPerSessionBytes)
			}
		})
	}
}

// TestInterrupt cancels a run: it reports what it measured so far.
func TestInterrupt(t *testing.T) {
	cfg := testConfig(ScenarioFanout, "tcp")
	cfg.Clients = 2
	cfg.Rate = 1000
	cfg.Duration = time.Minute
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(time.Second, cancel)
	start := time.Now()
	res, err := Run(ctx, cfg)
	if err != context.Canceled {
		t.Errorf("got error %v, want %v", err, context.Canceled)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("took %v after the interrupt", el)
	}
	if len(res) != 1 || res[0].Received.Packets == 0 {
		t.Fatalf("got %+v, want one result with deliveries", res)
	}
	if got, want := res[0].Received.Packets+res[0].LostPackets, 2*res[0].Sent.Packets; got != want {
		t.Errorf("got delivered + lost %d, want %d", got, want)
	}
}

// TestRunErrors checks the errors a new user meets first.
func TestRunErrors(t *testing.T) {
	closed := closedPort(t)
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no scenario", Config{}, "no scenario"},
		{"bad scenario", Config{Scenario: "flood"}, `unknown scenario "flood"`},
		{"bad transport", Config{Scenario: ScenarioRTT, Transports: []string{"quic"}}, `transport "quic"`},
		{"small payload", Config{Scenario: ScenarioRTT, Size: 10}, "at least 24 bytes"},
		{"bad qos", Config{Scenario: ScenarioRTT, QoS: 2}, "--qos 2"},
		{"bad window", Config{Scenario: ScenarioRTT, Window: 5000}, "--window 5000"},
		{"bad loss", Config{Scenario: ScenarioRTT, Impair: Impairment{Loss: 2}}, "--loss 2"},
		{"pid without server", Config{Scenario: ScenarioRTT, ServerPID: 1}, "--server-pid needs --server"},
		{"remote", Config{Scenario: ScenarioRTT, Server: "192.0.2.1:7070"}, "not a loopback address"},
		{"fd limit", Config{Scenario: ScenarioConns, Clients: 10_000_000, Server: closed}, "need 10000064 file descriptors, limit is"},
		{"tcp refused", Config{Scenario: ScenarioRTT, Server: closed}, "no packetd at tcp " + closed},
		{"udp refused", Config{Scenario: ScenarioRTT, Transports: []string{"udp"}, Server: closed}, "no packetd at udp " + closed},
		{"udp too large", func() Config {
			c := testConfig(ScenarioFanout, "udp")
			c.Size = 2000
			return c
		}(), "does not fit the server's max_datagram (1152 bytes): at most -s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_, err := Run(ctx, tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
}
