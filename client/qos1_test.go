package client_test

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/packetd/packetd/bench/impair"
	"github.com/packetd/packetd/client"
	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/server"
	"github.com/packetd/packetd/internal/testutil"
)

// quick makes the server's QoS 1 timers fast, for tests over lossy paths.
func quick(c *server.Config) {
	c.Broker.RetryTimeout = 30 * time.Millisecond
	c.Broker.MinRTO = 20 * time.Millisecond
	c.Broker.Tick = 5 * time.Millisecond
	c.Broker.MaxRetries = 30
}

// TestQoS1LossyUDP sends 200 QoS 1 messages from a publisher whose UDP
// path loses 20 % of the datagrams each way, and duplicates and reorders
// some, to a subscriber on a path as bad: it gets every message once, in
// the publisher's order (the server takes a session's QoS 1 EMITs in the
// order of their numbers, holding one that overtook a lost one), as does
// a subscriber on TCP.
func TestQoS1LossyUDP(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, quick)
	lossy := impair.Config{Loss: 0.2, Duplicate: 0.05, Reorder: 0.05}
	px, err := impair.NewUDP("127.0.0.1:0", srv.UDPAddr().String(), impair.Options{Up: lossy, Down: lossy, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { px.Close() })
	url := "udp://" + px.Addr().String()
	opts := client.Options{RetryTimeout: 30 * time.Millisecond, MaxRetries: 30, Inflight: 50}
	sub := dial(t, url, opts)
	testutil.Join(t, sub, "r")
	ref := dial(t, srv.TCPURL(), client.Options{})
	testutil.Join(t, ref, "r")
	pub := dial(t, url, opts)
	const n = 200
	done := make(chan struct{})
	go func() {
		defer close(done)
		numbered(t, pub, "r", 0, n)
	}()
	got := collect(t, sub, n)
	want := collect(t, ref, n)
	<-done
	expectNothing(t, sub, 100*time.Millisecond)
	seen := make(map[int]bool)
	for i, v := range got {
		if v != i || want[i] != i {
			t.Fatalf("message %d: payload %d over UDP, %d over TCP, want %d (the publisher's order)", i, v, want[i], i)
		}
		if seen[v] || v < 0 || v >= n {
			t.Fatalf("message %d: payload %d twice or unknown", i, v)
		}
		seen[v] = true
	}
	ps, ss := pub.Stats(), sub.Stats()
	if ps.Acked != n || ps.Failed != 0 {
		t.Errorf("publisher: %d acked, %d failed; want %d, 0", ps.Acked, ps.Failed, n)
	}
	if ss.Delivered != n {
		t.Errorf("subscriber delivered %d, want %d", ss.Delivered, n)
	}
	if ps.Retransmitted == 0 || ss.Duplicates == 0 || ss.Reordered == 0 {
		t.Errorf("the path did not exercise recovery: publisher %+v, subscriber %+v", ps, ss)
	}
	if st := px.Stats(); st.Up.Lost == 0 || st.Down.Lost == 0 {
		t.Errorf("the proxy lost nothing: %+v", st)
	}
	t.Logf("publisher %+v", ps)
	t.Logf("subscriber %+v", ss)
}

// TestQoS1TCP: EmitWait returns once the server acknowledged; the
// subscriber gets everything in order, at QoS 1, numbered from 1.
func TestQoS1TCP(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, nil)
	sub := dial(t, srv.TCPURL(), client.Options{})
	testutil.Join(t, sub, "r")
	pub := dial(t, srv.TCPURL(), client.Options{PublishWindow: 8})
	ctx, cancel := context.WithTimeout(context.Background(), testutil.Timeout)
	defer cancel()
	if err := pub.EmitWait(ctx, client.Emit{Rooms: []string{"r"}, Data: 0}); err != nil {
		t.Fatalf("EmitWait: %v", err)
	}
	if got := srv.Stats.QoS1Emits.Load(); got != 1 {
		t.Errorf("server counted %d QoS 1 EMITs when EmitWait returned, want 1", got)
	}
	if m := testutil.Recv(t, sub); m.QoS != 1 || m.ID != 1 {
		t.Errorf("first QoS 1 message: QoS %d, id %d; want 1, 1", m.QoS, m.ID)
	}
	numbered(t, pub, "r", 1, 499)
	expectNumbered(t, sub, 1, 499)
	if s := pub.Stats(); s.Acked != 500 || s.Emitted != 500 || s.Retransmitted != 0 {
		t.Errorf("publisher stats %+v, want 500 emitted and acked, none resent", s)
	}
	// QoS 0 still works alongside.
	testutil.Emit(t, pub, client.Emit{Rooms: []string{"r"}, Event: "q0"})
	if m := testutil.Recv(t, sub); m.QoS != 0 || m.Event != "q0" {
		t.Errorf("QoS 0 message: QoS %d, event %q", m.QoS, m.Event)
	}
}

// TestQoS1Refused: a QoS 1 EMIT the server refuses fails EmitWait with
// the server's error, or reaches OnError when sent with Emit, and frees
// its place in the window.
func TestQoS1Refused(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, nil)
	for _, url := range []string{srv.TCPURL(), srv.UDPURL()} {
		errs := make(chan *client.ServerError, 1)
		c := dial(t, url, client.Options{PublishWindow: 1, RetryTimeout: 50 * time.Millisecond,
			OnError: func(se *client.ServerError) { errs <- se }})
		ctx, cancel := context.WithTimeout(context.Background(), testutil.Timeout)
		bad := client.Emit{Rooms: []string{string([]byte{0xff})}, QoS: 1}
		var se *client.ServerError
		if err := c.EmitWait(ctx, bad); !errors.As(err, &se) || se.Code != codec.CodeInvalidRoom {
			t.Errorf("%s: EmitWait to an invalid room = %v, want ServerError %d", url, err, codec.CodeInvalidRoom)
		}
		if err := c.Emit(bad); err != nil {
			t.Errorf("%s: Emit = %v", url, err)
		}
		select {
		case se := <-errs:
			if se.Code != codec.CodeInvalidRoom {
				t.Errorf("%s: OnError got code %d, want %d", url, se.Code, codec.CodeInvalidRoom)
			}
		case <-ctx.Done():
			t.Errorf("%s: OnError not called", url)
		}
		// The window (1) is free again.
		if err := c.EmitWait(ctx, client.Emit{Rooms: []string{"r"}}); err != nil {
			t.Errorf("%s: EmitWait after refusals = %v", url, err)
		}
		if err := c.Emit(client.Emit{Rooms: []string{"r"}, QoS: 2}); err == nil {
			t.Errorf("%s: Emit with QoS 2 succeeded", url)
		}
		cancel()
	}
}

// TestQoS1UDPTimeout: a QoS 1 EMIT nobody acknowledges fails with
// ErrTimeout after MaxRetries resends, for a client without Reconnect.
func TestQoS1UDPTimeout(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, nil)
	var silent atomic.Bool
	relay := testutil.NewUDPRelay(t, srv.UDPAddr().(*net.UDPAddr), func(testutil.Direction, []byte) bool { return silent.Load() })
	c := dial(t, "udp://"+relay.Addr.String(), client.Options{RetryTimeout: 20 * time.Millisecond, MaxRetries: 3})
	silent.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), testutil.Timeout)
	defer cancel()
	start := time.Now()
	if err := c.EmitWait(ctx, client.Emit{Rooms: []string{"r"}}); !errors.Is(err, client.ErrTimeout) {
		t.Fatalf("EmitWait = %v, want ErrTimeout", err)
	}
	// 20 + 40 + 80 + 160 ms at least.
	if el := time.Since(start); el < 300*time.Millisecond {
		t.Errorf("gave up after %v, want the full backoff (300 ms or more)", el)
	}
	if s := c.Stats(); s.Retransmitted != 3 || s.Failed != 1 {
		t.Errorf("stats %+v, want 3 retransmissions and 1 failure", s)
	}
}

// TestQoS1UDPGiveUpCloses: a client without Reconnect whose QoS 1 EMIT
// went unacknowledged through every retransmission does not skip its
// number (the server takes a session's QoS 1 EMITs in number order and
// would hold every later one for it): it closes, with an error that wraps
// ErrTimeout, and its unacknowledged EMITs fail with it. (Clients before
// this test failed the one EMIT and went on numbering: every later QoS 1
// EMIT of the session was held by the server and timed out in turn.)
func TestQoS1UDPGiveUpCloses(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, nil)
	sub := dial(t, srv.TCPURL(), client.Options{})
	testutil.Join(t, sub, "r")
	// The path loses every copy of the first QoS 1 EMIT, and nothing else.
	relay := testutil.NewUDPRelay(t, srv.UDPAddr().(*net.UDPAddr), func(d testutil.Direction, b []byte) bool {
		h := b[min(len(b), codec.KeyLen):]
		return d == testutil.ToServer && len(h) >= codec.HeaderLen && codec.Type(h[1]) == codec.TypeEmit &&
			h[2]&3 == 1 && h[4] == 0 && h[5] == 0 && h[6] == 0 && h[7] == 1
	})
	c := dial(t, "udp://"+relay.Addr.String(), client.Options{RetryTimeout: 20 * time.Millisecond, MaxRetries: 3})
	if err := c.Emit(client.Emit{Rooms: []string{"r"}, Data: 0, QoS: 1}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testutil.Timeout)
	defer cancel()
	if err := c.EmitWait(ctx, client.Emit{Rooms: []string{"r"}, Data: 1}); !errors.Is(err, client.ErrTimeout) {
		t.Fatalf("EmitWait of the EMIT after the lost one = %v, want one wrapping ErrTimeout", err)
	}
	select {
	case <-c.Done():
	case <-time.After(testutil.Timeout):
		t.Fatalf("the client is still open after its EMIT went unanswered (stats %+v)", c.Stats())
	}
	if err := c.Err(); !errors.Is(err, client.ErrTimeout) {
		t.Errorf("Err() = %v, want one wrapping ErrTimeout", err)
	}
	if err := c.Emit(client.Emit{Rooms: []string{"r"}, QoS: 1}); !errors.Is(err, client.ErrClosed) {
		t.Errorf("Emit after giving up = %v, want ErrClosed", err)
	}
	if s := c.Stats(); s.Failed != 2 || s.Acked != 0 {
		t.Errorf("stats %+v, want both EMITs failed, none acknowledged", s)
	}
	// The second EMIT reached the server, which holds it for number 1:
	// the subscriber gets nothing.
	expectNothing(t, sub, 50*time.Millisecond)
}

// TestPublishWindow: Emit blocks while PublishWindow EMITs await their
// ACK, and EmitWait gives up with its context.
func TestPublishWindow(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, nil)
	var silent atomic.Bool
	relay := testutil.NewUDPRelay(t, srv.UDPAddr().(*net.UDPAddr), func(testutil.Direction, []byte) bool { return silent.Load() })
	c := dial(t, "udp://"+relay.Addr.String(), client.Options{RetryTimeout: 200 * time.Millisecond, MaxRetries: 10, PublishWindow: 2})
	silent.Store(true)
	for range 2 {
		if err := c.Emit(client.Emit{Rooms: []string{"r"}, QoS: 1}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := c.EmitWait(ctx, client.Emit{Rooms: []string{"r"}}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("EmitWait with a full window = %v, want DeadlineExceeded", err)
	}
	blocked := make(chan error, 1)
	go func() { blocked <- c.Emit(client.Emit{Rooms: []string{"r"}, QoS: 1}) }()
	select {
	case err := <-blocked:
		t.Fatalf("Emit with a full window returned %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	silent.Store(false) // the retransmissions get through: room again
	select {
	case err := <-blocked:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(testutil.Timeout):
		t.Fatal("Emit still blocked after the ACKs came")
	}
	flush(t, c)
	_ = c.Close()
	if err := c.Emit(client.Emit{Rooms: []string{"r"}, QoS: 1}); !errors.Is(err, client.ErrClosed) {
		t.Errorf("QoS 1 Emit after Close = %v, want ErrClosed", err)
	}
}

// TestEmitTooLarge: an EMIT larger than the server takes (max_datagram
// over UDP) fails at once, at either QoS, rather than being resent in
// vain.
func TestEmitTooLarge(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, nil)
	c := dial(t, srv.UDPURL(), client.Options{})
	big := make([]byte, int(c.Welcome().MaxDatagram))
	for _, qos := range []uint8{0, 1} {
		if err := c.Emit(client.Emit{Rooms: []string{"r"}, Data: big, QoS: qos}); !errors.Is(err, client.ErrTooLarge) {
			t.Errorf("QoS %d: Emit of %d bytes over UDP = %v, want ErrTooLarge", qos, len(big), err)
		}
	}
	if s := c.Stats(); s.Emitted != 0 {
		t.Errorf("%d QoS 1 EMITs counted, want 0", s.Emitted)
	}
}
