package client_test

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/packetd/packetd/client"
	"github.com/packetd/packetd/internal/testutil"
)

// numbered emits count QoS 1 messages to room, with payloads from, from+1,
// ..., waiting for every ACK at the end.
func numbered(t *testing.T, c *client.Client, room string, from, count int) {
	t.Helper()
	for i := from; i < from+count; i++ {
		if err := c.Emit(client.Emit{Rooms: []string{room}, Event: "n", Data: i, QoS: 1}); err != nil {
			t.Fatalf("Emit %d: %v", i, err)
		}
	}
	flush(t, c)
}

func flush(t *testing.T, c *client.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testutil.Timeout)
	defer cancel()
	if err := c.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v (stats %+v)", err, c.Stats())
	}
}

// expectNumbered receives count messages from c and checks that their
// payloads are from, from+1, ... in order, each a QoS 1 message.
func expectNumbered(t *testing.T, c *client.Client, from, count int) {
	t.Helper()
	timer := time.NewTimer(testutil.Timeout)
	defer timer.Stop()
	for want := from; want < from+count; want++ {
		select {
		case m, ok := <-c.Messages():
			if !ok {
				t.Fatalf("Messages closed before %d arrived: %v", want, c.Err())
			}
			var got int
			if err := m.Decode(&got); err != nil {
				t.Fatalf("decoding message %d: %v", m.ID, err)
			}
			if got != want || m.QoS != 1 {
				t.Fatalf("got message %d (QoS %d, id %d), want %d at QoS 1 (stats %+v)", got, m.QoS, m.ID, want, c.Stats())
			}
		case <-timer.C:
			t.Fatalf("message %d did not arrive within %v (stats %+v)", want, testutil.Timeout, c.Stats())
		}
	}
}

// collect receives count QoS 1 messages from c, checks that their
// delivery numbers run on from the first without a gap, and returns their
// payloads in the order received.
func collect(t *testing.T, c *client.Client, count int) []int {
	t.Helper()
	timer := time.NewTimer(testutil.Timeout)
	defer timer.Stop()
	out := make([]int, 0, count)
	var prev uint32
	for len(out) < count {
		select {
		case m, ok := <-c.Messages():
			if !ok {
				t.Fatalf("Messages closed after %d of %d: %v", len(out), count, c.Err())
			}
			var got int
			if err := m.Decode(&got); err != nil {
				t.Fatalf("decoding message %d: %v", m.ID, err)
			}
			if m.QoS != 1 || (len(out) > 0 && m.ID != prev+1) {
				t.Fatalf("message %d: QoS %d, delivery number %d after %d", len(out), m.QoS, m.ID, prev)
			}
			prev = m.ID
			out = append(out, got)
		case <-timer.C:
			t.Fatalf("%d of %d messages within %v (stats %+v)", len(out), count, testutil.Timeout, c.Stats())
		}
	}
	return out
}

// expectNothing checks that no message arrives for d.
func expectNothing(t *testing.T, c *client.Client, d time.Duration) {
	t.Helper()
	select {
	case m, ok := <-c.Messages():
		if ok {
			var n any
			_ = m.Decode(&n)
			t.Fatalf("unexpected message %v (QoS %d, id %d)", n, m.QoS, m.ID)
		}
	case <-time.After(d):
	}
}

func dial(t *testing.T, url string, o client.Options) *client.Client {
	t.Helper()
	return testutil.Dial(t, url, &o)
}

// tcpProxy forwards TCP connections to a server and can cut them all, as
// a network failure would.
type tcpProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex // guards conns
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target, conns: make(map[net.Conn]struct{})}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.Cut()
		p.wg.Wait()
	})
	return p
}

func (p *tcpProxy) URL() string { return "tcp://" + p.ln.Addr().String() }

func (p *tcpProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[s] = struct{}{}, struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(c, s)
		go p.pipe(s, c)
	}
}

func (p *tcpProxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
}

// Cut resets every connection through the proxy and returns how many
// client connections there were.
func (p *tcpProxy) Cut() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // RST: the connection is lost, not closed
		}
		c.Close()
	}
	n := len(p.conns) / 2
	clear(p.conns)
	return n
}
