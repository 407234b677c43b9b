package client_test

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/packetd/packetd/client"
	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/server"
	"github.com/packetd/packetd/internal/testutil"
	"github.com/packetd/packetd/rooms"
)

func fast() *client.Options {
	return &client.Options{RetryTimeout: 50 * time.Millisecond, MaxRetries: 4}
}

// typeOf returns the packet type of a client datagram (after the session id).
func typeOf(b []byte) codec.Type {
	if len(b) < codec.KeyLen+codec.HeaderLen {
		return 0
	}
	return codec.Type(b[codec.KeyLen+1])
}

// TestUDPRetransmits loses the first HELLO, the first WELCOME, the first
// JOIN and the first ACK: the client resends and the session works.
func TestUDPRetransmits(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, nil)
	var dropped [16]atomic.Bool
	relay := testutil.NewUDPRelay(t, srv.UDPAddr().(*net.UDPAddr), func(d testutil.Direction, b []byte) bool {
		typ := typeOf(b)
		if d == testutil.ToClient && len(b) > 1 {
			typ = codec.Type(b[1]) + 8 // server packets: a separate set of first-drops
		}
		if int(typ) < len(dropped) && (typ == codec.TypeHello || typ == codec.TypeJoin ||
			typ == codec.TypeWelcome+8 || typ == codec.TypeAck+8) {
			return dropped[typ].CompareAndSwap(false, true)
		}
		return false
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, "udp://"+relay.Addr.String(), fast())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Join(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	if got := srv.Adapter.Members("r"); len(got) != 1 || got[0] != c.SessionID() {
		t.Fatalf("members of r = %v, want [%s]", got, c.SessionID())
	}
	for _, typ := range []codec.Type{codec.TypeHello, codec.TypeJoin, codec.TypeWelcome + 8, codec.TypeAck + 8} {
		if !dropped[typ].Load() {
			t.Errorf("no %v was dropped: the test did not exercise a retransmission", typ)
		}
	}
}

// TestUDPRequestTimeout: a server that answers nothing makes Join fail
// with ErrTimeout after the retries, not hang.
func TestUDPRequestTimeout(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, nil)
	var silent atomic.Bool
	relay := testutil.NewUDPRelay(t, srv.UDPAddr().(*net.UDPAddr), func(testutil.Direction, []byte) bool { return silent.Load() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, "udp://"+relay.Addr.String(), fast())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	silent.Store(true)
	start := time.Now()
	if err := c.Join(ctx, "r"); !errors.Is(err, client.ErrTimeout) {
		t.Fatalf("Join = %v, want ErrTimeout", err)
	}
	// 50 + 100 + 200 + 400 + 800 ms of waiting.
	if el := time.Since(start); el < 1500*time.Millisecond {
		t.Errorf("gave up after %v, want the full backoff (1.55 s)", el)
	}
}

func TestDialErrors(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, func(c *server.Config) { c.Broker.MaxSessions = 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	first, err := client.Dial(ctx, srv.TCPURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	for _, url := range []string{srv.TCPURL(), srv.UDPURL()} {
		_, err := client.Dial(ctx, url, fast())
		var se *client.ServerError
		if !errors.As(err, &se) || se.Code != codec.CodeServerFull {
			t.Errorf("Dial %s on a full server = %v, want ServerError %d", url, err, codec.CodeServerFull)
		}
	}
	if _, err := client.Dial(ctx, "http://"+srv.TCPAddr().String(), nil); err == nil {
		t.Error("Dial with scheme http succeeded")
	}
	// Nobody listens on a port that was just closed.
	l, _ := net.ListenPacket("udp", "127.0.0.1:0")
	dead := l.LocalAddr().String()
	l.Close()
	if _, err := client.Dial(ctx, "udp://"+dead, fast()); err == nil {
		t.Error("Dial to a closed UDP port succeeded")
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, nil)
	for _, url := range []string{srv.TCPURL(), srv.UDPURL()} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, err := client.Dial(ctx, url, fast())
		if err != nil {
			t.Fatal(err)
		}
		name := c.SessionID()
		events := testutil.RecordEvents(t, srv.Adapter)
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if err := c.Close(); err != nil {
			t.Errorf("second Close = %v, want nil", err)
		}
		if err := c.Emit(client.Emit{Rooms: []string{"r"}}); !errors.Is(err, client.ErrClosed) {
			t.Errorf("Emit after Close = %v, want ErrClosed", err)
		}
		if err := c.Join(ctx, "r"); err == nil {
			t.Error("Join after Close succeeded")
		}
		if _, open := <-c.Messages(); open {
			t.Error("Messages channel still open after Close")
		}
		// The BYE ended the session on the server.
		events.Wait(t, rooms.Event{Kind: rooms.DeleteRoom, Room: name})
		cancel()
	}
}
