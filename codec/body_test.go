package codec_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/packetd/packetd/codec"
)

// Sizes at which msgpack switches to a longer encoding.
var (
	strLens  = []int{0, 1, 31, 32, 255, 256, 65535, 65536}
	listLens = []int{0, 1, 15, 16, 65535, 65536}
	uintVals = []uint64{0, 1, 127, 128, 255, 256, 65535, 65536, math.MaxUint32}
)

type sizedBody struct {
	name string
	typ  codec.Type
	body codec.Body
	// longList is set when a list is longer than the protocol allows any
	// list to be (EMIT: 64 names; JOIN: max_rooms). Such bodies exercise
	// the encoder's array16 and array32 forms; the decoder may refuse them.
	longList bool
}

// sizedBodies returns every Body type filled with field sizes on both sides
// of each msgpack width boundary.
func sizedBodies() []sizedBody {
	var out []sizedBody
	add := func(t codec.Type, b codec.Body, format string, args ...any) {
		out = append(out, sizedBody{name: t.String() + "/" + fmt.Sprintf(format, args...), typ: t, body: b})
	}
	str := func(n int) []byte { return bytes.Repeat([]byte{'x'}, n) }
	list := func(n, strLen int) [][]byte {
		l := make([][]byte, n)
		for i := range l {
			l[i] = str(strLen)
		}
		return l
	}

	add(codec.TypeAck, &codec.Empty{}, "empty")
	for _, u := range uintVals {
		add(codec.TypeHello, &codec.Hello{KeepAlive: uint32(u)}, "keepalive=%d", u)
		add(codec.TypeWelcome, &codec.Welcome{SessionID: []byte(sidA), KeepAlive: uint32(u),
			MaxFrame: uint32(u), MaxDatagram: uint32(u), MaxRooms: uint32(u)}, "uints=%d", u)
		add(codec.TypeWelcome, &codec.Welcome{SessionID: []byte(sidA), Resumed: true,
			Next: uint32(u), PubNext: uint32(u)}, "resumed next=%d", u)
		// Over UDP: the key, a bin of 8 bytes whatever its value.
		add(codec.TypeWelcome, &codec.Welcome{SessionID: []byte(sidB), Key: u | 1<<63, KeepAlive: uint32(u)}, "key=%#x", u|1<<63)
		add(codec.TypeWelcome, &codec.Welcome{SessionID: []byte(sidB), Key: u + 1}, "key=%d", u+1)
		if u <= math.MaxUint16 {
			add(codec.TypeError, &codec.Error{Code: uint16(u)}, "code=%d", u)
			add(codec.TypeBye, &codec.Error{Code: uint16(u)}, "code=%d", u)
		}
	}
	for _, n := range []int{0, 1, 255, 256, 65535, 65536} {
		add(codec.TypeHello, &codec.Hello{KeepAlive: 5, Pad: n}, "pad=%d", n)
	}
	for _, n := range strLens {
		if n > 0 {
			add(codec.TypeWelcome, &codec.Welcome{SessionID: str(n), Server: str(n)}, "strings=%d", n)
			add(codec.TypeJoin, &codec.Rooms{Rooms: list(1, n)}, "room=%d", n)
			add(codec.TypeMessage, &codec.Message{Rooms: list(1, n), From: str(n)}, "from=%d", n)
		}
		add(codec.TypeEmit, &codec.Emit{Rooms: list(1, 1), Except: list(1, n), Event: str(n)}, "event=%d", n)
		add(codec.TypeEmit, &codec.Emit{Rooms: list(1, 1), Data: msgpackStr(n)}, "data=str%d", n)
		add(codec.TypeMessage, &codec.Message{Rooms: list(1, 1), From: []byte(sidA), Event: str(n),
			Data: msgpackStr(n)}, "event+data=%d", n)
		add(codec.TypeError, &codec.Error{Code: 200, Msg: str(n)}, "msg=%d", n)
		add(codec.TypeBye, &codec.Error{Msg: str(n)}, "msg=%d", n)
	}
	for _, n := range listLens {
		first := len(out)
		if n > 0 {
			add(codec.TypeLeave, &codec.Rooms{Rooms: list(n, 3)}, "rooms=%d", n)
			add(codec.TypeMessage, &codec.Message{Rooms: list(n, 3), From: []byte(sidA)}, "rooms=%d", n)
		}
		add(codec.TypeEmit, &codec.Emit{Rooms: list(max(n, 1), 3), Except: list(n, 3), Echo: true}, "lists=%d", n)
		for i := first; i < len(out); i++ {
			out[i].longList = n > 1024
		}
	}
	for _, n := range []int{0, 1, codec.MaxToken} {
		add(codec.TypePing, &codec.Ping{Token: str(n)}, "token=%d", n)
		add(codec.TypePong, &codec.Ping{Token: str(n)}, "token=%d", n)
	}
	return out
}

// msgpackStr returns the msgpack encoding of a string of n bytes, as the
// msgpack library writes it.
func msgpackStr(n int) []byte {
	b, err := msgpack.Marshal(strings.Repeat("d", n))
	if err != nil {
		panic(err)
	}
	return b
}

func TestBodyLen(t *testing.T) {
	t.Parallel()
	for _, tc := range sizedBodies() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			enc := tc.body.Append(nil)
			if got, want := tc.body.Len(), len(enc); got != want {
				t.Errorf("Len() = %d, want len(Append(nil)) = %d", got, want)
			}
			// Append must append, not overwrite.
			prefixed := tc.body.Append([]byte("prefix"))
			if got, want := prefixed, append([]byte("prefix"), enc...); !bytes.Equal(got, want) {
				t.Errorf("Append(prefix): got %d bytes, want %d bytes: the prefix then the body", len(got), len(want))
			}
			h := codec.Header{Type: tc.typ, ID: 9}
			if got, want := codec.PacketLen(tc.body), len(codec.AppendPacket(nil, h, tc.body)); got != want {
				t.Errorf("PacketLen = %d, want len(AppendPacket) = %d", got, want)
			}
			frame := codec.AppendFrame(nil, h, tc.body)
			if got, want := binary.BigEndian.Uint32(frame), uint32(len(frame)-codec.LenPrefixLen); got != want {
				t.Errorf("AppendFrame length prefix = %d, want %d (the bytes after it)", got, want)
			}
		})
	}
}

func TestBodyRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tc := range sizedBodies() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			enc := tc.body.Append(nil)
			if tc.longList {
				var m map[string]any
				if err := msgpack.Unmarshal(enc, &m); err != nil {
					t.Errorf("msgpack.Unmarshal: got error %v, want nil", err)
				}
				return
			}
			got := newBody(tc.typ)
			err := codec.NewDecoder().Decode(tc.typ, enc, got)
			if tc.typ == codec.TypeError && tc.body.(*codec.Error).Code == 0 {
				if !errors.Is(err, codec.ErrMissingField) {
					t.Errorf("Decode: got error %v, want ErrMissingField (ERROR needs a code)", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode: got error %v, want nil", err)
			}
			if !sameBody(got, tc.body) {
				t.Errorf("Decode(Append(v)) differs from v: got %.200v, want %.200v", got, tc.body)
			}
			if len(enc) == 0 {
				return
			}
			var m map[string]any
			if err := msgpack.Unmarshal(enc, &m); err != nil {
				t.Errorf("msgpack.Unmarshal: got error %v, want nil", err)
			}
		})
	}
}

// TestBodyTruncated decodes every proper prefix of every body: each must
// fail with ErrInvalidMsgpack inside a BodyError, never panic. The empty
// prefix is valid exactly for the types whose fields are all optional (HELLO,
// ACK, PING, PONG, BYE); for the others it lacks a required field.
func TestBodyTruncated(t *testing.T) {
	t.Parallel()
	for _, tc := range sizedBodies() {
		enc := tc.body.Append(nil)
		if len(enc) > 300 {
			continue // the prefixes of the large bodies add nothing
		}
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := codec.NewDecoder()
			for n := range len(enc) {
				err := d.Decode(tc.typ, enc[:n], newBody(tc.typ))
				switch {
				case n == 0 && emptyBodyValid(tc.typ):
					if err != nil {
						t.Errorf("empty body: got error %v, want nil", err)
					}
				case n == 0:
					if !errors.Is(err, codec.ErrMissingField) {
						t.Errorf("empty body: got error %v, want ErrMissingField", err)
					}
				default:
					var be *codec.BodyError
					if !errors.As(err, &be) || !errors.Is(err, codec.ErrInvalidMsgpack) {
						t.Errorf("prefix of %d of %d bytes: got error %v, want a BodyError wrapping ErrInvalidMsgpack", n, len(enc), err)
					}
				}
			}
		})
	}
}

func TestEmptyBody(t *testing.T) {
	t.Parallel()
	for _, typ := range allTypes {
		t.Run(typ.String(), func(t *testing.T) {
			t.Parallel()
			for _, body := range [][]byte{nil, {0x80}} { // nothing, or an empty map
				err := codec.NewDecoder().Decode(typ, body, newBody(typ))
				if got, want := err == nil, emptyBodyValid(typ); got != want {
					t.Errorf("Decode(%x): got error %v, want valid=%v", body, err, want)
				}
			}
		})
	}
}

// A reused target must come back clean: nothing left over from the body it
// decoded before.
func TestDecodeResetsTarget(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		typ         codec.Type
		first, then codec.Body
	}{
		{"hello", codec.TypeHello, &codec.Hello{KeepAlive: 9, Pad: 3}, &codec.Hello{}},
		{"welcome", codec.TypeWelcome, &codec.Welcome{SessionID: []byte(sidA), KeepAlive: 1, MaxFrame: 2,
			MaxDatagram: 3, MaxRooms: 4, Server: []byte("s")}, &codec.Welcome{SessionID: []byte(sidB)}},
		{"rooms", codec.TypeJoin, &codec.Rooms{Rooms: strs("a", "b", "c")}, &codec.Rooms{Rooms: strs("d")}},
		{"emit", codec.TypeEmit, &codec.Emit{Rooms: strs("a", "b"), Except: strs("c"), Event: []byte("e"),
			Data: []byte{0xc0}, Echo: true}, &codec.Emit{Rooms: strs("d")}},
		{"message", codec.TypeMessage, &codec.Message{Rooms: strs("a", "b"), From: []byte("f"), Event: []byte("e"),
			Data: []byte{0x01}}, &codec.Message{Rooms: strs("d"), From: []byte("g")}},
		{"error", codec.TypeError, &codec.Error{Code: 200, Msg: []byte("m")}, &codec.Error{Code: 201}},
		{"bye", codec.TypeBye, &codec.Error{Code: 301, Msg: []byte("m")}, &codec.Error{}},
		{"ping", codec.TypePing, &codec.Ping{Token: []byte("t")}, &codec.Ping{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d, target := codec.NewDecoder(), newBody(tc.typ)
			if err := d.Decode(tc.typ, tc.first.Append(nil), target); err != nil {
				t.Fatalf("first Decode: got error %v, want nil", err)
			}
			if err := d.Decode(tc.typ, tc.then.Append(nil), target); err != nil {
				t.Fatalf("second Decode: got error %v, want nil", err)
			}
			if !sameBody(target, tc.then) {
				t.Errorf("second Decode: got %+v, want %+v", target, tc.then)
			}
		})
	}
}

// Unknown keys are skipped, whatever their value, so later protocol
// revisions can add fields.
func TestUnknownKeysSkipped(t *testing.T) {
	t.Parallel()
	extra := []byte{0xa8, 'x', '-', 'f', 'u', 't', 'u', 'r', 'e', // "x-future":
		0x82, 0xa1, 'a', 0x93, 0x01, 0xcb, 0, 0, 0, 0, 0, 0, 0, 0, 0xc0, // {"a": [1, 0.0, nil],
		0xa1, 'b', 0xd6, 0xff, 0, 0, 0, 1} //  "b": timestamp ext}
	for _, typ := range allTypes {
		t.Run(typ.String(), func(t *testing.T) {
			t.Parallel()
			want := bodyForType(typ)
			enc := want.Append(nil)
			var body []byte
			if len(enc) == 0 {
				body = append([]byte{0x81}, extra...)
			} else {
				// One more entry in the map: bump the fixmap count, append
				// the entry at the end.
				body = append([]byte{enc[0] + 1}, enc[1:]...)
				body = append(body, extra...)
			}
			got := newBody(typ)
			if err := codec.NewDecoder().Decode(typ, body, got); err != nil {
				t.Fatalf("Decode: got error %v, want nil", err)
			}
			if !sameBody(got, want) {
				t.Errorf("Decode: got %+v, want %+v", got, want)
			}
		})
	}
}

// bodyForType returns a small valid body for a packet of type t.
func bodyForType(t codec.Type) codec.Body {
	switch t {
	case codec.TypeHello:
		return &codec.Hello{KeepAlive: 30}
	case codec.TypeWelcome:
		return &codec.Welcome{SessionID: []byte(sidA), KeepAlive: 30}
	case codec.TypeJoin, codec.TypeLeave:
		return &codec.Rooms{Rooms: strs("lobby")}
	case codec.TypeEmit:
		return &codec.Emit{Rooms: strs("lobby"), Event: []byte("temp"), Data: exampleData}
	case codec.TypeMessage:
		return &codec.Message{Rooms: strs("lobby"), From: []byte(sidA), Data: exampleData}
	case codec.TypeAck:
		return &codec.Empty{}
	case codec.TypePing, codec.TypePong:
		return &codec.Ping{Token: token}
	case codec.TypeError, codec.TypeBye:
		return &codec.Error{Code: 200, Msg: []byte("m")}
	}
	panic(t)
}

// A resumed session's WELCOME carries next and pub_next even when they are
// 0 (a number after a wrap), and Decode reports their presence; a WELCOME
// that does not resume a session leaves them out.
func TestWelcomeNextPresence(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		body    codec.Welcome
		keys    bool // "next" and "pub_next" encoded
		decoded codec.Welcome
	}{
		{"new session", codec.Welcome{SessionID: []byte(sidA)}, false,
			codec.Welcome{SessionID: []byte(sidA)}},
		{"resumed at 0", codec.Welcome{SessionID: []byte(sidA), Resumed: true}, true,
			codec.Welcome{SessionID: []byte(sidA), Resumed: true, HasNext: true, HasPubNext: true}},
		{"resumed", codec.Welcome{SessionID: []byte(sidA), Resumed: true, Next: 41, PubNext: 9}, true,
			codec.Welcome{SessionID: []byte(sidA), Resumed: true, Next: 41, PubNext: 9, HasNext: true, HasPubNext: true}},
		{"explicit 0", codec.Welcome{SessionID: []byte(sidA), HasNext: true, HasPubNext: true}, true,
			codec.Welcome{SessionID: []byte(sidA), HasNext: true, HasPubNext: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			enc := tc.body.Append(nil)
			for _, key := range []string{"\xa4next", "\xa8pub_next"} {
				if got := bytes.Contains(enc, []byte(key)); got != tc.keys {
					t.Errorf("key %q in % x: got %v, want %v", key[1:], enc, got, tc.keys)
				}
			}
			var got codec.Welcome
			if err := codec.NewDecoder().Decode(codec.TypeWelcome, enc, &got); err != nil {
				t.Fatalf("Decode: got error %v, want nil", err)
			}
			if got.HasNext != tc.decoded.HasNext || got.HasPubNext != tc.decoded.HasPubNext ||
				got.Next != tc.decoded.Next || got.PubNext != tc.decoded.PubNext || got.Resumed != tc.decoded.Resumed {
				t.Errorf("Decode: got %+v, want %+v", got, tc.decoded)
			}
		})
	}
}
