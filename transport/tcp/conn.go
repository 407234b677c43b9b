package tcp

import (
	"net"
	"net/netip"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/broker"
	"github.com/packetd/packetd/internal/deliver"
)

// conn is one TCP connection and, after HELLO, its session's peer. All of
// its fields are used only on its event loop.
type conn struct {
	srv      *Server
	c        gnet.Conn
	loop     *loop
	sess     *broker.Session
	deadline int64 // unix nanoseconds: handshake or idle deadline; the grace deadline once closing

	pending      [][]byte // frames queued this pass, adjacent ones merged
	pendingBytes int

	closing bool // a fatal ERROR was queued: read nothing more, close soon
	shut    bool // our side of the stream has been shut down (FIN sent)
	bye     bool // the client said BYE
	closed  bool // gnet closed the connection
}

var _ broker.Peer = (*conn)(nil)

// read handles every complete frame buffered so far.
func (tc *conn) read() gnet.Action {
	c := tc.c
	if tc.closing {
		_, _ = c.Discard(-1)
		return gnet.None
	}
	frames := 0
	for !tc.closing && !tc.bye {
		avail := c.InboundBuffered()
		if avail < codec.LenPrefixLen {
			break
		}
		limit := tc.srv.cfg.MaxFrame
		if tc.sess == nil {
			limit = tc.srv.cfg.MaxHelloFrame
		}
		prefix, _ := c.Peek(codec.LenPrefixLen)
		n, err := codec.FrameLen(prefix, limit)
		if err != nil {
			tc.protocolError(codec.CodeOf(err))
			break
		}
		if avail < n {
			break
		}
		frame, _ := c.Peek(n)
		frames++
		tc.handle(frame[codec.LenPrefixLen:])
		_, _ = c.Discard(n)
	}
	if frames > 0 {
		tc.srv.stats.FramesIn.Add(uint64(frames))
		if tc.sess != nil && !tc.closing {
			tc.deadline = time.Now().Add(tc.sess.IdleTimeout()).UnixNano()
		}
	}
	switch {
	case tc.closing:
		_, _ = c.Discard(-1)
	case tc.bye:
		return gnet.Close
	}
	return gnet.None
}

func (tc *conn) handle(pkt []byte) {
	p, err := codec.ParsePacket(pkt)
	if err != nil {
		tc.protocolError(codec.CodeOf(err))
		return
	}
	w := tc.loop.w
	w.Out.Traffic.In(byte(p.Type), len(pkt))
	if tc.sess == nil {
		if p.Type != codec.TypeHello {
			tc.protocolError(codec.CodeUnexpectedPacket)
			return
		}
		// Open calls Attach, which sets tc.sess before other goroutines can
		// see the connection as a room member.
		if _, code := tc.srv.broker.Open(w, tc, p.Header, p.Body); code != codec.CodeNormal {
			tc.fail(code)
		}
		return
	}
	switch v := tc.srv.broker.Handle(w, tc, p); {
	case v.End && v.Code == codec.CodeNormal:
		tc.srv.broker.Detach(w, tc)
		tc.bye = true
	case v.Code != codec.CodeNormal:
		tc.protocolError(v.Code)
	}
}

func (tc *conn) protocolError(code codec.Code) {
	tc.srv.stats.ProtocolErrors.Add(1)
	tc.fail(code)
}

// fail queues ERROR code, ends the session, and lets the connection linger
// for CloseGrace so the client can read the ERROR before the close.
func (tc *conn) fail(code codec.Code) {
	if tc.closing || tc.closed {
		return
	}
	tc.loop.w.Error(tc, 0, code)
	tc.closing = true
	tc.deadline = time.Now().Add(tc.srv.cfg.CloseGrace).UnixNano()
	tc.srv.broker.Detach(tc.loop.w, tc)
}

// ID implements rooms.Member.
func (tc *conn) ID() string { return tc.sess.Name() }

// Group implements rooms.Member: the connection's event loop.
func (tc *conn) Group() int { return tc.loop.group }

// Attach implements broker.Peer.
func (tc *conn) Attach(s *broker.Session) { tc.sess = s }

// Session implements broker.Peer.
func (tc *conn) Session() *broker.Session { return tc.sess }

// Reliable implements broker.Peer: TCP neither loses nor reorders.
func (tc *conn) Reliable() bool { return true }

// MaxPacket implements broker.Peer.
func (tc *conn) MaxPacket() int { return tc.srv.cfg.MaxFrame }

// DatagramKey implements broker.Peer: TCP needs no key.
func (tc *conn) DatagramKey() uint64 { return 0 }

// Remote implements broker.Peer: the connection's peer address, or for a
// connection opened with Pipe the address it was given.
func (tc *conn) Remote() netip.AddrPort {
	if a, ok := tc.c.RemoteAddr().(*net.TCPAddr); ok {
		ap := a.AddrPort() // IPv4 as ::ffff:a.b.c.d: unmapped, as UDP's
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	if p := tc.piped(); p != nil {
		return p.remote
	}
	return netip.AddrPort{}
}

// Identity implements broker.Peer: plain TCP verifies no identity; a
// connection opened with Pipe has the identity it was given.
func (tc *conn) Identity() string {
	if p := tc.piped(); p != nil {
		return p.identity
	}
	return ""
}

// Kick implements broker.Peer: on the connection's loop, say BYE (unless
// code is CodeNormal) and close, lingering for the client to read it.
func (tc *conn) Kick(code codec.Code) {
	_ = tc.srv.hub.Run(tc.loop.group, func() {
		if tc.closed || tc.closing {
			return
		}
		if code != codec.CodeNormal {
			tc.loop.w.Bye(tc, code)
		}
		tc.closing = true
		tc.deadline = time.Now().Add(tc.srv.cfg.CloseGrace).UnixNano()
		tc.loop.w.Flush()
	})
}

// Enqueue implements deliver.Recipient. Messages beyond MaxOutbound bytes
// queued to the connection are dropped; replies (which the client's own
// requests bound) may use twice that before the client counts as a slow
// consumer and is disconnected.
func (tc *conn) Enqueue(o *deliver.Outbox, frame []byte) {
	if tc.closed || tc.closing {
		return
	}
	queued := tc.c.OutboundBuffered() + tc.pendingBytes + len(frame)
	if queued > tc.srv.cfg.MaxOutbound {
		// A QoS 0 MESSAGE may be lost. A QoS 1 MESSAGE is bounded by the
		// session's window, and replies by the client's own requests, up
		// to twice the limit; beyond it the client is not reading at all.
		h := frame[codec.LenPrefixLen:]
		if codec.Type(h[1]) == codec.TypeMessage && codec.Flags(h[2]).QoS() == 0 {
			tc.srv.stats.DropSlowConsumer.Add(1)
			return
		}
		if queued > 2*tc.srv.cfg.MaxOutbound {
			tc.closing = true
			_ = tc.c.Close() // OnClose detaches the session
			return
		}
	}
	tc.pendingBytes += len(frame)
	if n := len(tc.pending); n > 0 && deliver.Adjacent(tc.pending[n-1], frame) {
		tc.pending[n-1] = tc.pending[n-1][:len(tc.pending[n-1])+len(frame)]
		return
	}
	if len(tc.pending) == 0 {
		o.MarkDirty(tc)
	}
	tc.pending = append(tc.pending, frame)
}

// maxIovecs is the most buffers written with one writev: up to this many,
// x/sys/unix builds its iovec array without allocating.
const maxIovecs = 8

// Flush implements deliver.Recipient: one write system call for the pass.
func (tc *conn) Flush(o *deliver.Outbox) {
	p := tc.pending
	tc.pending, tc.pendingBytes = p[:0], 0
	defer clear(p)
	if tc.closed || len(p) == 0 {
		return
	}
	switch {
	case len(p) == 1:
		_, _ = tc.c.Write(p[0])
	case len(p) <= maxIovecs:
		_, _ = tc.c.Writev(p)
	default:
		buf := o.Scratch[:0]
		for _, b := range p {
			buf = append(buf, b...)
		}
		_, _ = tc.c.Write(buf)
		o.Scratch = buf[:0]
	}
	if tc.closing && !tc.shut && !tc.closed && tc.c.OutboundBuffered() == 0 {
		// Everything, the ERROR included, is in the kernel: send FIN now,
		// close after the client closes or the grace period ends.
		tc.shut = true
		_ = unix.Shutdown(tc.c.Fd(), unix.SHUT_WR)
	}
}
