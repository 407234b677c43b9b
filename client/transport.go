package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/packetd/packetd/codec"
)

// transport is the part of a client that differs between TCP and UDP.
type transport interface {
	// handshake sends HELLO and waits for the WELCOME, copied into w.
	handshake(ctx context.Context, id uint32, h *codec.Hello, w *codec.Welcome) error
	// send queues or sends one packet. Safe for concurrent use.
	send(h codec.Header, body codec.Body) error
	// recv returns the next packet from the server, valid until the next
	// call; only the reader goroutine calls it.
	recv() ([]byte, error)
	// unreliable reports whether packets may be lost (UDP).
	unreliable() bool
	// close flushes what is queued, then closes; abort closes at once.
	// Either makes a pending recv fail. Both are idempotent.
	close() error
	abort() error
}

// maxQueued is how many bytes the TCP writer may hold before send blocks.
const maxQueued = 4 << 20

// tcpTransport batches frames: send appends to a buffer and a writer
// goroutine writes whatever accumulated with one system call.
type tcpTransport struct {
	conn net.Conn
	fr   *codec.FrameReader

	mu      sync.Mutex // guards the fields below
	cond    *sync.Cond // signalled when buf drains or the writer fails
	buf     []byte     // frames not yet written
	spare   []byte
	werr    error
	closing bool

	wake chan struct{}
	done chan struct{}
}

func dialTCP(ctx context.Context, addr string, o Options, useTLS bool) (*tcpTransport, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if useTLS {
		cfg := o.TLSConfig.Clone()
		if cfg == nil {
			cfg = &tls.Config{}
		}
		if cfg.ServerName == "" {
			cfg.ServerName, _, _ = net.SplitHostPort(addr)
		}
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = conn.Close()
			return nil, err
		}
		conn = tc
	}
	limit := o.MaxFrame
	if limit == 0 {
		limit = codec.DefaultMaxFrame
	}
	t := &tcpTransport{conn: conn, fr: codec.NewFrameReader(conn, limit),
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	t.cond = sync.NewCond(&t.mu)
	go t.writeLoop()
	return t, nil
}

func (t *tcpTransport) handshake(ctx context.Context, id uint32, h *codec.Hello, w *codec.Welcome) error {
	if err := t.send(codec.Header{Type: codec.TypeHello, ID: id}, h); err != nil {
		return err
	}
	defer interruptible(ctx, t.conn)()
	if dl, ok := ctx.Deadline(); ok {
		_ = t.conn.SetReadDeadline(dl)
	}
	raw, err := t.fr.ReadFrame()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	return welcome(raw, id, w)
}

func (t *tcpTransport) send(h codec.Header, body codec.Body) error {
	t.mu.Lock()
	for len(t.buf) > maxQueued && t.werr == nil && !t.closing {
		t.cond.Wait()
	}
	if t.werr != nil || t.closing {
		err := t.werr
		t.mu.Unlock()
		if err == nil {
			err = ErrClosed
		}
		return err
	}
	t.buf = codec.AppendFrame(t.buf, h, body)
	t.mu.Unlock()
	select {
	case t.wake <- struct{}{}:
	default:
	}
	return nil
}

func (t *tcpTransport) writeLoop() {
	defer close(t.done)
	for range t.wake {
		t.mu.Lock()
		b := t.buf
		t.buf = t.spare[:0]
		closing := t.closing
		t.mu.Unlock()
		var err error
		if len(b) > 0 {
			_, err = t.conn.Write(b)
		}
		t.mu.Lock()
		t.spare = b[:0]
		if err != nil && t.werr == nil {
			t.werr = err
		}
		t.cond.Broadcast()
		t.mu.Unlock()
		if err != nil || closing {
			return
		}
	}
}

func (t *tcpTransport) recv() ([]byte, error) { return t.fr.ReadFrame() }

func (t *tcpTransport) unreliable() bool { return false }

// abort closes without flushing: the connection is given up.
func (t *tcpTransport) abort() error {
	t.mu.Lock()
	t.closing = true
	t.cond.Broadcast()
	t.mu.Unlock()
	select {
	case t.wake <- struct{}{}:
	default:
	}
	return t.conn.Close()
}

// close flushes what is queued (the BYE), then closes.
func (t *tcpTransport) close() error {
	t.mu.Lock()
	already := t.closing
	t.closing = true
	t.cond.Broadcast()
	t.mu.Unlock()
	if !already {
		select {
		case t.wake <- struct{}{}:
		default:
		}
		select {
		case <-t.done:
		case <-time.After(time.Second):
		}
	}
	return t.conn.Close()
}

// udpTransport sends each packet as one datagram, prefixed with the
// key of the WELCOME (0 for the HELLO), which is secret: never the session
// id.
type udpTransport struct {
	conn *net.UDPConn
	opts Options
	rbuf []byte

	mu   sync.Mutex // guards the fields below
	key  uint64
	wbuf []byte
}

func dialUDP(ctx context.Context, addr string, o Options) (*udpTransport, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "udp", addr)
	if err != nil {
		return nil, err
	}
	return &udpTransport{conn: conn.(*net.UDPConn), opts: o, rbuf: make([]byte, 64<<10)}, nil
}

func (t *udpTransport) handshake(ctx context.Context, id uint32, h *codec.Hello, w *codec.Welcome) error {
	// Pad the HELLO so the server may answer it (anti-amplification).
	for codec.KeyLen+codec.PacketLen(h) < codec.MinHelloDatagram {
		h.Pad++
	}
	defer interruptible(ctx, t.conn)()
	wait := t.opts.RetryTimeout
	for tries := 0; ; tries++ {
		if err := t.send(codec.Header{Type: codec.TypeHello, ID: id}, h); err != nil {
			return err
		}
		deadline := time.Now().Add(wait)
		if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
			deadline = dl
		}
		_ = t.conn.SetReadDeadline(deadline)
		if ctx.Err() != nil { // cancelled before the deadline was set
			return ctx.Err()
		}
		for {
			n, err := t.conn.Read(t.rbuf)
			if err != nil {
				var ne net.Error
				if !errors.As(err, &ne) || !ne.Timeout() {
					return err
				}
				break
			}
			if err := welcome(t.rbuf[:n], id, w); err == nil {
				if w.Key == 0 {
					return errors.New("client: WELCOME over UDP without a key")
				}
				t.mu.Lock()
				t.key = w.Key
				t.mu.Unlock()
				return nil
			} else if _, ok := err.(*ServerError); ok {
				return err
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if tries == t.opts.MaxRetries {
			return ErrTimeout
		}
		wait *= 2
	}
}

func (t *udpTransport) send(h codec.Header, body codec.Body) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := codec.AppendKey(t.wbuf[:0], t.key)
	b = codec.AppendPacket(b, h, body)
	t.wbuf = b
	_, err := t.conn.Write(b)
	return err
}

func (t *udpTransport) recv() ([]byte, error) {
	n, err := t.conn.Read(t.rbuf)
	if err != nil {
		return nil, err
	}
	return t.rbuf[:n], nil
}

func (t *udpTransport) unreliable() bool { return true }

func (t *udpTransport) close() error { return t.conn.Close() }

func (t *udpTransport) abort() error { return t.conn.Close() }

// interruptible makes the cancellation of ctx interrupt a read on conn
// (a deadline in the past) until the function it returns is called, which
// clears the read deadline. A handshake's context may be cancelled
// after it returned: the connection it opened must not notice.
func interruptible(ctx context.Context, conn net.Conn) (release func()) {
	var (
		mu   sync.Mutex // guards over
		over bool
	)
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if !over {
			_ = conn.SetReadDeadline(time.Unix(1, 0))
		}
	})
	return func() {
		stop()
		mu.Lock()
		over = true
		mu.Unlock()
		_ = conn.SetReadDeadline(time.Time{})
	}
}

// welcome parses raw as the WELCOME answering HELLO id, copying it into w,
// or returns the server's ERROR.
func welcome(raw []byte, id uint32, w *codec.Welcome) error {
	p, err := codec.ParsePacket(raw)
	if err != nil {
		return err
	}
	dec := codec.NewDecoder()
	switch p.Type {
	case codec.TypeWelcome:
		if p.ID != id {
			return errors.New("WELCOME for another HELLO")
		}
		if err := dec.Decode(p.Type, p.Body, w); err != nil {
			return err
		}
		w.SessionID = bytes.Clone(w.SessionID)
		w.Server = bytes.Clone(w.Server)
		return nil
	case codec.TypeError, codec.TypeBye:
		var e codec.Error
		if err := dec.Decode(p.Type, p.Body, &e); err != nil {
			return err
		}
		return &ServerError{Code: codec.Code(e.Code), Msg: string(e.Msg), ID: p.ID}
	default:
		return errors.New("expected WELCOME, got " + p.Type.String())
	}
}

func randomUint32() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint32(b[:])
}
