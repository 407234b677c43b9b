package bench

import (
	"bytes"
	"fmt"
	"math"
	"testing"
)

func TestPayloadRoundTrip(t *testing.T) {
	t.Parallel()
	p := Payload{Publisher: 0xdeadbeef, Seq: math.MaxUint64 - 1, Sent: -42, Run: 7}
	tests := []struct {
		name     string
		size     int
		wantSize int // bin length
		wantHdr  int
	}{
		{"below minimum", 3, PayloadMin, 2},
		{"minimum", PayloadMin, PayloadMin, 2},
		{"default", DefaultPayloadSize, DefaultPayloadSize, 2},
		{"bin8 max", 255, 255, 2},
		{"bin16 min", 256, 256, 3},
		{"bin16 max", 65535, 65535, 3},
		{"bin32", 65536, 65536, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := AppendPayload([]byte("prefix"), p, tt.size)
			b = b[len("prefix"):]
			if got, want := len(b), PayloadLen(tt.size); got != want {
				t.Fatalf("len(AppendPayload) = %d, PayloadLen = %d", got, want)
			}
			if got, want := len(b), tt.wantHdr+tt.wantSize; got != want {
				t.Fatalf("encoded length = %d, want %d", got, want)
			}
			got, ok := ParsePayload(b)
			if !ok || got != p {
				t.Fatalf("ParsePayload = %+v, %v, want %+v, true", got, ok, p)
			}
			if pad := b[tt.wantHdr+PayloadMin:]; !bytes.Equal(pad, make([]byte, len(pad))) {
				t.Errorf("padding is not zero")
			}
		})
	}
}

func TestPayloadLayout(t *testing.T) {
	t.Parallel()
	b := AppendPayload(nil, Payload{Publisher: 1, Seq: 2, Sent: 3, Run: 4}, 26)
	want := []byte{
		0xc4, 26,
		0, 0, 0, 1,
		0, 0, 0, 0, 0, 0, 0, 2,
		0, 0, 0, 0, 0, 0, 0, 3,
		0, 0, 0, 4,
		0, 0,
	}
	if !bytes.Equal(b, want) {
		t.Errorf("AppendPayload = % x, want % x", b, want)
	}
}

func TestParsePayloadRejects(t *testing.T) {
	t.Parallel()
	valid := AppendPayload(nil, Payload{Seq: 1}, 300) // bin16
	tests := []struct {
		name string
		data []byte
	}{
		{"nil", nil},
		{"msgpack nil", []byte{0xc0}},
		{"str", []byte{0xa3, 'a', 'b', 'c'}},
		{"positive fixint", []byte{0x01}},
		{"bin8 too short for the fields", append([]byte{0xc4, 23}, make([]byte, 23)...)},
		{"bin32 too short for the fields", append([]byte{0xc6, 0, 0, 0, 10}, make([]byte, 10)...)},
	}
	for n := range len(valid) {
		tests = append(tests, struct {
			name string
			data []byte
		}{fmt.Sprintf("truncated to %d", n), valid[:n]})
	}
	for _, tt := range tests {
		if p, ok := ParsePayload(tt.data); ok {
			t.Errorf("%s: ParsePayload = %+v, true, want false", tt.name, p)
		}
	}
}

// Allocation tests do not call t.Parallel: testing.AllocsPerRun counts
// every allocation in the process.
func TestPayloadAllocs(t *testing.T) {
	p := Payload{Publisher: 3, Seq: 9, Sent: 12345, Run: 1}
	buf := make([]byte, 0, PayloadLen(1024))
	if n := testing.AllocsPerRun(100, func() {
		buf = AppendPayload(buf[:0], p, 1024)
	}); n != 0 {
		t.Errorf("AppendPayload allocs = %v, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() {
		if _, ok := ParsePayload(buf); !ok {
			t.Fatal("ParsePayload failed")
		}
	}); n != 0 {
		t.Errorf("ParsePayload allocs = %v, want 0", n)
	}
}

func FuzzParsePayload(f *testing.F) {
	for _, size := range []int{PayloadMin, 64, 256, 70000} {
		f.Add(AppendPayload(nil, Payload{Publisher: 1, Seq: 2, Sent: 3, Run: 4}, size))
	}
	f.Add([]byte{0xc4})
	f.Fuzz(func(t *testing.T, data []byte) {
		p, ok := ParsePayload(data)
		if !ok {
			return
		}
		b := AppendPayload(nil, p, PayloadMin)
		if q, ok := ParsePayload(b); !ok || q != p {
			t.Fatalf("re-encoded %+v parses as %+v, %v", p, q, ok)
		}
	})
}

func BenchmarkPayload(b *testing.B) {
	for _, size := range []int{64, 1024} {
		p := Payload{Publisher: 3, Seq: 9, Sent: 12345, Run: 1}
		buf := make([]byte, 0, PayloadLen(size))
		b.Run(fmt.Sprintf("append/%d", size), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				buf = AppendPayload(buf[:0], p, size)
			}
		})
		b.Run(fmt.Sprintf("parse/%d", size), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p, _ = ParsePayload(buf)
			}
		})
	}
}
