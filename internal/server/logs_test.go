package server_test

import (
	"encoding/json"
	"log/slog"
	"regexp"
	"strings"
	"testing"

	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/server"
	"github.com/packetd/packetd/internal/testutil"
)

// logRecords returns the JSON log records in buf (syncBuffer is
// tls_test.go's).
func logRecords(t *testing.T, buf *syncBuffer) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(buf.String(), "\n") {
		if line == "" {
			continue
		}
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

// TestLogsCarrySession checks that log lines about a session carry its
// id ("session") and client id ("client"), over TCP and UDP, through a
// session's life: opened, offline, resumed, ended, and a bad packet.
func TestLogsCarrySession(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	srv := testutil.Start(t, func(c *server.Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	anon := testutil.DialTCP(t, srv)
	anonID := string(anon.Hello(0).SessionID)
	_ = anon.Close()
	dev := testutil.DialTCP(t, srv)
	devID := string(dev.HelloWith(&codec.Hello{ClientID: []byte("dev-log"), Persist: true}).SessionID)
	_ = dev.Close()
	testutil.WaitFor(t, "dev-log offline", func() bool { return !srv.Broker.Online("dev-log") })
	testutil.DialTCP(t, srv).HelloWith(&codec.Hello{ClientID: []byte("dev-log"), Persist: true})
	u := testutil.ListenUDP(t, srv)
	udpID := string(u.Hello(1, 0, codec.MinHelloDatagram).SessionID)
	u.Send(u.Key, codec.Header{Type: codec.TypeJoin, ID: 2}, codec.RawBody{0xc1}) // not msgpack

	type line struct{ msg, session, client string }
	wants := []line{
		{"session opened", anonID, ""},
		{"session ended", anonID, ""},
		{"session opened", devID, "dev-log"},
		{"session offline", devID, "dev-log"},
		{"session resumed", devID, "dev-log"},
		{"session opened", udpID, ""},
		{"udp: invalid packet", udpID, ""},
	}
	var recs []map[string]any
	testutil.WaitFor(t, "the log lines", func() bool {
		recs = logRecords(t, &buf)
		for _, w := range wants {
			found := false
			for _, r := range recs {
				found = found || r["msg"] == w.msg && r["session"] == w.session && r["client"] == w.client
			}
			if !found {
				return false
			}
		}
		return true
	})
	sid := regexp.MustCompile(`^\$[0-9a-f]{16}$`)
	for _, r := range recs {
		if s, ok := r["session"]; ok {
			if str, _ := s.(string); !sid.MatchString(str) {
				t.Errorf("log line %v: session %v is not a session id", r, s)
			}
			if _, ok := r["client"]; !ok {
				t.Errorf("log line %v: has a session but no client", r)
			}
		}
	}
}
