package codec_test

import (
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
