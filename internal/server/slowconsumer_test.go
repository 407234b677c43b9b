package server_test

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

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
// order. With several event loops the subscribers may sit on other loops
// than the publisher, behind the loops' inboxes.
func TestSlowConsumer(t *testing.T) {
	t.Parallel()
	for _, loops := range []int{1, 2} {
		t.Run(fmt.Sprintf("loops=%d", loops), func(t *testing.T) {
			t.Parallel()
			testSlowConsumer(t, loops)
		})
	}
}

func testSlowConsumer(t *testing.T, loops int) {
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
	srv := testutil.Start(t, func(c *server.Config) {
		c.TCP.MaxOutbound = maxOutbound
		c.TCP.Loops = loops
	})

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
	if got, want := srv.Stats.Recipients.Load(), uint64(2*msgs); got != want {
		t.Errorf("Stats.Recipients: got %d, want %d", got, want)
	}

	// The slow subscriber reads now, until every message is accounted for:
	// received, in order, or dropped. (Deliveries to it may still be on
	// their way through its loop's inbox, so the count of drops is only
	// final then.)
	dropped := func() int { return int(srv.Stats.DropSlowConsumer.Load()) }
	last, received, bytesIn := -1, 0, 0
	deadline := time.Now().Add(testutil.Timeout)
	for received+dropped() < msgs {
		p, err := slow.Next(50 * time.Millisecond)
		if ne, ok := err.(net.Error); ok && ne.Timeout() && time.Now().Before(deadline) {
			continue
		}
		if err != nil {
			t.Fatalf("slow subscriber: after %d messages and %d drops of %d: %v", received, dropped(), msgs, err)
		}
		if p.Type != codec.TypeMessage {
			t.Fatalf("slow subscriber: got %v (%s), want MESSAGE", p.Type, testutil.Describe(p))
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
	slow.Ping(2) // still connected, and nothing more came
	t.Logf("%d messages of %d bytes: the slow subscriber got %d (%d bytes), %d dropped", msgs, len(pad), received, bytesIn, dropped())
	if dropped() == 0 {
		t.Errorf("Stats.DropSlowConsumer: got 0 after %d KiB to a subscriber that did not read, want > 0", msgs*len(pad)>>10)
	}
	if received+dropped() != msgs {
		t.Errorf("slow subscriber: got %d messages and %d were dropped, want %d in all", received, dropped(), msgs)
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

// TestTCPReplyBacklog has a client send PINGs and never read the PONGs.
// Replies are not dropped like messages; once they back up past twice
// TCP.MaxOutbound (beyond what the kernel buffers) the client is not
// reading at all and the server closes the connection, leaving other
// clients unaffected.
func TestTCPReplyBacklog(t *testing.T) {
	t.Parallel()
	const maxOutbound = 64 << 10
	srv := testutil.Start(t, func(c *server.Config) { c.TCP.MaxOutbound = maxOutbound })
	by := testutil.NewBystanders(t, srv)
	c := testutil.DialTCP(t, srv)
	if err := c.SetReadBuffer(128 << 10); err != nil { // see TestSlowConsumer
		t.Fatal(err)
	}
	c.Hello(0)

	var batch []byte
	for i := range 1000 {
		batch = codec.AppendFrame(batch, codec.Header{Type: codec.TypePing, ID: uint32(i + 1)}, &codec.Ping{Token: make([]byte, codec.MaxToken)})
	}
	const limit = 64 << 20
	written := 0
	for ; written < limit; written += len(batch) {
		_ = c.SetWriteDeadline(time.Now().Add(testutil.Timeout))
		if _, err := c.TCPConn.Write(batch); err != nil {
			t.Logf("write failed after %d bytes of PINGs: %v", written, err)
			break
		}
	}
	if written >= limit {
		t.Fatalf("server kept a connection open after %d MiB of PINGs whose PONGs were never read", limit>>20)
	}
	testutil.WaitFor(t, "the connection to close", func() bool { return srv.Stats.TCPConns.Load() == 1 })
	by.Check(t)
}
