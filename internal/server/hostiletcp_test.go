package server_test

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/server"
	"github.com/packetd/packetd/internal/testutil"
)

// rawPacket returns a packet with an arbitrary header (id 7) and body.
func rawPacket(version, typ, flags, rsv byte, body ...byte) []byte {
	return append([]byte{version, typ, flags, rsv, 0, 0, 0, 7}, body...)
}

// lenPrefix returns a bare TCP length prefix.
func lenPrefix(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }

// nested returns a msgpack value of depth arrays, one inside the other.
func nested(depth int) []byte {
	b := bytes.Repeat([]byte{0x91}, depth-1)
	return append(b, 0x90)
}

// TestTCPHostileInput sends malformed or unexpected input on a TCP
// connection, before or after its HELLO, and checks the server answers
// ERROR with the documented code, then closes in order (the ERROR, then
// end of stream), and goes on serving the clients already connected.
func TestTCPHostileInput(t *testing.T) {
	t.Parallel()
	const maxFrame = 4096
	srv := testutil.Start(t, func(c *server.Config) { c.TCP.MaxFrame = maxFrame })
	by := testutil.NewBystanders(t, srv)
	join := func(body ...byte) []byte { return testutil.RawFrame(rawPacket(1, byte(codec.TypeJoin), 0, 0, body...)) }
	roomsBody := (&codec.Rooms{Rooms: [][]byte{[]byte("r")}}).Append(nil)

	tests := []struct {
		name  string
		hello bool   // send a HELLO first
		input []byte // then this
		code  codec.Code
	}{
		{name: "4 GiB length prefix before HELLO", input: lenPrefix(0xFFFFFFFF), code: codec.CodeFrameTooLarge},
		{name: "4 GiB length prefix", hello: true, input: lenPrefix(0xFFFFFFFF), code: codec.CodeFrameTooLarge},
		{name: "frame over MaxFrame, prefix alone", hello: true, input: lenPrefix(maxFrame + 1), code: codec.CodeFrameTooLarge},
		{name: "frame over 1024 bytes before HELLO", input: lenPrefix(1025), code: codec.CodeFrameTooLarge},
		{name: "length prefix 0", input: lenPrefix(0), code: codec.CodeMalformedFrame},
		{name: "length prefix 7 after HELLO", hello: true, input: append(lenPrefix(7), 1, 3, 0, 0, 0, 0, 7), code: codec.CodeMalformedFrame},
		{name: "HTTP request", input: []byte("GET / HTTP/1.1\r\nHost: packetd\r\n\r\n"), code: codec.CodeFrameTooLarge},
		{name: "TLS client hello", input: []byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03}, code: codec.CodeFrameTooLarge},
		{name: "garbage packet", input: testutil.RawFrame(bytes.Repeat([]byte{0xFF}, 16)), code: codec.CodeUnsupportedVersion},
		{name: "all-zero packet", input: testutil.RawFrame(make([]byte, 8)), code: codec.CodeUnsupportedVersion},
		{name: "version 2", input: testutil.RawFrame(rawPacket(2, byte(codec.TypeHello), 0, 0)), code: codec.CodeUnsupportedVersion},
		{name: "version 2 after HELLO", hello: true, input: testutil.RawFrame(rawPacket(2, byte(codec.TypeJoin), 0, 0, roomsBody...)), code: codec.CodeUnsupportedVersion},
		{name: "type 0", hello: true, input: testutil.RawFrame(rawPacket(1, 0, 0, 0)), code: codec.CodeUnknownType},
		{name: "type 0x0C", hello: true, input: testutil.RawFrame(rawPacket(1, 0x0C, 0, 0)), code: codec.CodeUnknownType},
		{name: "type 0xFF before HELLO", input: testutil.RawFrame(rawPacket(1, 0xFF, 0, 0)), code: codec.CodeUnknownType},
		{name: "reserved flag bit", hello: true, input: testutil.RawFrame(rawPacket(1, byte(codec.TypeJoin), 0x80, 0, roomsBody...)), code: codec.CodeInvalidFlags},
		{name: "QoS 2", hello: true, input: testutil.RawFrame(rawPacket(1, byte(codec.TypeJoin), 0x02, 0, roomsBody...)), code: codec.CodeInvalidFlags},
		{name: "reserved byte", hello: true, input: testutil.RawFrame(rawPacket(1, byte(codec.TypeJoin), 0, 1, roomsBody...)), code: codec.CodeInvalidFlags},
		{name: "HELLO with reserved flag", input: testutil.RawFrame(rawPacket(1, byte(codec.TypeHello), 0x40, 0)), code: codec.CodeInvalidFlags},
		{name: "HELLO with QoS 1", input: testutil.RawFrame(rawPacket(1, byte(codec.TypeHello), byte(codec.FlagQoS1), 0)), code: codec.CodeInvalidFlags},
		{name: "JOIN with QoS 1", hello: true, input: testutil.RawFrame(rawPacket(1, byte(codec.TypeJoin), byte(codec.FlagQoS1), 0, roomsBody...)), code: codec.CodeInvalidFlags},
		{name: "HELLO body invalid msgpack", input: testutil.RawFrame(rawPacket(1, byte(codec.TypeHello), 0, 0, 0xc1)), code: codec.CodeInvalidBody},
		{name: "HELLO body an array", input: testutil.RawFrame(rawPacket(1, byte(codec.TypeHello), 0, 0, 0x90)), code: codec.CodeInvalidBody},
		{name: "JOIN body invalid msgpack", hello: true, input: join(0xc1), code: codec.CodeInvalidBody},
		{name: "JOIN body not a map", hello: true, input: join(0x91, 0xa1, 'r'), code: codec.CodeInvalidBody},
		{name: "JOIN body with trailing bytes", hello: true, input: join(append(roomsBody, 0xc0)...), code: codec.CodeInvalidBody},
		{name: "JOIN body cut short", hello: true, input: join(roomsBody[:len(roomsBody)-1]...), code: codec.CodeInvalidBody},
		{name: "JOIN map claims 1000 entries", hello: true, input: join(0xde, 0x03, 0xe8), code: codec.CodeInvalidBody},
		{name: "JOIN without rooms", hello: true, input: join(0x80), code: codec.CodeInvalidBody},
		{name: "JOIN rooms not strings", hello: true, input: join(0x81, 0xa5, 'r', 'o', 'o', 'm', 's', 0x91, 0x01), code: codec.CodeInvalidBody},
		{name: "EMIT data one level too deep", hello: true,
			input: testutil.RawFrame(rawPacket(1, byte(codec.TypeEmit), 0, 0,
				(&codec.Emit{Rooms: [][]byte{[]byte("r")}, Data: nested(codec.MaxDepth)}).Append(nil)...)),
			code: codec.CodeInvalidBody},
		{name: "EMIT data nested too deep", hello: true,
			input: testutil.RawFrame(rawPacket(1, byte(codec.TypeEmit), 0, 0,
				(&codec.Emit{Rooms: [][]byte{[]byte("r")}, Data: nested(codec.MaxDepth + 8)}).Append(nil)...)),
			code: codec.CodeInvalidBody},
		{name: "PING token over 64 bytes", hello: true,
			input: testutil.Frame(codec.Header{Type: codec.TypePing, ID: 7}, &codec.Ping{Token: make([]byte, codec.MaxToken+1)}),
			code:  codec.CodeInvalidBody},
		{name: "JOIN before HELLO", input: join(roomsBody...), code: codec.CodeUnexpectedPacket},
		{name: "PING before HELLO", input: testutil.Frame(codec.Header{Type: codec.TypePing, ID: 7}, nil), code: codec.CodeUnexpectedPacket},
		{name: "second HELLO", hello: true, input: testutil.Frame(codec.Header{Type: codec.TypeHello, ID: 7}, nil), code: codec.CodeUnexpectedPacket},
		{name: "WELCOME from client", hello: true,
			input: testutil.Frame(codec.Header{Type: codec.TypeWelcome, ID: 7}, &codec.Welcome{SessionID: []byte("$0000000000000001")}),
			code:  codec.CodeUnexpectedPacket},
		{name: "MESSAGE from client", hello: true,
			input: testutil.Frame(codec.Header{Type: codec.TypeMessage, ID: 7}, &codec.Message{Rooms: [][]byte{[]byte("r")}, From: []byte("$0000000000000001")}),
			code:  codec.CodeUnexpectedPacket},
		{name: "ERROR from client", hello: true,
			input: testutil.Frame(codec.Header{Type: codec.TypeError, ID: 7}, &codec.Error{Code: 100}),
			code:  codec.CodeUnexpectedPacket},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testutil.DialTCP(t, srv)
			if tt.hello {
				c.Hello(0)
			}
			c.Write(tt.input)
			c.ExpectError(0, tt.code)
			c.ExpectEOF()
			by.Check(t)
		})
	}
	// Every hostile connection is closed on both sides: only the
	// bystander's remains.
	testutil.WaitFor(t, "Stats.TCPConns == 1", func() bool { return srv.Stats.TCPConns.Load() == 1 })
}

// TestTCPMaxFrame checks the frame limits' boundaries: a HELLO of exactly
// 1024 bytes and then a packet of exactly MaxFrame bytes are accepted, one
// byte more is refused with ERROR 103 as soon as its length prefix is in.
// The server sends nothing over MaxFrame either: an EMIT within the limit
// whose MESSAGE would not be is refused with ERROR 205 and the session
// goes on.
func TestTCPMaxFrame(t *testing.T) {
	t.Parallel()
	const maxFrame = 4096
	srv := testutil.Start(t, func(c *server.Config) { c.TCP.MaxFrame = maxFrame })
	// emitOf returns an echoed EMIT to room r whose own packet is size
	// bytes, or (message true) whose MESSAGE will be size bytes.
	emitOf := func(size int, message bool) []byte {
		for n := size; n > 0; n-- {
			data := append([]byte{0xc5, byte(n >> 8), byte(n)}, make([]byte, n)...) // bin16
			e := &codec.Emit{Rooms: [][]byte{[]byte("r")}, Data: data, Echo: true}
			got := codec.PacketLen(e)
			if message {
				got = codec.PacketLen(&codec.Message{Rooms: e.Rooms, From: make([]byte, 17), Data: data})
			}
			if got == size {
				return testutil.Frame(codec.Header{Type: codec.TypeEmit, ID: 9}, e)
			}
		}
		t.Fatalf("no EMIT of %d bytes", size)
		return nil
	}
	tests := []struct {
		name    string
		frame   []byte
		code    codec.Code // 0: delivered
		prefix  bool       // send only the length prefix: refused at once
		closing bool
	}{
		{name: "MESSAGE of exactly MaxFrame", frame: emitOf(maxFrame, true)},
		{name: "EMIT of exactly MaxFrame", frame: emitOf(maxFrame, false), code: codec.CodeTooLarge},
		{name: "MaxFrame plus one", frame: emitOf(maxFrame+1, false), code: codec.CodeFrameTooLarge, prefix: true, closing: true},
	}
	t.Run("HELLO of exactly 1024 bytes", func(t *testing.T) {
		hello := &codec.Hello{}
		for codec.PacketLen(hello) < 1024 {
			hello.Pad++
		}
		c := testutil.DialTCP(t, srv)
		c.Send(codec.Header{Type: codec.TypeHello, ID: 1}, hello)
		c.Expect(codec.TypeWelcome, 1)
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testutil.DialTCP(t, srv)
			c.Hello(0)
			c.Join(1, "r")
			switch {
			case tt.prefix:
				c.Write(tt.frame[:codec.LenPrefixLen])
				c.ExpectError(0, tt.code)
			case tt.code != 0:
				c.Write(tt.frame)
				c.ExpectError(9, tt.code)
			default:
				c.Write(tt.frame)
				if p := c.ExpectType(codec.TypeMessage); codec.PacketLen(nil)+len(p.Body) != maxFrame {
					t.Errorf("MESSAGE of %d bytes, want %d", codec.PacketLen(nil)+len(p.Body), maxFrame)
				}
			}
			if tt.closing {
				c.ExpectEOF()
				return
			}
			c.Ping(2)
		})
	}
}

// TestTCPSlowPeers checks connections that never finish a frame, or never
// send anything: each is ended by its deadline with an ERROR and an orderly
// close, and the clients already connected are served throughout.
func TestTCPSlowPeers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		hello   bool
		trickle bool // write one byte of an endless frame every 20 ms
		code    codec.Code
	}{
		{name: "half-open peer sends nothing", code: codec.CodeHandshakeTimeout},
		{name: "slowloris before HELLO", trickle: true, code: codec.CodeHandshakeTimeout},
		{name: "slowloris after HELLO", hello: true, trickle: true, code: codec.CodeIdleTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := testutil.Start(t, func(c *server.Config) {
				shortKeepAlive(c)
				c.TCP.HandshakeTimeout = 300 * time.Millisecond
			})
			by := testutil.NewBystanders(t, srv)
			c := testutil.DialTCP(t, srv)
			if tt.hello {
				c.Hello(1)
			}
			if tt.trickle {
				stop := make(chan struct{})
				done := make(chan struct{})
				t.Cleanup(func() { close(stop); <-done })
				go trickle(c.TCPConn, stop, done)
			}
			c.ExpectError(0, tt.code)
			c.ExpectEOF()
			by.Check(t)
		})
	}
}

// trickle writes a frame announced as 1,000 bytes one byte at a time, and
// keeps writing bytes until stop is closed or a write fails.
func trickle(c *net.TCPConn, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	frame := append(lenPrefix(1000), rawPacket(1, byte(codec.TypePing), 0, 0)...)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		b := byte(0)
		if i < len(frame) {
			b = frame[i]
		}
		if _, err := c.Write([]byte{b}); err != nil {
			return
		}
	}
}
