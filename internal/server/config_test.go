package server_test

import (
	"testing"
	"time"

	"github.com/packetd/packetd/client"
	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/server"
	"github.com/packetd/packetd/internal/testutil"
)

// TestConfigValidation checks that New refuses configurations outside the
// documented bounds.
func TestConfigValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		configure func(*server.Config)
	}{
		{name: "both transports disabled", configure: func(c *server.Config) { c.DisableTCP, c.DisableUDP = true, true }},
		{name: "minimum keepalive under 1 s", configure: func(c *server.Config) { c.Broker.MinKeepAlive = 500 * time.Millisecond }},
		{name: "minimum keepalive over maximum", configure: func(c *server.Config) {
			c.Broker.MinKeepAlive, c.Broker.MaxKeepAlive = 10*time.Second, 5*time.Second
		}},
		{name: "default keepalive outside bounds", configure: func(c *server.Config) { c.Broker.KeepAlive = 2 * time.Hour }},
		{name: "negative session limit", configure: func(c *server.Config) { c.Broker.MaxSessions = -1 }},
		{name: "negative room limit", configure: func(c *server.Config) { c.Broker.MaxRooms = -1 }},
		{name: "TCP frame limit under a header", configure: func(c *server.Config) { c.TCP.MaxFrame = codec.HeaderLen - 1 }},
		{name: "negative outbound limit", configure: func(c *server.Config) { c.TCP.MaxOutbound = -1 }},
		{name: "datagram limit under a HELLO", configure: func(c *server.Config) { c.UDP.MaxDatagram = codec.MinHelloDatagram - 1 }},
		{name: "datagram limit over UDP's", configure: func(c *server.Config) { c.UDP.MaxDatagram = 65508 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cfg server.Config
			cfg.TCP.Addr, cfg.UDP.Addr = "127.0.0.1:0", "127.0.0.1:0"
			tt.configure(&cfg)
			if _, err := server.New(cfg); err == nil {
				t.Errorf("New: got no error, want one")
			}
		})
	}
}

// TestDefaults checks that a zero Config serves the documented defaults,
// as the WELCOME announces them over both transports (over UDP without
// max_frame, a TCP limit).
func TestDefaults(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, nil)
	type limits struct{ KeepAlive, MaxFrame, MaxDatagram, MaxRooms uint32 }
	want := limits{KeepAlive: 60, MaxFrame: codec.DefaultMaxFrame, MaxDatagram: codec.DefaultMaxDatagram, MaxRooms: 256}
	for _, url := range []string{srv.TCPURL(), srv.UDPURL()} {
		if url == srv.UDPURL() {
			want.MaxFrame = 0
		}
		w := testutil.Dial(t, url, nil).Welcome()
		got := limits{KeepAlive: w.KeepAlive, MaxFrame: w.MaxFrame, MaxDatagram: w.MaxDatagram, MaxRooms: w.MaxRooms}
		if got != want {
			t.Errorf("%s: got WELCOME limits %+v, want %+v", url, got, want)
		}
	}
}

// TestSingleTransport checks that either transport can be disabled and the
// other serves alone.
func TestSingleTransport(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		disableTCP bool
	}{
		{name: "UDP disabled"},
		{name: "TCP disabled", disableTCP: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := testutil.Start(t, func(c *server.Config) { c.DisableTCP, c.DisableUDP = tt.disableTCP, !tt.disableTCP })
			var url string
			switch {
			case tt.disableTCP && srv.TCPAddr() == nil && srv.UDPAddr() != nil:
				url = srv.UDPURL()
			case !tt.disableTCP && srv.UDPAddr() == nil && srv.TCPAddr() != nil:
				url = srv.TCPURL()
			default:
				t.Fatalf("got TCPAddr %v UDPAddr %v, want only the enabled transport's", srv.TCPAddr(), srv.UDPAddr())
			}
			a, b := testutil.Dial(t, url, nil), testutil.Dial(t, url, nil)
			testutil.Join(t, b, "r")
			testutil.Emit(t, a, client.Emit{Rooms: []string{"r"}, Event: "alone"})
			if m := testutil.Recv(t, b); m.Event != "alone" {
				t.Errorf("got event %q, want %q", m.Event, "alone")
			}
		})
	}
}
