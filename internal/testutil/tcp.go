package testutil

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/packetd/packetd/codec"
)

// Frame returns the TCP frame of a packet: length prefix, header, body
// (nil for none).
func Frame(h codec.Header, body codec.Body) []byte {
	return codec.AppendFrame(nil, h, body)
}

// RawFrame returns a TCP frame around arbitrary packet bytes.
func RawFrame(pkt []byte) []byte {
	return append(codec.AppendFrameLen(nil, len(pkt)), pkt...)
}

// Rooms returns a JOIN or LEAVE body.
func Rooms(names ...string) *codec.Rooms {
	b := &codec.Rooms{}
	for _, n := range names {
		b.Rooms = append(b.Rooms, []byte(n))
	}
	return b
}

// TCPConn is a raw TCP peer: it writes exact bytes and reads packets.
type TCPConn struct {
	*net.TCPConn
	t  testing.TB
	fr *codec.FrameReader
}

// DialTCP connects a raw peer to the server's TCP listener, with
// TCP_NODELAY so that each Write is its own segment. It closes when the test
// ends.
func DialTCP(t testing.TB, s *Server) *TCPConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", s.TCPAddr().String(), Timeout)
	if err != nil {
		t.Fatalf("dial tcp: %v", err)
	}
	c := nc.(*net.TCPConn)
	if err := c.SetNoDelay(true); err != nil {
		t.Fatalf("SetNoDelay: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &TCPConn{TCPConn: c, t: t, fr: codec.NewFrameReader(c, 64<<20)}
}

// Write writes b in one call, failing the test on error.
func (c *TCPConn) Write(b []byte) {
	c.t.Helper()
	_ = c.SetWriteDeadline(time.Now().Add(Timeout))
	if _, err := c.TCPConn.Write(b); err != nil {
		c.t.Fatalf("tcp write: %v", err)
	}
}

// Send writes one frame.
func (c *TCPConn) Send(h codec.Header, body codec.Body) {
	c.t.Helper()
	c.Write(Frame(h, body))
}

// Next reads the next packet, waiting at most d. The packet is the
// caller's. At the end of the stream it returns io.EOF.
func (c *TCPConn) Next(d time.Duration) (codec.Packet, error) {
	_ = c.SetReadDeadline(time.Now().Add(d))
	raw, err := c.fr.ReadFrame()
	if err != nil {
		return codec.Packet{}, err
	}
	return codec.ParsePacket(bytes.Clone(raw))
}

// MustNext reads the next packet, failing the test if none comes within
// Timeout.
func (c *TCPConn) MustNext() codec.Packet {
	c.t.Helper()
	p, err := c.Next(Timeout)
	if err != nil {
		c.t.Fatalf("tcp read: %v", err)
	}
	return p
}

// Expect reads the next packet and checks its type and id.
func (c *TCPConn) Expect(typ codec.Type, id uint32) codec.Packet {
	c.t.Helper()
	return expect(c.t, c.MustNext(), typ, &id)
}

// ExpectType reads the next packet and checks its type.
func (c *TCPConn) ExpectType(typ codec.Type) codec.Packet {
	c.t.Helper()
	return expect(c.t, c.MustNext(), typ, nil)
}

// expect checks p's type and, if id is not nil, its id.
func expect(t testing.TB, p codec.Packet, typ codec.Type, id *uint32) codec.Packet {
	t.Helper()
	if p.Type != typ || (id != nil && p.ID != *id) {
		want := typ.String()
		if id != nil {
			want += " id=" + strconv.Itoa(int(*id))
		}
		t.Fatalf("got %v id=%d (%s), want %s", p.Type, p.ID, Describe(p), want)
	}
	return p
}

// Hello opens a session asking for keepalive seconds (0: the server's
// default) and returns the WELCOME.
func (c *TCPConn) Hello(keepalive uint32) codec.Welcome {
	c.t.Helper()
	return c.HelloWith(&codec.Hello{KeepAlive: keepalive})
}

// HelloWith opens (or resumes) a session with the HELLO body h and returns
// the WELCOME, its byte fields copied.
func (c *TCPConn) HelloWith(h *codec.Hello) codec.Welcome {
	c.t.Helper()
	const id = 0x48454c4f
	c.Send(codec.Header{Type: codec.TypeHello, ID: id}, h)
	var w codec.Welcome
	Decode(c.t, c.Expect(codec.TypeWelcome, id), &w)
	w.SessionID = bytes.Clone(w.SessionID)
	w.Server = bytes.Clone(w.Server)
	return w
}

// Join joins rooms with request id and expects the ACK.
func (c *TCPConn) Join(id uint32, rooms ...string) {
	c.t.Helper()
	c.Send(codec.Header{Type: codec.TypeJoin, ID: id}, Rooms(rooms...))
	c.Expect(codec.TypeAck, id)
}

// Ping sends a PING with request id and expects its PONG: everything the
// server sent before it has been read.
func (c *TCPConn) Ping(id uint32) {
	c.t.Helper()
	tok := &codec.Ping{Token: []byte{byte(id >> 24), byte(id >> 16), byte(id >> 8), byte(id)}}
	c.Send(codec.Header{Type: codec.TypePing, ID: id}, tok)
	c.Expect(codec.TypePong, id)
}

// ExpectError reads the next packet, checks it is an ERROR with the id and
// code, and returns its body.
func (c *TCPConn) ExpectError(id uint32, code codec.Code) codec.Error {
	c.t.Helper()
	p := c.MustNext()
	return CheckError(c.t, p, codec.TypeError, id, code)
}

// ExpectEOF checks that the server closed the stream in order (FIN) with
// nothing more to read.
func (c *TCPConn) ExpectEOF() {
	c.t.Helper()
	p, err := c.Next(Timeout)
	switch {
	case err == nil:
		c.t.Fatalf("got %v id=%d (%s), want end of stream", p.Type, p.ID, Describe(p))
	case !errors.Is(err, io.EOF):
		c.t.Fatalf("got read error %v, want io.EOF", err)
	}
}

// CheckError checks that p is a packet of type typ (ERROR or BYE) with the
// id and code, and returns its body.
func CheckError(t testing.TB, p codec.Packet, typ codec.Type, id uint32, code codec.Code) codec.Error {
	t.Helper()
	if p.Type != typ || p.ID != id {
		t.Fatalf("got %v id=%d (%s), want %v id=%d code %d", p.Type, p.ID, Describe(p), typ, id, code)
	}
	var e codec.Error
	Decode(t, p, &e)
	if codec.Code(e.Code) != code {
		t.Fatalf("got %v code %d (%q), want code %d (%v)", typ, e.Code, e.Msg, code, code)
	}
	return e
}

// Decode decodes p's body into v, failing the test if it is invalid.
// Byte-slice fields alias p.Body.
func Decode(t testing.TB, p codec.Packet, v codec.Body) {
	t.Helper()
	if err := codec.NewDecoder().Decode(p.Type, p.Body, v); err != nil {
		t.Fatalf("decoding %v body % x: %v", p.Type, p.Body, err)
	}
}

// Describe renders a packet's body for failure messages.
func Describe(p codec.Packet) string {
	dec := codec.NewDecoder()
	switch p.Type {
	case codec.TypeError, codec.TypeBye:
		var e codec.Error
		if dec.Decode(p.Type, p.Body, &e) == nil {
			return fmt.Sprintf("code %d %q", e.Code, e.Msg)
		}
	case codec.TypeMessage:
		var m codec.Message
		if dec.Decode(p.Type, p.Body, &m) == nil {
			return fmt.Sprintf("rooms %q from %s event %q data %x", m.Rooms, m.From, m.Event, m.Data)
		}
	case codec.TypeWelcome:
		var w codec.Welcome
		if dec.Decode(p.Type, p.Body, &w) == nil {
			return fmt.Sprintf("sid %s keepalive %d", w.SessionID, w.KeepAlive)
		}
	case codec.TypePing, codec.TypePong:
		var t codec.Ping
		if dec.Decode(p.Type, p.Body, &t) == nil {
			return fmt.Sprintf("token %x", t.Token)
		}
	}
	return fmt.Sprintf("body %x", p.Body)
}
