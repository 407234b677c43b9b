package codec_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/packetd/packetd/codec"
)

// payloadSizes are the sizes of the application data in the benchmarks'
// EMIT and MESSAGE bodies.
var payloadSizes = []int{16, 64, 1024}

// benchData returns a msgpack bin value of n payload bytes.
func benchData(n int) []byte {
	return mp(bytes.Repeat([]byte{0x5a}, n))
}

func benchMessage(n int) (codec.Header, *codec.Message) {
	return codec.Header{Type: codec.TypeMessage, ID: 1 << 20},
		&codec.Message{Rooms: strs("lobby"), From: []byte(sidA), Event: []byte("temp"), Data: benchData(n)}
}

func benchSizes(b *testing.B, fn func(b *testing.B, n int)) {
	for _, n := range payloadSizes {
		b.Run(fmt.Sprintf("payload=%d", n), func(b *testing.B) { fn(b, n) })
	}
}

func BenchmarkHeaderAppend(b *testing.B) {
	h := codec.Header{Type: codec.TypeMessage, ID: 12345}
	buf := make([]byte, 0, codec.HeaderLen)
	b.ReportAllocs()
	b.SetBytes(codec.HeaderLen)
	for b.Loop() {
		buf = h.Append(buf[:0])
	}
}

func BenchmarkParseHeader(b *testing.B) {
	h, msg := benchMessage(16)
	pkt := codec.AppendPacket(nil, h, msg)
	b.ReportAllocs()
	b.SetBytes(codec.HeaderLen)
	for b.Loop() {
		if _, _, err := codec.ParseHeader(pkt); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSplitFrame(b *testing.B) {
	benchSizes(b, func(b *testing.B, n int) {
		h, msg := benchMessage(n)
		frame := codec.AppendFrame(nil, h, msg)
		b.ReportAllocs()
		b.SetBytes(int64(len(frame)))
		for b.Loop() {
			if p, _, err := codec.SplitFrame(frame, codec.DefaultMaxFrame); p == nil || err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkParseDatagram(b *testing.B) {
	benchSizes(b, func(b *testing.B, n int) {
		h, msg := benchMessage(n)
		dgram := codec.AppendPacket(codec.AppendKey(nil, keyB), h, msg)
		b.ReportAllocs()
		b.SetBytes(int64(len(dgram)))
		for b.Loop() {
			if _, _, err := codec.ParseDatagram(dgram); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkFrameReader(b *testing.B) {
	benchSizes(b, func(b *testing.B, n int) {
		h, msg := benchMessage(n)
		frame := codec.AppendFrame(nil, h, msg)
		fr := codec.NewFrameReader(&loopReader{b: frame}, codec.DefaultMaxFrame)
		b.ReportAllocs()
		b.SetBytes(int64(len(frame)))
		for b.Loop() {
			if _, err := fr.ReadFrame(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkDecodeEmit(b *testing.B) {
	benchSizes(b, func(b *testing.B, n int) {
		body := (&codec.Emit{Rooms: strs("lobby", "alerts"), Except: strs(sidB), Event: []byte("temp"),
			Data: benchData(n)}).Append(nil)
		d := codec.NewDecoder()
		var e codec.Emit
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if err := d.Decode(codec.TypeEmit, body, &e); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkEncodeMessageFrame(b *testing.B) {
	benchSizes(b, func(b *testing.B, n int) {
		h, msg := benchMessage(n)
		buf := make([]byte, 0, codec.LenPrefixLen+codec.PacketLen(msg))
		b.ReportAllocs()
		b.SetBytes(int64(cap(buf)))
		for b.Loop() {
			buf = codec.AppendFrame(buf[:0], h, msg)
		}
	})
}
