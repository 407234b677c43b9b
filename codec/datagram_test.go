package codec_test

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"github.com/packetd/packetd/codec"
)

func TestParseDatagramTruncated(t *testing.T) {
	t.Parallel()
	for _, v := range loadVectors(t) {
		if v.kind != kindDatagram {
			continue
		}
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			want := vectorValues[v.name]
			for n := 0; n <= len(v.hex); n++ {
				key, p, err := codec.ParseDatagram(v.hex[:n])
				if n < codec.KeyLen+codec.HeaderLen {
					if !errors.Is(err, codec.ErrShortPacket) {
						t.Errorf("prefix of %d bytes: got error %v, want ErrShortPacket", n, err)
					}
					if key != 0 || p.Header != (codec.Header{}) || p.Body != nil {
						t.Errorf("prefix of %d bytes: got %#x, %+v on error, want zero values", n, key, p)
					}
					if got := codec.CodeOf(err); got != codec.CodeMalformedFrame {
						t.Errorf("CodeOf: got %d, want %d", got, codec.CodeMalformedFrame)
					}
					continue
				}
				if err != nil || key != want.key || p.Header != want.header {
					t.Errorf("prefix of %d bytes: got %#x, %+v, %v; want %#x, %+v, nil", n, key, p.Header, err, want.key, want.header)
				}
				if wantBody := v.hex[codec.KeyLen+codec.HeaderLen : n]; !bytes.Equal(p.Body, wantBody) {
					t.Errorf("prefix of %d bytes: got body %x, want %x", n, p.Body, wantBody)
				}
			}
		})
	}
}

func TestParseDatagramErrors(t *testing.T) {
	t.Parallel()
	key := codec.AppendKey(nil, keyB)
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, codec.ErrShortPacket},
		{"key only", key, codec.ErrShortPacket},
		{"version 2", cat(key, header(2, 3, 0, 0)), codec.ErrVersion},
		{"unknown type", cat(key, header(1, 0x0c, 0, 0)), codec.ErrUnknownType},
		{"qos 2", cat(key, header(1, 5, 2, 0)), codec.ErrFlags},
		{"reserved flag", cat(key, header(1, 5, 0x10, 0)), codec.ErrFlags},
		{"reserved byte", cat(key, header(1, 5, 0, 9)), codec.ErrReserved},
		{"a TCP frame is not a datagram", encodeVector(vectorValues["tcp-join"]), codec.ErrVersion},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, _, err := codec.ParseDatagram(tc.in); !errors.Is(err, tc.want) {
				t.Errorf("ParseDatagram(% x): got error %v, want %v", tc.in, err, tc.want)
			}
		})
	}
}

func TestKeyRoundTrip(t *testing.T) {
	t.Parallel()
	for _, key := range []uint64{0, 1, keyB, math.MaxUint64} {
		b := codec.AppendPacket(codec.AppendKey(nil, key), codec.Header{Type: codec.TypeAck, ID: 3}, nil)
		if len(b) != codec.KeyLen+codec.HeaderLen {
			t.Errorf("key %#x: datagram of %d bytes, want %d", key, len(b), codec.KeyLen+codec.HeaderLen)
		}
		got, p, err := codec.ParseDatagram(b)
		if err != nil || got != key || p.Header != (codec.Header{Type: codec.TypeAck, ID: 3}) || len(p.Body) != 0 {
			t.Errorf("key %#x: ParseDatagram = %#x, %+v, %v", key, got, p, err)
		}
	}
}

// The sizes the protocol fixes, as PROTOCOL.md states them.
func TestWireConstants(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		got, want int
	}{
		{"Version", codec.Version, 1},
		{"HeaderLen", codec.HeaderLen, 8},
		{"LenPrefixLen", codec.LenPrefixLen, 4},
		{"KeyLen", codec.KeyLen, 8},
		{"DefaultMaxFrame", codec.DefaultMaxFrame, 1048576},
		{"DefaultMaxDatagram", codec.DefaultMaxDatagram, 1152},
		{"MinHelloDatagram", codec.MinHelloDatagram, 64},
		{"MaxDepth", codec.MaxDepth, 32},
		{"MaxToken", codec.MaxToken, 64},
		{"FlagQoS1", int(codec.FlagQoS1), 0x01},
		{"FlagDup", int(codec.FlagDup), 0x04},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s = %d, want %d", tc.name, tc.got, tc.want)
		}
	}
}

// The UDP example respects the protocol's size rules: the HELLO datagram is
// exactly the minimum, and the WELCOME fits the server's anti-amplification
// budget of three times the bytes received.
func TestUDPExampleSizes(t *testing.T) {
	t.Parallel()
	hello := encodeVector(vectorValues["udp-hello"])
	welcome := encodeVector(vectorValues["welcome-udp"])
	if len(hello) != codec.MinHelloDatagram {
		t.Errorf("udp-hello: got %d bytes, want MinHelloDatagram = %d", len(hello), codec.MinHelloDatagram)
	}
	if len(welcome) > 3*len(hello) {
		t.Errorf("welcome-udp: got %d bytes, want at most 3 x %d", len(welcome), len(hello))
	}
}
