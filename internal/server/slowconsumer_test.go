package server_test

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/packetd/packetd/client"
	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/server"
	"github.com/packetd/packetd/internal/testutil"
)

// TestSlowConsumer floods a room holding a TCP subscriber that never reads.
// The server must bound what it queues for it (messages beyond
// TCP.MaxOutbound are dropped and counted), keep it connected, and deliver
// everything, in order, to a subscriber that keeps up. When the slow one
// reads at last, it gets exactly the messages that were not dropped, in
// order.
func TestSlowConsumer(t *testing.T) {
	t.Parallel()
	const (
		maxOutbound = 256 << 10
		msgs        = 8000
		window      = 64 // messages the publisher has in flight to the fast subscriber
		// The slow subscriber's receive buffer, fixed so that autotuning
		// (up to tcp_rmem's 32 MiB here) does not absorb the flood, and
		// above loopback's 64 KiB MSS: a window that cannot open one MSS
		// leaves the sender on its persist timer, which backs off to
		// minutes when the reader finally reads.
		slowRcvBuf = 128 << 10
	)
	srv := testutil.Start(t, func(c *server.Config) { c.TCP.MaxOutbound = maxOutbound })

	slow := testutil.DialTCP(t, srv)
	if err := slow.SetReadBuffer(slowRcvBuf); err != nil {
		t.Fatal(err)
	}
	slow.Hello(0)
	slow.Join(1, "flood")
	fast := testutil.Dial(t, srv.TCPURL(), nil)
	testutil.Join(t, fast, "flood")
	pub := testutil.Dial(t, srv.TCPURL(), nil)

	pad := []byte(strings.Repeat("p", 1024))
	for sent, got := 0, 0; got < msgs; {
		for ; sent < msgs && sent-got < window; sent++ {
			testutil.Emit(t, pub, client.Emit{Rooms: []string{"flood"}, Event: strconv.Itoa(sent), Raw: append([]byte{0xc5, 0x04, 0x00}, pad...)})
		}
		for ; got < sent; got++ {
			m := testutil.Recv(t, fast)
			if m.Event != strconv.Itoa(got) {
				t.Fatalf("fast subscriber: got message %q, want %d: lost or reordered", m.Event, got)
			}
		}
	}
	dropped := int(srv.Stats.DropSlowConsumer.Load())
	t.Logf("%d messages of %d bytes; %d dropped for the slow subscriber", msgs, len(pad), dropped)
	if dropped == 0 {
		t.Fatalf("Stats.DropSlowConsumer: got 0 after %d KiB to a subscriber that never reads, want > 0", msgs*len(pad)>>10)
	}
	if got, want := srv.Stats.Recipients.Load(), uint64(2*msgs); got != want {
		t.Errorf("Stats.Recipients: got %d, want %d", got, want)
	}

	// The slow subscriber reads now: what was not dropped, in order, then
	// the PONG of a PING sent after the flood.
	slow.Send(codec.Header{Type: codec.TypePing, ID: 2}, nil)
	last, received, bytesIn := -1, 0, 0
	for {
		p := slow.MustNext()
		if p.Type == codec.TypePong && p.ID == 2 {
			break
		}
		if p.Type != codec.TypeMessage {
			t.Fatalf("slow subscriber: got %v (%s), want MESSAGE or the PONG", p.Type, testutil.Describe(p))
		}
		var m codec.Message
		testutil.Decode(t, p, &m)
		seq, err := strconv.Atoi(string(m.Event))
		if err != nil || seq <= last || !bytes.Equal(m.Data[3:], pad) {
			t.Fatalf("slow subscriber: got message %q after %d, want a later one with the payload", m.Event, last)
		}
		last = seq
		received++
		bytesIn += codec.LenPrefixLen + codec.HeaderLen + len(p.Body)
	}
	t.Logf("slow subscriber: %d messages, %d bytes", received, bytesIn)
	if received != msgs-dropped {
		t.Errorf("slow subscriber: got %d messages, want %d sent - %d dropped = %d", received, msgs, dropped, msgs-dropped)
	}
	// What reached it is bounded by MaxOutbound plus the kernel's socket
	// buffers: the server's send buffer (at most tcp_wmem's maximum) and
	// the subscriber's receive buffer (the kernel doubles what is asked).
	if wmem := tcpWmemMax(); wmem > 0 {
		if bound := maxOutbound + wmem + 2*slowRcvBuf + 64<<10; bytesIn > bound {
			t.Errorf("slow subscriber: %d bytes were queued for it, want at most MaxOutbound + tcp_wmem max + receive buffer + 64 KiB = %d", bytesIn, bound)
		}
	}
}

// tcpWmemMax returns the kernel's ceiling on a TCP send buffer, 0 if
// unknown.
func tcpWmemMax() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_wmem")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) != 3 {
		return 0
	}
	n, _ := strconv.Atoi(f[2])
	return n
}
