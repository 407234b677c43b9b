package testutil

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"net"
	"testing"
	"time"

	"github.com/packetd/packetd/codec"
)

// Datagram returns a client datagram: the key prefix and a packet.
func Datagram(key uint64, h codec.Header, body codec.Body) []byte {
	return codec.AppendPacket(codec.AppendKey(nil, key), h, body)
}

// HelloDatagram returns a HELLO datagram (key 0) padded to at least
// size bytes, exactly size for sizes up to a few hundred.
func HelloDatagram(id, keepalive uint32, size int) []byte {
	hello := &codec.Hello{KeepAlive: keepalive}
	for codec.KeyLen+codec.PacketLen(hello) < size {
		hello.Pad++
	}
	return Datagram(0, codec.Header{Type: codec.TypeHello, ID: id}, hello)
}

// SessionID converts a session id, "$" + 16 hex digits, to its 64-bit
// value: what a room member learns from a MESSAGE's "from", and never a
// datagram prefix the server accepts (the WELCOME's key is).
func SessionID(t testing.TB, name []byte) uint64 {
	t.Helper()
	if len(name) != 17 || name[0] != '$' {
		t.Fatalf("got session id %q, want \"$\" and 16 hex digits", name)
	}
	var raw [8]byte
	if _, err := hex.Decode(raw[:], name[1:]); err != nil || hex.EncodeToString(raw[:]) != string(name[1:]) {
		t.Fatalf("got session id %q, want \"$\" and 16 lowercase hex digits", name)
	}
	return binary.BigEndian.Uint64(raw[:])
}

// UDPConn is a raw UDP peer on its own socket (its own source port).
type UDPConn struct {
	*net.UDPConn
	t      testing.TB
	server *net.UDPAddr
	buf    []byte
	// Key is the datagram key Hello obtained, used by Request, Ping and
	// Join.
	Key uint64
	// Received counts the bytes of every datagram read from the server.
	Received int
}

// ListenUDP opens a raw peer's socket on 127.0.0.1, closed when the test
// ends.
func ListenUDP(t testing.TB, s *Server) *UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatalf("listen udp: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &UDPConn{UDPConn: c, t: t, server: s.UDPAddr().(*net.UDPAddr), buf: make([]byte, 70000)}
}

// SendRaw sends b as one datagram to the server.
func (u *UDPConn) SendRaw(b []byte) {
	u.t.Helper()
	if _, err := u.WriteToUDP(b, u.server); err != nil {
		u.t.Fatalf("udp write: %v", err)
	}
}

// Send sends one packet with the key prefix key.
func (u *UDPConn) Send(key uint64, h codec.Header, body codec.Body) {
	u.t.Helper()
	u.SendRaw(Datagram(key, h, body))
}

// Request sends one packet with the peer's key.
func (u *UDPConn) Request(h codec.Header, body codec.Body) {
	u.t.Helper()
	u.Send(u.Key, h, body)
}

// Next reads the next datagram from the server, waiting at most d, and
// returns it parsed, and its size. A datagram that does not parse is an
// error (the size is still returned).
func (u *UDPConn) Next(d time.Duration) (codec.Packet, int, error) {
	for {
		_ = u.SetReadDeadline(time.Now().Add(d))
		n, from, err := u.ReadFromUDP(u.buf)
		if err != nil {
			return codec.Packet{}, 0, err
		}
		if from.Port != u.server.Port || !from.IP.Equal(u.server.IP) {
			continue // not the server
		}
		u.Received += n
		p, err := codec.ParsePacket(bytes.Clone(u.buf[:n]))
		return p, n, err
	}
}

// MustNext reads the next packet, failing the test if none comes within
// Timeout.
func (u *UDPConn) MustNext() codec.Packet {
	u.t.Helper()
	p, _, err := u.Next(Timeout)
	if err != nil {
		u.t.Fatalf("udp read: %v", err)
	}
	return p
}

// Expect reads the next packet and checks its type and id.
func (u *UDPConn) Expect(typ codec.Type, id uint32) codec.Packet {
	u.t.Helper()
	return expect(u.t, u.MustNext(), typ, &id)
}

// ExpectType reads the next packet and checks its type.
func (u *UDPConn) ExpectType(typ codec.Type) codec.Packet {
	u.t.Helper()
	return expect(u.t, u.MustNext(), typ, nil)
}

// Hello opens a session with a HELLO datagram of size bytes asking for
// keepalive seconds, sets Key from the WELCOME and returns the WELCOME. The
// session's address is not validated until its next datagram.
func (u *UDPConn) Hello(id, keepalive uint32, size int) codec.Welcome {
	u.t.Helper()
	u.SendRaw(HelloDatagram(id, keepalive, size))
	var w codec.Welcome
	Decode(u.t, u.Expect(codec.TypeWelcome, id), &w)
	u.Key = welcomeKey(u.t, &w)
	return w
}

// HelloWith opens (or resumes) a session with the HELLO body h, padded to
// the minimum size, sets Key and returns the WELCOME.
func (u *UDPConn) HelloWith(id uint32, h *codec.Hello) codec.Welcome {
	u.t.Helper()
	for codec.KeyLen+codec.PacketLen(h) < codec.MinHelloDatagram {
		h.Pad++
	}
	u.SendRaw(Datagram(0, codec.Header{Type: codec.TypeHello, ID: id}, h))
	var w codec.Welcome
	Decode(u.t, u.Expect(codec.TypeWelcome, id), &w)
	u.Key = welcomeKey(u.t, &w)
	return w
}

// welcomeKey checks a UDP WELCOME's key and returns it: present, and
// independent of the session id. It copies the WELCOME's session id.
func welcomeKey(t testing.TB, w *codec.Welcome) uint64 {
	t.Helper()
	w.SessionID = bytes.Clone(w.SessionID)
	if w.Key == 0 || w.Key == SessionID(t, w.SessionID) {
		t.Fatalf("WELCOME over UDP: got key %#x for session %s, want a random non-zero key", w.Key, w.SessionID)
	}
	return w.Key
}

// Join joins rooms with request id and expects the ACK as the next packet.
func (u *UDPConn) Join(id uint32, rooms ...string) {
	u.t.Helper()
	u.Request(codec.Header{Type: codec.TypeJoin, ID: id}, Rooms(rooms...))
	u.Expect(codec.TypeAck, id)
}

// Ping sends a PING with request id and reads until its PONG, returning
// the packets that came before it. The server handles one socket's
// datagrams in order, so everything sent before the PING has been handled
// (and counted) by then.
func (u *UDPConn) Ping(id uint32) []codec.Packet {
	u.t.Helper()
	tok := []byte{byte(id >> 24), byte(id >> 16), byte(id >> 8), byte(id)}
	u.Request(codec.Header{Type: codec.TypePing, ID: id}, &codec.Ping{Token: tok})
	var before []codec.Packet
	for {
		p := u.MustNext()
		if p.Type == codec.TypePong && p.ID == id {
			var pong codec.Ping
			Decode(u.t, p, &pong)
			if !bytes.Equal(pong.Token, tok) {
				u.t.Fatalf("got PONG token %x, want %x", pong.Token, tok)
			}
			return before
		}
		before = append(before, p)
	}
}
