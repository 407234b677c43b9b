package codec_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/packetd/packetd/codec"
)

// The hex test vectors live in testdata/vectors.txt, where docs/PROTOCOL.md
// quotes them; this file holds the Go value each one encodes.
//
// The example session of the vectors: client A speaks TCP, sid
// $8f3a2c1d4e5b6a79; client B speaks UDP, sid $5f0c7e3b9d2a4168 and
// datagram key 0xc4e1a7093b6d52f8. Both join "lobby"; A emits "temp"
// {"c": 21} to it and B receives the MESSAGE.

const (
	sidA = "$8f3a2c1d4e5b6a79"
	sidB = "$5f0c7e3b9d2a4168"

	keyB         = 0xc4e1a7093b6d52f8
	helloNonceB  = 0x7c1e9a33
	exampleMsgID = 42
)

// A vector is a packet (header and body), a TCP frame (length prefix and
// packet) or a client-to-server UDP datagram (key and packet).
type vectorKind string

const (
	kindPacket   vectorKind = "packet"
	kindFrame    vectorKind = "frame"
	kindDatagram vectorKind = "datagram"
)

type vectorValue struct {
	kind   vectorKind
	key    uint64 // the key prefix of a datagram
	header codec.Header
	body   codec.Body
	// msgpack is the body as github.com/vmihailenco/msgpack decodes it into
	// a map[string]any, integers widened to int64; nil for an empty body.
	msgpack map[string]any
}

var (
	exampleData = []byte{0x81, 0xa1, 'c', 0x15} // {"c": 21}
	token       = []byte{0xde, 0xad, 0xbe, 0xef}
)

func helloA() (codec.Header, codec.Body, map[string]any) {
	return codec.Header{Type: codec.TypeHello, ID: 1}, &codec.Hello{KeepAlive: 30},
		map[string]any{"keepalive": 30}
}

func helloB() (codec.Header, codec.Body, map[string]any) {
	return codec.Header{Type: codec.TypeHello, ID: helloNonceB}, &codec.Hello{KeepAlive: 60, Pad: 30},
		map[string]any{"keepalive": 60, "pad": make([]byte, 30)}
}

func welcome(id uint32, sid string, keepalive uint32) (codec.Header, codec.Body, map[string]any) {
	return codec.Header{Type: codec.TypeWelcome, ID: id},
		&codec.Welcome{SessionID: []byte(sid), KeepAlive: keepalive, MaxFrame: 1 << 20,
			MaxDatagram: 1152, MaxRooms: 256, Server: []byte("packetd/1")},
		map[string]any{"sid": sid, "keepalive": keepalive, "max_frame": 1 << 20,
			"max_datagram": 1152, "max_rooms": 256, "server": "packetd/1"}
}

// welcomeUDP is the WELCOME over UDP: the key, and no max_frame (a TCP
// limit).
func welcomeUDP(id uint32, sid string, key uint64, keepalive uint32) (codec.Header, codec.Body, map[string]any) {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], key)
	return codec.Header{Type: codec.TypeWelcome, ID: id},
		&codec.Welcome{SessionID: []byte(sid), Key: key, KeepAlive: keepalive,
			MaxDatagram: 1152, MaxRooms: 256, Server: []byte("packetd/1")},
		map[string]any{"sid": sid, "key": k[:], "keepalive": keepalive,
			"max_datagram": 1152, "max_rooms": 256, "server": "packetd/1"}
}

func joinLobby(id uint32) (codec.Header, codec.Body, map[string]any) {
	return codec.Header{Type: codec.TypeJoin, ID: id}, &codec.Rooms{Rooms: strs("lobby")},
		map[string]any{"rooms": []any{"lobby"}}
}

func ack(id uint32) (codec.Header, codec.Body, map[string]any) {
	return codec.Header{Type: codec.TypeAck, ID: id}, &codec.Empty{}, nil
}

func emitTemp() (codec.Header, codec.Body, map[string]any) {
	return codec.Header{Type: codec.TypeEmit, ID: 3},
		&codec.Emit{Rooms: strs("lobby"), Event: []byte("temp"), Data: exampleData},
		map[string]any{"rooms": []any{"lobby"}, "event": "temp", "data": map[string]any{"c": 21}}
}

func message() (codec.Header, codec.Body, map[string]any) {
	return codec.Header{Type: codec.TypeMessage, ID: exampleMsgID},
		&codec.Message{Rooms: strs("lobby"), From: []byte(sidA), Event: []byte("temp"), Data: exampleData},
		map[string]any{"rooms": []any{"lobby"}, "from": sidA, "event": "temp", "data": map[string]any{"c": 21}}
}

func ping(t codec.Type) (codec.Header, codec.Body, map[string]any) {
	return codec.Header{Type: t, ID: 4}, &codec.Ping{Token: token}, map[string]any{"token": token}
}

func byeEmpty() (codec.Header, codec.Body, map[string]any) {
	return codec.Header{Type: codec.TypeBye}, &codec.Error{}, nil
}

func packet(h codec.Header, b codec.Body, m map[string]any) vectorValue {
	return vectorValue{kind: kindPacket, header: h, body: b, msgpack: m}
}

func frame(h codec.Header, b codec.Body, m map[string]any) vectorValue {
	return vectorValue{kind: kindFrame, header: h, body: b, msgpack: m}
}

func datagram(key uint64) func(codec.Header, codec.Body, map[string]any) vectorValue {
	return func(h codec.Header, b codec.Body, m map[string]any) vectorValue {
		return vectorValue{kind: kindDatagram, key: key, header: h, body: b, msgpack: m}
	}
}

// vectorValues maps each vector's name in testdata/vectors.txt to its value.
var vectorValues = map[string]vectorValue{
	"hello":        packet(helloA()),
	"hello-padded": packet(helloB()),
	"welcome":      packet(welcome(1, sidA, 30)),
	"welcome-udp":  packet(welcomeUDP(helloNonceB, sidB, keyB, 60)),
	"join":         packet(joinLobby(2)),
	"leave": packet(codec.Header{Type: codec.TypeLeave, ID: 5}, &codec.Rooms{Rooms: strs("alerts")},
		map[string]any{"rooms": []any{"alerts"}}),
	"ack":  packet(ack(2)),
	"emit": packet(emitTemp()),
	"emit-full": packet(codec.Header{Type: codec.TypeEmit, ID: 6},
		&codec.Emit{Rooms: strs("lobby", "alerts"), Except: strs(sidB), Event: []byte("temp"),
			Data: exampleData, Echo: true},
		map[string]any{"rooms": []any{"lobby", "alerts"}, "except": []any{sidB}, "event": "temp",
			"data": map[string]any{"c": 21}, "echo": true}),
	"emit-minimal": packet(codec.Header{Type: codec.TypeEmit, ID: 7}, &codec.Emit{Rooms: strs("lobby")},
		map[string]any{"rooms": []any{"lobby"}}),
	"message": packet(message()),
	"ping":    packet(ping(codec.TypePing)),
	"pong":    packet(ping(codec.TypePong)),
	"error": packet(codec.Header{Type: codec.TypeError, ID: 8},
		&codec.Error{Code: uint16(codec.CodeInvalidRoom), Msg: []byte("reserved room name")},
		map[string]any{"code": 200, "msg": "reserved room name"}),
	"bye-code": packet(codec.Header{Type: codec.TypeBye},
		&codec.Error{Code: uint16(codec.CodeShuttingDown), Msg: []byte("shutting down")},
		map[string]any{"code": 301, "msg": "shutting down"}),
	"bye":     packet(byeEmpty()),
	"ack-udp": packet(ack(1)),

	"tcp-hello":   frame(helloA()),
	"tcp-welcome": frame(welcome(1, sidA, 30)),
	"tcp-join":    frame(joinLobby(2)),
	"tcp-ack":     frame(ack(2)),
	"tcp-emit":    frame(emitTemp()),
	"tcp-ping":    frame(ping(codec.TypePing)),
	"tcp-pong":    frame(ping(codec.TypePong)),
	"tcp-bye":     frame(byeEmpty()),
	"tcp-message": frame(message()),

	"hello-user": packet(codec.Header{Type: codec.TypeHello, ID: 1},
		&codec.Hello{KeepAlive: 30, User: []byte("sensor-7"), Pass: []byte("s3cret")},
		map[string]any{"keepalive": 30, "user": "sensor-7", "pass": "s3cret"}),
	"hello-token": packet(codec.Header{Type: codec.TypeHello, ID: 1},
		&codec.Hello{KeepAlive: 30, Token: []byte("eyJhbGciOiJIUzI1NiJ9.e30.x")},
		map[string]any{"keepalive": 30, "token": "eyJhbGciOiJIUzI1NiJ9.e30.x"}),

	"udp-hello": datagram(0)(helloB()),
	"udp-join":  datagram(keyB)(joinLobby(1)),
}

type vector struct {
	name, desc string
	kind       vectorKind
	hex        []byte // the decoded bytes
	line       int
}

// loadVectors reads testdata/vectors.txt. Its format: blank lines and lines
// starting with '#' are ignored; each vector is a "name:" line followed by
// one "kind:" line, one "desc:" line and one or more "hex:" lines, whose
// bytes are concatenated (whitespace between hex digits is ignored).
func loadVectors(tb testing.TB) []vector {
	tb.Helper()
	f, err := os.Open("testdata/vectors.txt")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var (
		vs  []vector
		cur *vector
		hx  strings.Builder
	)
	flush := func() {
		if cur == nil {
			return
		}
		b, err := hex.DecodeString(hx.String())
		if err != nil {
			tb.Fatalf("vectors.txt:%d: vector %q: %v", cur.line, cur.name, err)
		}
		cur.hex = b
		vs = append(vs, *cur)
		cur = nil
		hx.Reset()
	}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			tb.Fatalf("vectors.txt:%d: want \"key: value\", got %q", n, line)
		}
		val = strings.TrimSpace(val)
		switch key {
		case "name":
			flush()
			cur = &vector{name: val, line: n}
		case "kind", "desc", "hex":
			if cur == nil {
				tb.Fatalf("vectors.txt:%d: %s before the first name", n, key)
			}
			switch key {
			case "kind":
				cur.kind = vectorKind(val)
			case "desc":
				cur.desc = val
			case "hex":
				hx.WriteString(strings.Join(strings.Fields(val), ""))
			}
		default:
			tb.Fatalf("vectors.txt:%d: unknown key %q", n, key)
		}
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	flush()
	return vs
}

// encodeVector encodes v the way its kind travels on the wire.
func encodeVector(v vectorValue) []byte {
	switch v.kind {
	case kindFrame:
		return codec.AppendFrame(nil, v.header, v.body)
	case kindDatagram:
		return codec.AppendPacket(codec.AppendKey(nil, v.key), v.header, v.body)
	}
	return codec.AppendPacket(nil, v.header, v.body)
}

// splitVector takes the transport prefix off a vector's bytes and returns
// the key (datagrams only) and the packet.
func splitVector(kind vectorKind, b []byte) (key uint64, p codec.Packet, err error) {
	switch kind {
	case kindFrame:
		pkt, n, err := codec.SplitFrame(b, codec.DefaultMaxFrame)
		if err != nil {
			return 0, codec.Packet{}, err
		}
		if pkt == nil || n != len(b) {
			return 0, codec.Packet{}, fmt.Errorf("SplitFrame: packet %x, %d bytes consumed of %d", pkt, n, len(b))
		}
		p, err = codec.ParsePacket(pkt)
		return 0, p, err
	case kindDatagram:
		return codec.ParseDatagram(b)
	}
	p, err = codec.ParsePacket(b)
	return 0, p, err
}

func TestVectorsFile(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, v := range loadVectors(t) {
		if seen[v.name] {
			t.Errorf("vector %q: defined twice", v.name)
		}
		seen[v.name] = true
		if v.desc == "" {
			t.Errorf("vector %q: no desc line", v.name)
		}
		want, ok := vectorValues[v.name]
		if !ok {
			t.Errorf("vector %q: no Go value in vectorValues", v.name)
			continue
		}
		if v.kind != want.kind {
			t.Errorf("vector %q: got kind %q, want %q", v.name, v.kind, want.kind)
		}
	}
	for name := range vectorValues {
		if !seen[name] {
			t.Errorf("vector %q: in vectorValues, missing from testdata/vectors.txt", name)
		}
	}
}

func TestVectors(t *testing.T) {
	t.Parallel()
	for _, v := range loadVectors(t) {
		want, ok := vectorValues[v.name]
		if !ok {
			continue // reported by TestVectorsFile
		}
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			if got := encodeVector(want); !bytes.Equal(got, v.hex) {
				t.Errorf("encode: got\n%s\nwant\n%s", hexBytes(got), hexBytes(v.hex))
			}

			key, p, err := splitVector(v.kind, v.hex)
			if err != nil {
				t.Fatalf("parse: got error %v, want nil", err)
			}
			if key != want.key {
				t.Errorf("key: got %#x, want %#x", key, want.key)
			}
			if p.Header != want.header {
				t.Errorf("header: got %+v, want %+v", p.Header, want.header)
			}
			got := newBody(p.Type)
			if err := codec.NewDecoder().Decode(p.Type, p.Body, got); err != nil {
				t.Fatalf("decode body: got error %v, want nil", err)
			}
			if !reflect.DeepEqual(got, want.body) {
				t.Errorf("decode body: got %+v, want %+v", got, want.body)
			}

			// The msgpack library, as an independent decoder, must read the
			// same map: the hand-written encoder emits standard msgpack.
			if want.msgpack == nil {
				if len(p.Body) != 0 {
					t.Errorf("body: got %x, want empty", p.Body)
				}
				return
			}
			var m map[string]any
			if err := msgpack.Unmarshal(p.Body, &m); err != nil {
				t.Fatalf("msgpack.Unmarshal: got error %v, want nil", err)
			}
			if got, want := widen(m), widen(want.msgpack); !reflect.DeepEqual(got, want) {
				t.Errorf("msgpack.Unmarshal: got %#v, want %#v", got, want)
			}
		})
	}
}

// widen converts every integer in a decoded msgpack value to int64, so
// values compare whatever width the encoding chose.
func widen(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[k] = widen(e)
		}
		return m
	case []any:
		l := make([]any, len(v))
		for i, e := range v {
			l[i] = widen(e)
		}
		return l
	case int:
		return int64(v)
	case int8:
		return int64(v)
	case int16:
		return int64(v)
	case int32:
		return int64(v)
	case int64:
		return v
	case uint8:
		return int64(v)
	case uint16:
		return int64(v)
	case uint32:
		return int64(v)
	case uint64:
		return int64(v)
	}
	return v
}

// hexBytes formats b as PROTOCOL.md does: two hex digits per byte, 16 bytes
// a line.
func hexBytes(b []byte) string {
	var s strings.Builder
	for i, c := range b {
		switch {
		case i == 0:
		case i%16 == 0:
			s.WriteByte('\n')
		default:
			s.WriteByte(' ')
		}
		fmt.Fprintf(&s, "%02x", c)
	}
	return s.String()
}
