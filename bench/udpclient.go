package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net"
	"time"

	"golang.org/x/sys/unix"

	"github.com/packetd/packetd/codec"
)

// udpSession is a lean packetd session over UDP: one connected socket per
// session (the server answers to the source address, so sessions cannot
// share a socket), datagrams read into one reused buffer.
//
// A receiving session turns on UDP_GRO where the kernel has it: the
// datagrams the server sends it in one GSO run (packetd cuts a run of
// MESSAGEs to one member into segments with UDP_SEGMENT) then arrive in
// one read, with their segment size, instead of one read each.
//
// One goroutine reads; any number may write (each datagram is one write).
type udpSession struct {
	c       *net.UDPConn
	welcome welcomeInfo
	buf     []byte
	gro     bool
	seg     int // the segment size of the datagrams in buf, 0: one datagram
	oob     [64]byte
}

// dialUDP opens a socket connected to addr, says HELLO (padded to the
// minimum datagram size), resending it on the protocol's schedule until a
// WELCOME with its nonce arrives or ctx ends, then validates its address
// with a PING. sockBuf, if not 0, is the socket buffer size to ask for.
func dialUDP(ctx context.Context, addr string, hello *codec.Hello, sockBuf int, gro bool) (*udpSession, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp", addr)
	if err != nil {
		return nil, err
	}
	s := &udpSession{c: c.(*net.UDPConn), buf: make([]byte, 2048)}
	if sockBuf > 0 {
		_ = s.c.SetReadBuffer(sockBuf)
		_ = s.c.SetWriteBuffer(sockBuf)
	}
	if err := s.handshake(ctx, hello); err != nil {
		c.Close()
		return nil, err
	}
	if gro {
		s.enableGRO()
	}
	return s, nil
}

// enableGRO asks the kernel to coalesce the datagrams of a GSO run.
func (s *udpSession) enableGRO() {
	rc, err := s.c.SyscallConn()
	if err != nil {
		return
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_UDP, unix.UDP_GRO, 1)
	}); err != nil || serr != nil {
		return
	}
	s.gro = true
	s.buf = make([]byte, 64<<10) // a coalesced run is at most 64 KiB
}

func (s *udpSession) handshake(ctx context.Context, hello *codec.Hello) error {
	nonce := rand.Uint32() | 1
	h := *hello
	h.Pad = 0
	for codec.KeyLen+codec.PacketLen(&h) < codec.MinHelloDatagram {
		h.Pad++ // PROTOCOL.md 6.2: the HELLO datagram is at least 64 bytes
	}
	dgram := codec.AppendPacket(codec.AppendKey(nil, 0), codec.Header{Type: codec.TypeHello, ID: nonce}, &h)
	err := s.exchange(ctx, dgram, func(pkt []byte) (bool, error) {
		done, err := parseWelcome(pkt, nonce)
		if done {
			err = decodeWelcome(pkt, &s.welcome)
			if err == nil && s.welcome.key == 0 {
				err = errors.New("bench: WELCOME over UDP without a key")
			}
		}
		return done, err
	})
	if err != nil {
		return err
	}
	// Room for the largest datagram the server sends, and one byte to
	// tell a larger one (which it never sends).
	s.buf = make([]byte, max(s.welcome.maxDatagram, codec.DefaultMaxDatagram)+1)
	s.seg = 0
	// Validate the address: the first datagram with the key does.
	ping := s.appendPacket(nil, codec.Header{Type: codec.TypePing, ID: pingID}, nil)
	return s.exchange(ctx, ping[codec.LenPrefixLen:], func(pkt []byte) (bool, error) {
		return answers(pkt, codec.TypePong, pingID)
	})
}

// pingID is the id of the PING that validates a UDP session's address and
// of the liveness PINGs; no other request uses it.
const pingID = 0xfffffff0

// answers reports whether pkt answers request id with want (true), or with
// an ERROR (an error), or is something else (false).
func answers(pkt []byte, want codec.Type, id uint32) (bool, error) {
	h, _, err := codec.ParseHeader(pkt)
	if err != nil || h.ID != id {
		return false, nil
	}
	switch h.Type {
	case want:
		return true, nil
	case codec.TypeError:
		return false, serverError(h.Type, pkt)
	}
	return false, nil
}

// exchange sends one datagram and reads until match accepts a packet,
// resending it after 1, 2, 4 and 8 s of silence and giving up 16 s after
// the 5th send (PROTOCOL.md 6.6), or when ctx ends.
func (s *udpSession) exchange(ctx context.Context, dgram []byte, match func(pkt []byte) (bool, error)) error {
	wait := time.Second
	for try := 0; ; try++ {
		if _, err := s.c.Write(dgram); err != nil {
			return err
		}
		if try == 4 {
			wait = 16 * time.Second
		}
		deadline := time.Now().Add(wait)
		if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
			deadline = dl
		}
		_ = s.c.SetReadDeadline(deadline)
		done, merr, err := readUntil(s.recv, match)
		if err != nil && !isTimeout(err) {
			return err
		}
		_ = s.c.SetReadDeadline(time.Time{})
		if done || merr != nil {
			return merr
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if try == 4 {
			return errNoAnswer
		}
		wait *= 2
	}
}

var errNoAnswer = errors.New("bench: no answer from the server over UDP (31 s)")

// recv waits for one datagram and calls fn with its packet.
func (s *udpSession) recv(fn func(pkt []byte)) error {
	if err := s.read(); err != nil {
		return err
	}
	return s.each(fn)
}

// read waits for one datagram, or with GRO for one run of them.
func (s *udpSession) read() error {
	if !s.gro {
		n, err := s.c.Read(s.buf[:cap(s.buf)])
		s.buf = s.buf[:max(n, 0)]
		return err
	}
	n, oobn, _, _, err := s.c.ReadMsgUDPAddrPort(s.buf[:cap(s.buf)], s.oob[:])
	if err != nil {
		s.buf = s.buf[:0]
		return err
	}
	s.buf = s.buf[:n]
	s.seg = groSegment(s.oob[:oobn])
	return err
}

// groSegment returns the segment size the UDP_GRO control message gives,
// 0 without one.
func groSegment(oob []byte) int {
	for len(oob) > 0 {
		h, data, rest, err := unix.ParseOneSocketControlMessage(oob)
		if err != nil {
			return 0
		}
		if h.Level == unix.SOL_UDP && h.Type == unix.UDP_GRO {
			switch {
			case len(data) >= 4:
				return int(binary.NativeEndian.Uint32(data)) // an int
			case len(data) >= 2:
				return int(binary.NativeEndian.Uint16(data))
			}
		}
		oob = rest
	}
	return 0
}

// each calls fn with each datagram read last that can be a packet. The
// packet aliases the read buffer and is valid during the call.
func (s *udpSession) each(fn func(pkt []byte)) error {
	b := s.buf
	seg := s.seg
	if seg <= 0 {
		seg = len(b)
	}
	for len(b) > 0 {
		n := min(seg, len(b))
		if n >= codec.HeaderLen {
			fn(b[:n:n])
		}
		b = b[n:]
	}
	s.buf = s.buf[:0]
	return nil
}

// appendPacket appends h and body in the layout send takes: a 4-byte
// length (so that many datagrams can share one buffer), then the
// datagram, key first.
func (s *udpSession) appendPacket(b []byte, h codec.Header, body codec.Body) []byte {
	b = codec.AppendFrameLen(b, codec.KeyLen+codec.PacketLen(body))
	b = codec.AppendKey(b, s.welcome.key)
	return codec.AppendPacket(b, h, body)
}

// headerOffset is where the packet header starts in what appendPacket
// appends.
func (s *udpSession) headerOffset() int { return codec.LenPrefixLen + codec.KeyLen }

// send writes each datagram appendPacket appended to b.
func (s *udpSession) send(b []byte) error {
	for len(b) >= codec.LenPrefixLen {
		n := codec.LenPrefixLen + int(binary.BigEndian.Uint32(b))
		if _, err := s.c.Write(b[codec.LenPrefixLen:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

func (s *udpSession) setDeadline(t time.Time) error { return s.c.SetDeadline(t) }

func (s *udpSession) info() *welcomeInfo { return &s.welcome }

func (s *udpSession) Close() error { return s.c.Close() }
