package codec_test

import (
	"bytes"
	"runtime"
	"testing"

	"github.com/packetd/packetd/codec"
)

// The hot paths allocate nothing once their buffers and targets exist.
// These tests do not call t.Parallel: testing.AllocsPerRun counts every
// allocation in the process, so they must not share it with running tests.

func TestAllocs(t *testing.T) {
	msg := vectorValues["message"]
	emit := vectorValues["emit-full"]
	msgPacket := encodeVector(msg)
	emitPacket := encodeVector(emit)
	frame := encodeVector(vectorValues["tcp-message"])
	dgram := encodeVector(vectorValues["udp-join"])
	welcomeUDP := vectorValues["welcome-udp"]
	buf := make([]byte, 0, 256)
	d := codec.NewDecoder()
	var (
		emitTarget codec.Emit
		msgTarget  codec.Message
		sink       int
	)
	tests := []struct {
		name string
		fn   func()
	}{
		{"Header.Append", func() { buf = msg.header.Append(buf[:0]) }},
		{"ParseHeader", func() {
			h, n, err := codec.ParseHeader(msgPacket)
			if err != nil || n != codec.HeaderLen || h != msg.header {
				t.Fatalf("ParseHeader: got %+v, %d, %v", h, n, err)
			}
		}},
		{"ParsePacket", func() {
			if _, err := codec.ParsePacket(msgPacket); err != nil {
				t.Fatal(err)
			}
		}},
		{"SplitFrame", func() {
			if p, _, err := codec.SplitFrame(frame, codec.DefaultMaxFrame); p == nil || err != nil {
				t.Fatalf("SplitFrame: got %x, %v", p, err)
			}
		}},
		{"ParseDatagram", func() {
			if _, _, err := codec.ParseDatagram(dgram); err != nil {
				t.Fatal(err)
			}
		}},
		{"Decode EMIT", func() {
			if err := d.Decode(codec.TypeEmit, emitPacket[codec.HeaderLen:], &emitTarget); err != nil {
				t.Fatal(err)
			}
		}},
		{"Decode MESSAGE", func() {
			if err := d.Decode(codec.TypeMessage, msgPacket[codec.HeaderLen:], &msgTarget); err != nil {
				t.Fatal(err)
			}
		}},
		{"AppendFrame MESSAGE", func() { buf = codec.AppendFrame(buf[:0], msg.header, msg.body) }},
		{"AppendPacket WELCOME with key", func() { buf = codec.AppendPacket(buf[:0], welcomeUDP.header, welcomeUDP.body) }},
		{"PacketLen MESSAGE", func() { sink += codec.PacketLen(msg.body) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := testing.AllocsPerRun(100, tc.fn); got != 0 {
				t.Errorf("got %v allocs per run, want 0", got)
			}
		})
	}
}

// Every vector's body decodes into a reused target without allocating.
func TestAllocsDecodeVectors(t *testing.T) {
	d := codec.NewDecoder()
	for _, v := range loadVectors(t) {
		_, p, err := splitVector(v.kind, v.hex)
		if err != nil {
			t.Fatalf("%s: %v", v.name, err)
		}
		target := newBody(p.Type)
		got := testing.AllocsPerRun(100, func() {
			if err := d.Decode(p.Type, p.Body, target); err != nil {
				t.Fatalf("%s: %v", v.name, err)
			}
		})
		if got != 0 {
			t.Errorf("%s: Decode: got %v allocs per run, want 0", v.name, got)
		}
	}
}

// A FrameReader in steady state reads frames without allocating.
func TestAllocsFrameReader(t *testing.T) {
	frame := encodeVector(vectorValues["tcp-message"])
	fr := codec.NewFrameReader(&loopReader{b: frame}, codec.DefaultMaxFrame)
	got := testing.AllocsPerRun(1000, func() {
		if _, err := fr.ReadFrame(); err != nil {
			t.Fatal(err)
		}
	})
	if got != 0 {
		t.Errorf("ReadFrame: got %v allocs per run, want 0", got)
	}
}

// loopReader returns b over and over, as much as fits in each Read.
type loopReader struct {
	b   []byte
	off int
}

func (r *loopReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.b[r.off:])
		n += c
		r.off = (r.off + c) % len(r.b)
	}
	return n, nil
}

// A body's lists must not cost more memory than the body itself. A string
// list element can be a single byte (a0, the empty string) while the
// decoded [][]byte spends 24 bytes on it, so without a limit on the element
// count a 1 MiB frame costs far more to decode than it took to send (STYLE:
// check a length against its limit before allocating for it). This test
// fails against decode.go as of this writing: strList appends without a
// limit, and one such JOIN allocates about 120 MB.
func TestDecodeListAllocationBounded(t *testing.T) {
	n := codec.DefaultMaxFrame - codec.HeaderLen - 32
	tests := []struct {
		name  string
		typ   codec.Type
		key   string
		extra []byte // fields before the list
	}{
		{"join rooms", codec.TypeJoin, "rooms", nil},
		{"emit rooms", codec.TypeEmit, "rooms", nil},
		{"emit except", codec.TypeEmit, "except", cat(mp("rooms"), mp([]string{"a"}))},
		{"message rooms", codec.TypeMessage, "rooms", cat(mp("from"), mp(sidA))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fields := byte(0x81)
			if tc.extra != nil {
				fields = 0x82
			}
			body := cat(raw(fields), tc.extra, mp(tc.key),
				raw(0xdd, byte(n>>24), byte(n>>16), byte(n>>8), byte(n)), bytes.Repeat(raw(0xa0), n))
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_ = codec.NewDecoder().Decode(tc.typ, body, newBody(tc.typ))
			runtime.ReadMemStats(&after)
			if got := after.TotalAlloc - before.TotalAlloc; got > uint64(len(body)) {
				t.Errorf("decoding a %d-byte body of %d empty strings allocated %d bytes, want at most %d (the body's size)",
					len(body), n, got, len(body))
			}
		})
	}
}
