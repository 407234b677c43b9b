package codec_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/packetd/packetd/codec"
)

func TestHeaderRoundTrip(t *testing.T) {
	t.Parallel()
	for _, typ := range allTypes {
		for _, flags := range []codec.Flags{0, codec.FlagQoS1, codec.FlagDup, codec.FlagQoS1 | codec.FlagDup} {
			for _, id := range []uint32{0, 1, 0x01020304, 0xffffffff} {
				h := codec.Header{Type: typ, Flags: flags, ID: id}
				b := h.Append(nil)
				if len(b) != h.Len() || len(b) != codec.HeaderLen {
					t.Errorf("%+v: Append gave %d bytes, want Len() = HeaderLen = %d", h, len(b), codec.HeaderLen)
				}
				want := []byte{codec.Version, byte(typ), byte(flags), 0, byte(id >> 24), byte(id >> 16), byte(id >> 8), byte(id)}
				if !bytes.Equal(b, want) {
					t.Errorf("%+v: Append = % x, want % x", h, b, want)
				}
				got, n, err := codec.ParseHeader(append(b, 0x80)) // the body does not matter
				if err != nil || n != codec.HeaderLen || got != h {
					t.Errorf("ParseHeader(% x) = %+v, %d, %v; want %+v, %d, nil", b, got, n, err, h, codec.HeaderLen)
				}
			}
		}
	}
}

func TestFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		flags   codec.Flags
		wantQoS uint8
		wantDup bool
	}{
		{"zero", 0, 0, false},
		{"qos1", codec.FlagQoS1, 1, false},
		{"dup", codec.FlagDup, 0, true},
		{"qos1+dup", codec.FlagQoS1 | codec.FlagDup, 1, true},
		{"qos3 bits", 0x03, 3, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tc.flags.QoS(); got != tc.wantQoS {
				t.Errorf("QoS() = %d, want %d", got, tc.wantQoS)
			}
			if got := tc.flags.Dup(); got != tc.wantDup {
				t.Errorf("Dup() = %v, want %v", got, tc.wantDup)
			}
		})
	}
}

// The type bytes are the wire contract: PROTOCOL.md's packet type table.
func TestTypeValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		typ  codec.Type
		b    byte
		name string
	}{
		{codec.TypeHello, 0x01, "HELLO"},
		{codec.TypeWelcome, 0x02, "WELCOME"},
		{codec.TypeJoin, 0x03, "JOIN"},
		{codec.TypeLeave, 0x04, "LEAVE"},
		{codec.TypeEmit, 0x05, "EMIT"},
		{codec.TypeMessage, 0x06, "MESSAGE"},
		{codec.TypeAck, 0x07, "ACK"},
		{codec.TypePing, 0x08, "PING"},
		{codec.TypePong, 0x09, "PONG"},
		{codec.TypeError, 0x0a, "ERROR"},
		{codec.TypeBye, 0x0b, "BYE"},
	}
	valid := map[byte]bool{}
	for _, tc := range tests {
		valid[tc.b] = true
		if byte(tc.typ) != tc.b || tc.typ.String() != tc.name {
			t.Errorf("%s: got byte %#02x named %q, want %#02x", tc.name, byte(tc.typ), tc.typ.String(), tc.b)
		}
	}
	for i := range 256 {
		if got, want := codec.Type(i).Valid(), valid[byte(i)]; got != want {
			t.Errorf("Type(%#02x).Valid() = %v, want %v", i, got, want)
		}
	}
	if got, want := codec.Type(0x0c).String(), "Type(12)"; got != want {
		t.Errorf("Type(0x0c).String() = %q, want %q", got, want)
	}
}

// header returns a header's 8 bytes with some of them replaced.
func header(version, typ, flags, rsv byte) []byte {
	return []byte{version, typ, flags, rsv, 0, 0, 0, 7}
}

func TestParseHeaderErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, codec.ErrShortPacket},
		{"7 bytes", header(1, 1, 0, 0)[:7], codec.ErrShortPacket},
		{"version 0", header(0, 1, 0, 0), codec.ErrVersion},
		{"version 2", header(2, 1, 0, 0), codec.ErrVersion},
		{"version 255", header(0xff, 1, 0, 0), codec.ErrVersion},
		{"version checked first", header(2, 0xff, 0xff, 0xff), codec.ErrVersion},
		{"type 0", header(1, 0, 0, 0), codec.ErrUnknownType},
		{"type 0x0c", header(1, 0x0c, 0, 0), codec.ErrUnknownType},
		{"type 0xff", header(1, 0xff, 0, 0), codec.ErrUnknownType},
		{"type checked before flags", header(1, 0x0c, 0xff, 0xff), codec.ErrUnknownType},
		{"flag bit 3", header(1, 5, 0x08, 0), codec.ErrFlags},
		{"flag bit 7", header(1, 5, 0x80, 0), codec.ErrFlags},
		{"all reserved flag bits", header(1, 5, 0xf8, 0), codec.ErrFlags},
		{"qos 2", header(1, 5, 0x02, 0), codec.ErrFlags},
		{"qos 3", header(1, 5, 0x03, 0), codec.ErrFlags},
		{"qos 2 dup", header(1, 5, 0x06, 0), codec.ErrFlags},
		{"flags checked before reserved byte", header(1, 5, 0x02, 1), codec.ErrFlags},
		{"reserved byte 1", header(1, 5, 0, 0x01), codec.ErrReserved},
		{"reserved byte 0x80", header(1, 5, 0, 0x80), codec.ErrReserved},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, n, err := codec.ParseHeader(tc.in)
			if !errors.Is(err, tc.want) {
				t.Errorf("ParseHeader(% x): got error %v, want %v", tc.in, err, tc.want)
			}
			if h != (codec.Header{}) || n != 0 {
				t.Errorf("ParseHeader(% x) on error: got %+v, %d, want zero values", tc.in, h, n)
			}
			if _, err := codec.ParsePacket(tc.in); !errors.Is(err, tc.want) {
				t.Errorf("ParsePacket(% x): got error %v, want %v", tc.in, err, tc.want)
			}
		})
	}
}

// Every prefix of every vector's packet shorter than a header is
// ErrShortPacket; from HeaderLen bytes on, the header parses whatever
// follows.
func TestParseHeaderTruncated(t *testing.T) {
	t.Parallel()
	for _, v := range loadVectors(t) {
		if v.kind != kindPacket {
			continue
		}
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			want := vectorValues[v.name].header
			for n := 0; n <= len(v.hex); n++ {
				h, consumed, err := codec.ParseHeader(v.hex[:n])
				if n < codec.HeaderLen {
					if !errors.Is(err, codec.ErrShortPacket) {
						t.Errorf("prefix of %d bytes: got error %v, want ErrShortPacket", n, err)
					}
					continue
				}
				if err != nil || h != want || consumed != codec.HeaderLen {
					t.Errorf("prefix of %d bytes: got %+v, %d, %v; want %+v, %d, nil", n, h, consumed, err, want, codec.HeaderLen)
				}
			}
		})
	}
}

func TestParsePacketBodyAliasesInput(t *testing.T) {
	t.Parallel()
	in := []byte{1, 3, 0, 0, 0, 0, 0, 2, 0x81, 0xa5, 'r', 'o', 'o', 'm', 's', 0x91, 0xa1, 'a'}
	p, err := codec.ParsePacket(in)
	if err != nil {
		t.Fatalf("ParsePacket: got error %v, want nil", err)
	}
	if want := (codec.Header{Type: codec.TypeJoin, ID: 2}); p.Header != want {
		t.Errorf("header: got %+v, want %+v", p.Header, want)
	}
	if len(p.Body) != len(in)-codec.HeaderLen || &p.Body[0] != &in[codec.HeaderLen] {
		t.Errorf("body: got %d bytes at %p, want the %d bytes after the header at %p",
			len(p.Body), &p.Body[0], len(in)-codec.HeaderLen, &in[codec.HeaderLen])
	}
}
