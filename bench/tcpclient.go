package bench

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/packetd/packetd/codec"
)

// tcpSession is a lean packetd session over TCP, or TLS over TCP (the
// same frames over crypto/tls: c is then a *tls.Conn, and reads see the
// plaintext), speaking codec directly: writes go out as given (a caller
// batches many frames into one write), and reads parse frames in place
// from one large buffer, with no allocation per packet.
//
// One goroutine reads; any number may write (net.Conn and tls.Conn
// writes do not interleave).
type tcpSession struct {
	c        net.Conn
	welcome  welcomeInfo
	buf      []byte
	r, w     int // unparsed bytes are buf[r:w]
	maxFrame int
}

// welcomeInfo is what a load client keeps of its WELCOME.
type welcomeInfo struct {
	sid         []byte // "$" and 16 hex digits
	key         uint64 // UDP: the datagram prefix; 0 over TCP
	keepAlive   time.Duration
	maxFrame    int
	maxDatagram int
	inflight    int
}

// dialTCP connects, completes the TLS handshake if tc is not nil, says
// HELLO and waits for the WELCOME. readBuf is the read buffer's size (it
// grows for a frame larger than it); nagle leaves Nagle's algorithm on.
func dialTCP(ctx context.Context, addr string, hello *codec.Hello, readBuf int, nagle bool, tc *tls.Config) (*tcpSession, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if nagle {
		// Go turns Nagle's algorithm off (TCP_NODELAY); many embedded
		// stacks and naive C clients leave it on.
		if err := c.(*net.TCPConn).SetNoDelay(false); err != nil {
			c.Close()
			return nil, err
		}
	}
	if tc != nil {
		tlc := tls.Client(c, tc)
		if err := tlc.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, err
		}
		c = tlc
	}
	s := &tcpSession{c: c, buf: make([]byte, max(readBuf, 512)), maxFrame: codec.DefaultMaxFrame}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	err = s.handshake(hello)
	_ = c.SetDeadline(time.Time{})
	if err != nil {
		c.Close()
		return nil, err
	}
	return s, nil
}

func (s *tcpSession) handshake(hello *codec.Hello) error {
	if _, err := s.c.Write(codec.AppendFrame(nil, codec.Header{Type: codec.TypeHello, ID: 1}, hello)); err != nil {
		// The server may have refused the connection (ERROR 300) before
		// the HELLO: read what it said.
		if rerr := s.await(func(pkt []byte) (bool, error) { return parseWelcome(pkt, 1) }); rerr != nil {
			var se *ServerError
			if errors.As(rerr, &se) {
				return rerr
			}
		}
		return err
	}
	return s.await(func(pkt []byte) (bool, error) { return parseWelcome(pkt, 1) })
}

// await reads until match reports true or an error.
func (s *tcpSession) await(match func(pkt []byte) (bool, error)) error {
	_, merr, err := readUntil(s.recv, func(pkt []byte) (bool, error) {
		done, err := match(pkt)
		if done && err == nil && codec.Type(pkt[1]) == codec.TypeWelcome {
			err = decodeWelcome(pkt, &s.welcome)
		}
		return done, err
	})
	if err != nil {
		return err
	}
	return merr
}

// readUntil calls recv, which hands each packet it reads to its argument,
// until match reports true or an error (merr), or recv fails (err).
func readUntil(recv func(fn func(pkt []byte)) error, match func(pkt []byte) (bool, error)) (done bool, merr, err error) {
	for !done && merr == nil {
		err = recv(func(pkt []byte) {
			if !done && merr == nil {
				done, merr = match(pkt)
			}
		})
		if err != nil {
			return done, merr, err
		}
	}
	return done, merr, nil
}

// parseWelcome handles one packet while waiting for the WELCOME with id:
// it reports true once it has one, or the error a fatal ERROR or BYE
// carries.
func parseWelcome(pkt []byte, id uint32) (bool, error) {
	h, _, err := codec.ParseHeader(pkt)
	if err != nil {
		return false, err
	}
	switch h.Type {
	case codec.TypeWelcome:
		if h.ID != id {
			return false, nil
		}
		return true, nil
	case codec.TypeError, codec.TypeBye:
		if h.Type == codec.TypeError && h.ID != 0 && h.ID != id {
			return false, nil // answers an older packet
		}
		return false, serverError(h.Type, pkt)
	}
	return false, nil
}

// serverError turns an ERROR or BYE into an error with its code.
func serverError(t codec.Type, pkt []byte) error {
	var e codec.Error
	_ = codec.NewDecoder().Decode(t, pkt[codec.HeaderLen:], &e)
	return &ServerError{Type: t.String(), Code: e.Code, Msg: string(e.Msg)}
}

// ServerError is an ERROR or BYE the server sent a load client.
type ServerError struct {
	Type string // "ERROR" or "BYE"
	Code uint16
	Msg  string
}

func (e *ServerError) Error() string {
	return fmt.Sprintf("bench: server sent %s %d (%s)", e.Type, e.Code, e.Msg)
}

// decodeWelcome fills wi from a WELCOME packet.
func decodeWelcome(pkt []byte, wi *welcomeInfo) error {
	var w codec.Welcome
	if err := codec.NewDecoder().Decode(codec.TypeWelcome, pkt[codec.HeaderLen:], &w); err != nil {
		return err
	}
	wi.sid = append([]byte(nil), w.SessionID...)
	if len(wi.sid) != 17 || wi.sid[0] != '$' {
		return fmt.Errorf("bench: WELCOME sid %q", wi.sid)
	}
	wi.key = w.Key
	wi.keepAlive = time.Duration(w.KeepAlive) * time.Second
	wi.maxFrame = int(w.MaxFrame)
	wi.maxDatagram = int(w.MaxDatagram)
	wi.inflight = int(w.Inflight)
	return nil
}

// recv waits for one read and calls fn with each packet it completed.
func (s *tcpSession) recv(fn func(pkt []byte)) error {
	if err := s.read(); err != nil {
		return err
	}
	return s.each(fn)
}

// each calls fn with each complete packet (header and body) in the read
// buffer, consuming them. The packet aliases the buffer and is valid
// during the call.
func (s *tcpSession) each(fn func(pkt []byte)) error {
	for s.w-s.r >= codec.LenPrefixLen {
		n := int(binary.BigEndian.Uint32(s.buf[s.r:]))
		if n < codec.HeaderLen || n > s.maxFrame {
			return fmt.Errorf("bench: frame of %d bytes from the server", n)
		}
		end := s.r + codec.LenPrefixLen + n
		if end > s.w {
			break
		}
		fn(s.buf[s.r+codec.LenPrefixLen : end : end])
		s.r = end
	}
	return nil
}

// read makes room in the buffer and reads once.
func (s *tcpSession) read() error {
	if s.r == s.w {
		s.r, s.w = 0, 0
	} else if s.w-s.r >= codec.LenPrefixLen {
		if need := codec.LenPrefixLen + int(binary.BigEndian.Uint32(s.buf[s.r:])); need > len(s.buf) && need <= codec.LenPrefixLen+s.maxFrame {
			grown := make([]byte, need)
			s.w = copy(grown, s.buf[s.r:s.w])
			s.r, s.buf = 0, grown
		}
	}
	if s.r > 0 && len(s.buf)-s.w < len(s.buf)/4 {
		s.w = copy(s.buf, s.buf[s.r:s.w])
		s.r = 0
	}
	n, err := s.c.Read(s.buf[s.w:])
	s.w += n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = errors.New("bench: empty read")
	}
	return err
}

// appendPacket appends h and body as this transport carries them: a frame.
func (s *tcpSession) appendPacket(b []byte, h codec.Header, body codec.Body) []byte {
	return codec.AppendFrame(b, h, body)
}

// headerOffset is where the packet header starts in what appendPacket
// appends.
func (s *tcpSession) headerOffset() int { return codec.LenPrefixLen }

// send writes frames appended by appendPacket, in one write.
func (s *tcpSession) send(b []byte) error {
	_, err := s.c.Write(b)
	return err
}

func (s *tcpSession) setDeadline(t time.Time) error { return s.c.SetDeadline(t) }

func (s *tcpSession) info() *welcomeInfo { return &s.welcome }

func (s *tcpSession) Close() error { return s.c.Close() }
