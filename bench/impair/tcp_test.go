package impair

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestTCPRelay sends a different random stream each way at once, each
// side half-closing when it has sent its own, and checks that both arrive
// byte for byte.
func TestTCPRelay(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	tests := []struct {
		name string
		opts TCPOptions
		size int
	}{
		{"clean", TCPOptions{}, 8 << 20},
		{"small queue", TCPOptions{Up: TCPConfig{QueueLimit: 100}, Down: TCPConfig{QueueLimit: 3000}}, 1 << 20},
		{"impaired", TCPOptions{
			Up:   TCPConfig{Delay: 2 * ms, Jitter: 5 * ms, Rate: 20 << 20},
			Down: TCPConfig{Delay: ms, Jitter: ms, QueueLimit: 64 << 10},
			Seed: 3,
		}, 1 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fromClient, fromServer := randomBytes(1, tt.size), randomBytes(2, tt.size+1)
			type result struct {
				sum [32]byte
				n   int64
				err error
			}
			atServer := make(chan result, 1)
			srv := startTCPServer(t, func(c *net.TCPConn) {
				sum, n, err := transfer(c, fromServer)
				atServer <- result{sum, n, err}
			})
			px := startTCPProxy(t, srv.addr(), tt.opts)
			sum, n, err := transfer(dialTCP(t, px), fromClient)
			if err != nil || n != int64(len(fromServer)) || sum != sha256.Sum256(fromServer) {
				t.Errorf("client received %d bytes (error %v), want the server's %d exactly", n, err, len(fromServer))
			}
			r := <-atServer
			if r.err != nil || r.n != int64(len(fromClient)) || r.sum != sha256.Sum256(fromClient) {
				t.Errorf("server received %d bytes (error %v), want the client's %d exactly", r.n, r.err, len(fromClient))
			}
			waitConns(t, px, 0)
			st := px.Stats()
			for _, d := range []struct {
				name string
				s    TCPDirStats
				want int
			}{{"up", st.Up, len(fromClient)}, {"down", st.Down, len(fromServer)}} {
				if d.s.Received != uint64(d.want) || d.s.Sent != uint64(d.want) || d.s.Queued != 0 || d.s.Closes != 1 || d.s.Resets != 0 {
					t.Errorf("%s: got %+v, want %d bytes received and sent, none queued, 1 close, 0 resets", d.name, d.s, d.want)
				}
			}
			if st.Opened != 1 {
				t.Errorf("Opened: got %d, want 1", st.Opened)
			}
		})
	}
}

// TestTCPHalfClose checks that a FIN crosses the proxy on its own: the
// server sees the client's EOF while its own direction stays open, and
// answers after it.
func TestTCPHalfClose(t *testing.T) {
	t.Parallel()
	for _, d := range []dir{up, down} {
		t.Run(d.String()+" first", func(t *testing.T) {
			t.Parallel()
			// first sends "ping" and half-closes; second reads to EOF, then
			// answers "pong" and closes.
			first := func(c *net.TCPConn) error {
				if _, err := c.Write([]byte("ping")); err != nil {
					return err
				}
				if err := c.CloseWrite(); err != nil {
					return err
				}
				return expect(c, "pong")
			}
			second := func(c *net.TCPConn) error {
				if err := expect(c, "ping"); err != nil {
					return err
				}
				_, err := c.Write([]byte("pong"))
				c.Close()
				return err
			}
			onClient, onServer := first, second
			if d == down {
				onClient, onServer = second, first
			}
			atServer := make(chan error, 1)
			srv := startTCPServer(t, func(c *net.TCPConn) { atServer <- onServer(c) })
			px := startTCPProxy(t, srv.addr(), TCPOptions{Up: TCPConfig{Delay: 5 * time.Millisecond}})
			c := dialTCP(t, px)
			c.SetDeadline(time.Now().Add(20 * time.Second))
			if err := onClient(c); err != nil {
				t.Errorf("client: %v", err)
			}
			if err := <-atServer; err != nil {
				t.Errorf("server: %v", err)
			}
			waitConns(t, px, 0)
			if st := px.Stats(); st.Up.Closes != 1 || st.Down.Closes != 1 || st.Up.Resets+st.Down.Resets != 0 {
				t.Errorf("got up %+v, down %+v, want one close and no reset each way", st.Up, st.Down)
			}
		})
	}
}

// TestTCPReset checks that a reset crosses the proxy behind the bytes sent
// before it: the other side reads them, then sees the reset, not a FIN.
func TestTCPReset(t *testing.T) {
	t.Parallel()
	for _, d := range []dir{up, down} {
		t.Run(d.String(), func(t *testing.T) {
			t.Parallel()
			// sender writes "bye" and resets; receiver expects "bye", then
			// a reset.
			sender := func(c *net.TCPConn) error {
				_, err := c.Write([]byte("bye"))
				c.SetLinger(0)
				c.Close()
				return err
			}
			receiver := func(c *net.TCPConn) error {
				got, err := io.ReadAll(c)
				if string(got) != "bye" || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
					return fmt.Errorf("read %q then error %v, want \"bye\" then a reset", got, err)
				}
				return nil
			}
			onClient, onServer := sender, receiver
			if d == down {
				onClient, onServer = receiver, sender
			}
			// The client says hello first: a server that resets at once can
			// fail the proxy's connect, as it could the client's.
			atServer := make(chan error, 1)
			srv := startTCPServer(t, func(c *net.TCPConn) {
				c.SetDeadline(time.Now().Add(20 * time.Second))
				if _, err := io.ReadFull(c, make([]byte, 2)); err != nil {
					atServer <- err
					return
				}
				atServer <- onServer(c)
			})
			delay := TCPConfig{Delay: 20 * time.Millisecond}
			px := startTCPProxy(t, srv.addr(), TCPOptions{Up: delay, Down: delay})
			c := dialTCP(t, px)
			c.SetDeadline(time.Now().Add(20 * time.Second))
			if _, err := c.Write([]byte("hi")); err != nil {
				t.Fatal(err)
			}
			if err := onClient(c); err != nil {
				t.Errorf("client: %v", err)
			}
			if err := <-atServer; err != nil {
				t.Errorf("server: %v", err)
			}
			waitConns(t, px, 0)
			st := px.Stats()
			if s := map[dir]TCPDirStats{up: st.Up, down: st.Down}[d]; s.Resets != 1 || s.Sent != s.Received {
				t.Errorf("%s: got %+v, want every byte sent, then 1 reset", d, s)
			}
		})
	}
}

// expect reads c to EOF and checks that it carried want.
func expect(c *net.TCPConn, want string) error {
	got, err := io.ReadAll(c)
	if err != nil {
		return err
	}
	if string(got) != want {
		return fmt.Errorf("read %q before EOF, want %q", got, want)
	}
	return nil
}

// TestTCPDelay checks each message's one-way and round-trip delay against
// the lower bounds Delay sets. The upper bounds are loose: timers fire late
// under load.
func TestTCPDelay(t *testing.T) {
	t.Parallel()
	const upDelay, downDelay = 30 * time.Millisecond, 20 * time.Millisecond
	arrived := make(chan time.Time, 10)
	srv := startTCPServer(t, func(c *net.TCPConn) {
		buf := make([]byte, 8)
		for {
			if _, err := io.ReadFull(c, buf); err != nil {
				return
			}
			arrived <- time.Now()
			c.Write(buf)
		}
	})
	px := startTCPProxy(t, srv.addr(), TCPOptions{Up: TCPConfig{Delay: upDelay}, Down: TCPConfig{Delay: downDelay}})
	c := dialTCP(t, px)
	buf := make([]byte, 8)
	for i := range 5 {
		sent := time.Now()
		binary.BigEndian.PutUint64(buf, uint64(i))
		if _, err := c.Write(buf); err != nil {
			t.Fatal(err)
		}
		readFull(t, c, buf)
		rtt, oneWay := time.Since(sent), (<-arrived).Sub(sent)
		if got := binary.BigEndian.Uint64(buf); got != uint64(i) {
			t.Errorf("message %d: echoed %d", i, got)
		}
		if oneWay < upDelay || oneWay > upDelay+5*time.Second {
			t.Errorf("message %d: one-way delay %v, want at least %v", i, oneWay, upDelay)
		}
		if rtt < upDelay+downDelay {
			t.Errorf("message %d: round trip %v, want at least %v", i, rtt, upDelay+downDelay)
		}
	}
}

// TestTCPJitterKeepsOrder sends numbered records in many small writes
// through a link whose jitter is much larger than the gaps between them,
// and checks that they arrive in order, each no sooner than Delay.
func TestTCPJitterKeepsOrder(t *testing.T) {
	t.Parallel()
	const n, delay = 2000, 2 * time.Millisecond
	type record struct{ idx, sent uint64 }
	got := make(chan []record, 1)
	base := time.Now()
	srv := startTCPServer(t, func(c *net.TCPConn) {
		var rs []record
		buf := make([]byte, 16)
		for {
			if _, err := io.ReadFull(c, buf); err != nil {
				break
			}
			if at := time.Since(base); at < time.Duration(binary.BigEndian.Uint64(buf[8:]))+delay {
				rs = append(rs, record{idx: 1 << 63}) // arrived too soon
			}
			rs = append(rs, record{binary.BigEndian.Uint64(buf), binary.BigEndian.Uint64(buf[8:])})
		}
		got <- rs
	})
	px := startTCPProxy(t, srv.addr(), TCPOptions{Up: TCPConfig{Delay: delay, Jitter: 20 * time.Millisecond}, Seed: 9})
	c := dialTCP(t, px)
	buf := make([]byte, 16)
	for i := range uint64(n) {
		binary.BigEndian.PutUint64(buf, i)
		binary.BigEndian.PutUint64(buf[8:], uint64(time.Since(base)))
		if _, err := c.Write(buf); err != nil {
			t.Fatal(err)
		}
		if i%20 == 0 {
			time.Sleep(100 * time.Microsecond) // let the proxy read a chunk
		}
	}
	c.CloseWrite()
	rs := <-got
	if len(rs) != n {
		t.Fatalf("server received %d records, want %d in order, none sooner than %v", len(rs), n, delay)
	}
	for i, r := range rs {
		if r.idx != uint64(i) {
			t.Fatalf("record %d: got index %d, want %d", i, r.idx, i)
		}
	}
	if s := px.Stats().Up; s.Chunks < 20 {
		t.Errorf("Chunks: got %d, want at least 20 for the jitter to act on", s.Chunks)
	}
}

// TestTCPRate checks that Rate bounds a bulk transfer's duration from
// below, and loosely from above.
func TestTCPRate(t *testing.T) {
	t.Parallel()
	const size, rate = 300_000, 1_000_000 // 300 ms at the rate
	done := make(chan time.Time, 1)
	srv := startTCPServer(t, func(c *net.TCPConn) {
		io.Copy(io.Discard, c)
		done <- time.Now()
	})
	px := startTCPProxy(t, srv.addr(), TCPOptions{Up: TCPConfig{Rate: rate}})
	c := dialTCP(t, px)
	start := time.Now()
	if _, err := c.Write(make([]byte, size)); err != nil {
		t.Fatal(err)
	}
	c.CloseWrite()
	elapsed := (<-done).Sub(start)
	want := time.Duration(size * int64(time.Second) / rate)
	if elapsed < want-time.Millisecond || elapsed > 10*want {
		t.Errorf("%d bytes took %v, want at least %v at %d B/s", size, elapsed, want, rate)
	}
	if s := px.Stats().Up; s.Sent != size || s.Chunks < size/(rate/100) {
		t.Errorf("got %+v, want %d bytes sent in chunks of at most %d", s, size, rate/100)
	}
}

// TestTCPBackpressure stalls the server and checks that the client's
// writes block once the proxy's queue and the sockets' buffers are full,
// with the proxy holding no more than QueueLimit, and that everything
// arrives once the server reads again.
func TestTCPBackpressure(t *testing.T) {
	t.Parallel()
	const size, limit = 16 << 20, 64 << 10
	release := make(chan struct{})
	type result struct {
		sum [32]byte
		n   int64
	}
	got := make(chan result, 1)
	srv := startTCPServer(t, func(c *net.TCPConn) {
		c.SetReadBuffer(16 << 10)
		<-release
		h := sha256.New()
		n, _ := io.Copy(h, c)
		var r result
		copy(r.sum[:], h.Sum(nil))
		r.n = n
		got <- r
	})
	px := startTCPProxy(t, srv.addr(), TCPOptions{Up: TCPConfig{QueueLimit: limit}, SocketBuffer: 16 << 10})
	c := dialTCP(t, px)
	c.SetWriteBuffer(16 << 10)
	data := randomBytes(4, size)
	var written atomic.Int64
	wdone := make(chan error, 1)
	go func() {
		for off := 0; off < size; off += 32 << 10 {
			if _, err := c.Write(data[off : off+32<<10]); err != nil {
				wdone <- err
				return
			}
			written.Add(32 << 10)
		}
		wdone <- c.CloseWrite()
	}()

	// Wait until the client makes no progress for 300 ms, watching the
	// proxy's queue.
	var peak int64
	deadline := time.Now().Add(20 * time.Second)
	for last, still := int64(-1), 0; still < 6; {
		if time.Now().After(deadline) {
			t.Fatalf("the client kept writing: %d bytes", written.Load())
		}
		time.Sleep(50 * time.Millisecond)
		peak = max(peak, px.Stats().Up.Queued)
		if w := written.Load(); w != last {
			last, still = w, 0
		} else {
			still++
		}
	}
	t.Logf("client blocked after %d bytes, peak queue %d", written.Load(), peak)
	if w := written.Load(); w >= 4<<20 {
		t.Errorf("client wrote %d bytes with the server stalled, want it blocked well short of %d", w, size)
	}
	s := px.Stats().Up
	if peak > limit || s.Queued > limit || s.Stalls == 0 {
		t.Errorf("queue peaked at %d, now %+v, want at most %d and some stalls", peak, s, limit)
	}

	close(release)
	if err := <-wdone; err != nil {
		t.Fatalf("client write: %v", err)
	}
	if r := <-got; r.n != size || r.sum != sha256.Sum256(data) {
		t.Errorf("server received %d bytes, want the client's %d exactly", r.n, size)
	}
}

// TestTCPConnections runs many connections at once, each echoing its own
// bytes through a delayed, jittered link.
func TestTCPConnections(t *testing.T) {
	t.Parallel()
	const conns, size = 100, 64 << 10
	srv := startTCPServer(t, echo)
	ms := time.Millisecond
	px := startTCPProxy(t, srv.addr(), TCPOptions{
		Up:   TCPConfig{Delay: 5 * ms, Jitter: 5 * ms},
		Down: TCPConfig{Delay: 5 * ms, Jitter: 5 * ms},
	})
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i := range conns {
		c := dialTCP(t, px)
		wg.Go(func() {
			out := randomBytes(uint64(100+i), size)
			sum, n, err := transfer(c, out)
			if err != nil || n != size || sum != sha256.Sum256(out) {
				errs <- fmt.Errorf("connection %d: echoed %d bytes (error %v), want its %d exactly", i, n, err, size)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	waitConns(t, px, 0)
	if st := px.Stats(); st.Opened != conns || st.Up.Sent != conns*size || st.Down.Sent != conns*size {
		t.Errorf("got %+v, want %d connections of %d bytes each way", st, conns, size)
	}
}

func TestTCPMaxConns(t *testing.T) {
	t.Parallel()
	srv := startTCPServer(t, echo)
	px := startTCPProxy(t, srv.addr(), TCPOptions{MaxConns: 2})
	ping := func(c *net.TCPConn) error {
		c.SetDeadline(time.Now().Add(20 * time.Second))
		if _, err := c.Write([]byte("ping")); err != nil {
			return err
		}
		buf := make([]byte, 4)
		_, err := io.ReadFull(c, buf)
		return err
	}
	a, b := dialTCP(t, px), dialTCP(t, px)
	for _, c := range []*net.TCPConn{a, b} {
		if err := ping(c); err != nil {
			t.Fatalf("ping: %v", err)
		}
	}
	// The proxy accepts the third and resets it at once, which may reach
	// the client before its connect returns.
	if c, err := net.DialTCP("tcp", nil, px.Addr()); err == nil {
		err = ping(c)
		c.Close()
		if err == nil {
			t.Errorf("third connection: got an echo, want a reset")
		}
	}
	if st := px.Stats(); st.Refused != 1 || st.Conns != 2 {
		t.Errorf("got %d refused, %d open, want 1 and 2", st.Refused, st.Conns)
	}
	a.Close()
	waitConns(t, px, 1)
	if err := ping(dialTCP(t, px)); err != nil {
		t.Errorf("after one closed: %v, want an echo", err)
	}
}

func TestTCPTargetDown(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := ln.Addr().String()
	ln.Close() // nothing listens there now
	px := startTCPProxy(t, target, TCPOptions{})
	// The reset may reach the client before its connect returns.
	if c, err := net.DialTCP("tcp", nil, px.Addr()); err == nil {
		c.SetDeadline(time.Now().Add(20 * time.Second))
		if n, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("read: got %d bytes, error %v, want a reset or EOF", n, err)
		}
		c.Close()
	}
	waitFor(t, "the failure", func() bool { return px.Stats().Failed == 1 })
	waitConns(t, px, 0)
	if st := px.Stats(); st.Failed != 1 || st.Opened != 0 {
		t.Errorf("got %d failed, %d opened, want 1 and 0", st.Failed, st.Opened)
	}
}

// TestTCPSetOptions changes the delay of an open connection, and checks
// that invalid options change nothing.
func TestTCPSetOptions(t *testing.T) {
	t.Parallel()
	const delay = 40 * time.Millisecond
	srv := startTCPServer(t, echo)
	px := startTCPProxy(t, srv.addr(), TCPOptions{})
	c := dialTCP(t, px)
	rtt := func() time.Duration {
		start := time.Now()
		c.Write([]byte("x"))
		readFull(t, c, make([]byte, 1))
		return time.Since(start)
	}
	rtt()
	if err := px.SetOptions(TCPOptions{Up: TCPConfig{Delay: delay}, MaxConns: 1}); err != nil {
		t.Fatal(err)
	}
	if got := rtt(); got < delay {
		t.Errorf("round trip after SetOptions: got %v, want at least %v", got, delay)
	}
	if err := px.SetOptions(TCPOptions{Up: TCPConfig{Rate: -1}}); !errors.Is(err, ErrConfig) {
		t.Errorf("SetOptions(Rate -1): got %v, want ErrConfig", err)
	}
	if got := rtt(); got < delay {
		t.Errorf("round trip after invalid SetOptions: got %v, want at least %v: nothing changed", got, delay)
	}
	if got := px.opts.Load().MaxConns; got != DefaultMaxConns {
		t.Errorf("MaxConns: got %d, want %d: SetOptions does not change it", got, DefaultMaxConns)
	}
	// A reader stalled on a full queue wakes when SetOptions raises the
	// limit: 100 bytes at one per 200 ms would take 20 s.
	slow := TCPConfig{Delay: 200 * time.Millisecond, QueueLimit: 1}
	if err := px.SetOptions(TCPOptions{Down: slow}); err != nil {
		t.Fatal(err)
	}
	stalls := px.Stats().Down.Stalls
	start := time.Now()
	c.Write(make([]byte, 100))
	waitFor(t, "the reader to stall", func() bool { return px.Stats().Down.Stalls > stalls })
	slow.QueueLimit = 0
	if err := px.SetOptions(TCPOptions{Down: slow}); err != nil {
		t.Fatal(err)
	}
	readFull(t, c, make([]byte, 100))
	if got := time.Since(start); got > 10*time.Second {
		t.Errorf("100 bytes after raising QueueLimit took %v, want well under 20 s", got)
	}
}

// TestTCPClose checks that a connection's goroutines exit when it ends,
// and that Close resets open connections and stops every goroutine. It
// counts goroutines, so it does not run in parallel.
func TestTCPClose(t *testing.T) {
	srv := startTCPServer(t, echo)
	before := runtime.NumGoroutine()
	px, err := NewTCP("127.0.0.1:0", srv.addr(), TCPOptions{
		Up:   TCPConfig{Delay: time.Second},
		Down: TCPConfig{Rate: 1000, QueueLimit: 4096},
	})
	if err != nil {
		t.Fatal(err)
	}

	// A connection that ends leaves only the accept loop behind.
	c := dialTCP(t, px)
	c.Write([]byte("bye"))
	c.CloseWrite()
	io.Copy(io.Discard, c)
	waitConns(t, px, 0)
	waitFor(t, "the connection's goroutines to exit", func() bool { return runtime.NumGoroutine() <= before+1 })

	// Busy ones: bytes delayed up, a slow link down, an idle connection.
	var conns []*net.TCPConn
	for range 4 {
		c := dialTCP(t, px)
		c.Write(make([]byte, 20000))
		conns = append(conns, c)
	}
	conns = append(conns, dialTCP(t, px))
	waitFor(t, "5 connections with bytes queued", func() bool {
		st := px.Stats()
		return st.Opened == 6 && st.Conns == 5 && st.Up.Queued > 0
	})
	if err := px.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		if _, err := io.Copy(io.Discard, c); err == nil {
			t.Errorf("connection %d after Close: got EOF, want a reset", i)
		}
	}
	waitFor(t, "goroutines to exit", func() bool { return runtime.NumGoroutine() <= before })
	if err := px.Close(); err != nil {
		t.Errorf("second Close: got %v, want nil", err)
	}
	if st := px.Stats(); st.Conns != 0 || st.Up.Queued != 0 || st.Down.Queued != 0 {
		t.Errorf("after Close: got %+v, want no connection and nothing queued", st)
	}
	if _, err := net.DialTimeout("tcp", px.Addr().String(), time.Second); err == nil {
		t.Errorf("dial after Close: got a connection, want an error")
	}
}

// TestTCPAllocs checks that bytes through a proxy, there and back,
// allocate nothing once the connection is up, on a clean link and through
// the writers' timers. It does not run in parallel: AllocsPerRun counts
// every goroutine's allocations.
func TestTCPAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	us := time.Microsecond
	tests := []struct {
		name string
		opts TCPOptions
		runs int
	}{
		{"clean", TCPOptions{}, 1000},
		{"delay and jitter", TCPOptions{Up: TCPConfig{Delay: 100 * us}, Down: TCPConfig{Delay: 50 * us, Jitter: 100 * us}}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startTCPServer(t, func(c *net.TCPConn) {
				buf := make([]byte, 1000)
				for {
					if _, err := io.ReadFull(c, buf); err != nil {
						return
					}
					c.Write(buf)
				}
			})
			px := startTCPProxy(t, srv.addr(), tt.opts)
			c := dialTCP(t, px)
			msg, buf := make([]byte, 1000), make([]byte, 1000)
			roundTrip := func() {
				c.Write(msg)
				if _, err := io.ReadFull(c, buf); err != nil {
					t.Fatal(err)
				}
			}
			for range 100 { // grow the queues, warm the pool
				roundTrip()
			}
			if got := testing.AllocsPerRun(tt.runs, roundTrip); got != 0 {
				t.Errorf("allocs per round trip: got %v, want 0", got)
			}
		})
	}
}

func TestStreamDue(t *testing.T) {
	t.Parallel()
	ms := int64(time.Millisecond)
	tests := []struct {
		name  string
		cfg   TCPConfig
		reads [][2]int64 // bytes, time read (0 bytes: the FIN)
		want  []int64    // due times
	}{
		{"clean", TCPConfig{}, [][2]int64{{100, 0}, {100, ms}, {0, 2 * ms}}, []int64{0, ms, 2 * ms}},
		{"delay", TCPConfig{Delay: 10 * time.Millisecond}, [][2]int64{{100, 0}, {100, ms}, {0, ms}}, []int64{10 * ms, 11 * ms, 11 * ms}},
		{"rate serializes a burst", TCPConfig{Rate: 1000}, [][2]int64{{100, 0}, {100, 0}, {0, 0}}, []int64{100 * ms, 200 * ms, 200 * ms}},
		{"rate when idle", TCPConfig{Rate: 1000}, [][2]int64{{100, 0}, {100, 500 * ms}}, []int64{100 * ms, 600 * ms}},
		{"rate then delay", TCPConfig{Rate: 1000, Delay: 50 * time.Millisecond}, [][2]int64{{100, 0}, {100, 0}}, []int64{150 * ms, 250 * ms}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := tt.cfg.validate("Up")
			s := testStream(1)
			var got []int64
			for _, r := range tt.reads {
				s.pushLocked(&c, int(r[0]), r[1])
				got = append(got, s.q.at(s.q.n-1).due)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("due times: got %v, want %v", got, tt.want)
			}
		})
	}

	// Jitter: every due time at least Delay after its read, never before
	// the one ahead, and the same for the same seed.
	c := TCPConfig{Delay: 5 * time.Millisecond, Jitter: 20 * time.Millisecond, QueueLimit: DefaultQueueLimit}
	dues := func(seed int64) []int64 {
		s := testStream(seed)
		var out []int64
		for i := range int64(1000) {
			s.pushLocked(&c, 10, i*ms/10)
			d := s.q.at(s.q.n - 1).due
			if d < i*ms/10+int64(c.Delay) || len(out) > 0 && d < out[len(out)-1] {
				t.Fatalf("seed %d chunk %d: due %d, want at least %d and at least the previous", seed, i, d, i*ms/10+int64(c.Delay))
			}
			out = append(out, d)
		}
		return out
	}
	a, b, other := dues(7), dues(7), dues(8)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("seed 7 twice: got different due times")
	}
	if fmt.Sprint(a) == fmt.Sprint(other) {
		t.Errorf("seeds 7 and 8: got the same due times, want different draws")
	}
	if bursts := countEqual(a); bursts == 0 {
		t.Errorf("got no chunks released together, want bursts behind chunks that drew more jitter")
	}
}

// TestStreamChunkLimit checks that a reader stops at chunkLimit chunks
// with bytes to spare, so a sender trickling bytes under a long delay
// cannot grow the queue's bookkeeping past its QueueLimit.
func TestStreamChunkLimit(t *testing.T) {
	t.Parallel()
	c, _ := TCPConfig{Delay: time.Hour}.validate("Up")
	s := testStream(1)
	dead := make(chan struct{})
	close(dead) // a stalled reserve returns at once
	s.conn = &tcpConn{dead: dead}
	limit := chunkLimit(c.QueueLimit)
	for i := range limit {
		if _, ok := s.reserve(&c); !ok {
			t.Fatalf("reserve after %d one-byte chunks: got a stall, want room", i)
		}
		s.pushLocked(&c, 1, 0)
	}
	if _, ok := s.reserve(&c); ok || s.st.stalls.Load() != 1 {
		t.Errorf("reserve after %d one-byte chunks: got room %v, %d stalls, want a stall", limit, ok, s.st.stalls.Load())
	}
}

// testStream returns a stream of connection 0 with a block to read into.
func testStream(seed int64) *stream {
	s := &stream{st: new(tcpCounters)}
	seedPCG(&s.rng, seed, 0, up)
	s.cur = &block{buf: make([]byte, tcpBlock), refs: 1}
	return s
}

// countEqual counts due times equal to the one before.
func countEqual(dues []int64) int {
	n := 0
	for i := 1; i < len(dues); i++ {
		if dues[i] == dues[i-1] {
			n++
		}
	}
	return n
}

func TestTCPValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts TCPOptions
		ok   bool
	}{
		{"zero", TCPOptions{}, true},
		{"everything", TCPOptions{
			Up:   TCPConfig{Delay: time.Second, Jitter: time.Millisecond, Rate: 1000, QueueLimit: 10},
			Down: TCPConfig{Delay: 1}, Seed: -7, MaxConns: 1, DialTimeout: time.Second, SocketBuffer: 4096,
		}, true},
		{"negative delay", TCPOptions{Up: TCPConfig{Delay: -1}}, false},
		{"negative jitter", TCPOptions{Down: TCPConfig{Jitter: -1}}, false},
		{"huge delay", TCPOptions{Down: TCPConfig{Delay: 1000 * time.Hour}}, false},
		{"huge jitter", TCPOptions{Up: TCPConfig{Jitter: 1000 * time.Hour}}, false},
		{"negative rate", TCPOptions{Up: TCPConfig{Rate: -1}}, false},
		{"negative queue", TCPOptions{Down: TCPConfig{QueueLimit: -1}}, false},
		{"negative conns", TCPOptions{MaxConns: -1}, false},
		{"negative dial timeout", TCPOptions{DialTimeout: -1}, false},
		{"negative socket buffer", TCPOptions{SocketBuffer: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.opts.validate()
			if got := err == nil; got != tt.ok {
				t.Fatalf("validate: got error %v, want ok %v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrConfig) {
				t.Errorf("got error %v, want one wrapping ErrConfig", err)
			}
		})
	}
	o, err := TCPOptions{}.validate()
	if err != nil {
		t.Fatal(err)
	}
	want := TCPOptions{
		Up:          TCPConfig{QueueLimit: DefaultQueueLimit},
		Down:        TCPConfig{QueueLimit: DefaultQueueLimit},
		MaxConns:    DefaultMaxConns,
		DialTimeout: DefaultDialTimeout,
	}
	if o != want {
		t.Errorf("defaults: got %+v, want %+v", o, want)
	}
}

func TestNewTCPErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, listen, target string
		opts                 TCPOptions
		want                 error // nil: any error
	}{
		{"bad config", "127.0.0.1:0", "127.0.0.1:9", TCPOptions{MaxConns: -1}, ErrConfig},
		{"bad listen", "127.0.0.1:notaport", "127.0.0.1:9", TCPOptions{}, nil},
		{"bad target", "127.0.0.1:0", "nowhere", TCPOptions{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			px, err := NewTCP(tt.listen, tt.target, tt.opts)
			if err == nil {
				px.Close()
				t.Fatal("NewTCP: got nil error, want one")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}
