package codec_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/packetd/packetd/codec"
)

// frameOf returns a TCP frame carrying a packet of exactly n bytes (n >=
// HeaderLen): an EMIT header and n-HeaderLen filler bytes, which the framing
// layer does not look at.
func frameOf(n int, fill byte) []byte {
	b := codec.AppendFrameLen(nil, n)
	b = codec.Header{Type: codec.TypeEmit, ID: uint32(n)}.Append(b)
	return append(b, bytes.Repeat([]byte{fill}, n-codec.HeaderLen)...)
}

func TestSplitFrameTruncated(t *testing.T) {
	t.Parallel()
	for _, v := range loadVectors(t) {
		if v.kind != kindFrame {
			continue
		}
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			for n := range len(v.hex) {
				pkt, consumed, err := codec.SplitFrame(v.hex[:n], codec.DefaultMaxFrame)
				if pkt != nil || consumed != 0 || err != nil {
					t.Errorf("prefix of %d of %d bytes: got %x, %d, %v; want nil, 0, nil (incomplete)", n, len(v.hex), pkt, consumed, err)
				}
			}
			// The whole frame, then the start of the next one.
			in := append(bytes.Clone(v.hex), 0x00, 0x00)
			pkt, consumed, err := codec.SplitFrame(in, codec.DefaultMaxFrame)
			if err != nil || consumed != len(v.hex) || !bytes.Equal(pkt, v.hex[codec.LenPrefixLen:]) {
				t.Errorf("whole frame: got %x, %d, %v; want the packet, %d, nil", pkt, consumed, err, len(v.hex))
			}
			if cap(pkt) != len(pkt) {
				t.Errorf("whole frame: packet has cap %d, want its len %d (appending must not clobber the next frame)", cap(pkt), len(pkt))
			}
		})
	}
}

func TestSplitFrameErrors(t *testing.T) {
	t.Parallel()
	prefix := func(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }
	tests := []struct {
		name     string
		in       []byte
		max      int
		wantErr  error  // a sentinel, or nil when wantSize is set
		wantSize uint64 // FrameSizeError.Len; 0: no FrameSizeError expected
		wantN    int    // bytes consumed when the frame is complete
	}{
		{"0xffffffff after 4 bytes", prefix(0xffffffff), codec.DefaultMaxFrame, nil, 0xffffffff, 0},
		{"max+1", prefix(codec.DefaultMaxFrame + 1), codec.DefaultMaxFrame, nil, codec.DefaultMaxFrame + 1, 0},
		{"pre-HELLO limit", prefix(1025), 1024, nil, 1025, 0},
		{"max is incomplete, not an error", prefix(codec.DefaultMaxFrame), codec.DefaultMaxFrame, nil, 0, 0},
		{"exactly max", frameOf(1024, 0xaa), 1024, nil, 0, 1028},
		{"length 0", prefix(0), codec.DefaultMaxFrame, codec.ErrFrameTooShort, 0, 0},
		{"length 1", prefix(1), codec.DefaultMaxFrame, codec.ErrFrameTooShort, 0, 0},
		{"length 7", append(prefix(7), 1, 7, 0, 0, 0, 0, 0), codec.DefaultMaxFrame, codec.ErrFrameTooShort, 0, 0},
		{"length 8", codec.AppendFrame(nil, codec.Header{Type: codec.TypeAck}, nil), codec.DefaultMaxFrame, nil, 0, 12},
		{"size checked before shortness", prefix(0), 7, codec.ErrFrameTooShort, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, split := range []func([]byte, int) (int, error){
				func(b []byte, max int) (int, error) { _, n, err := codec.SplitFrame(b, max); return n, err },
				func(b []byte, max int) (int, error) {
					n, err := codec.FrameLen(b, max)
					if err == nil && n > len(b) {
						n = 0 // incomplete, as SplitFrame reports it
					}
					return n, err
				},
			} {
				n, err := split(tc.in, tc.max)
				if tc.wantSize != 0 {
					var fse *codec.FrameSizeError
					if !errors.As(err, &fse) {
						t.Fatalf("got error %v, want a *FrameSizeError", err)
					}
					if fse.Len != tc.wantSize || fse.Max != tc.max {
						t.Errorf("FrameSizeError: got Len %d Max %d, want Len %d Max %d", fse.Len, fse.Max, tc.wantSize, tc.max)
					}
					if got := codec.CodeOf(err); got != codec.CodeFrameTooLarge {
						t.Errorf("CodeOf: got %d, want %d", got, codec.CodeFrameTooLarge)
					}
					continue
				}
				if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
					t.Errorf("got error %v, want %v", err, tc.wantErr)
				}
				if n != tc.wantN {
					t.Errorf("got %d bytes consumed, want %d", n, tc.wantN)
				}
			}
		})
	}
}

// readAll reads frames until an error, copying each (a frame is only valid
// until the next ReadFrame).
func readAll(fr *codec.FrameReader) ([][]byte, error) {
	var frames [][]byte
	for {
		p, err := fr.ReadFrame()
		if err != nil {
			return frames, err
		}
		frames = append(frames, bytes.Clone(p))
	}
}

// packetsOf splits a stream of well-formed frames into their packets.
func packetsOf(stream []byte) [][]byte {
	var out [][]byte
	for len(stream) > 0 {
		n := int(binary.BigEndian.Uint32(stream))
		out = append(out, stream[codec.LenPrefixLen:codec.LenPrefixLen+n])
		stream = stream[codec.LenPrefixLen+n:]
	}
	return out
}

// chunkReader returns at most n bytes per Read.
type chunkReader struct {
	b []byte
	n int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.n)], r.b)
	r.b = r.b[n:]
	return n, nil
}

func TestFrameReader(t *testing.T) {
	t.Parallel()
	var vectorStream []byte
	for _, v := range loadVectors(t) {
		if v.kind == kindFrame {
			vectorStream = append(vectorStream, v.hex...)
		}
	}
	var small []byte // 300 small frames: many to one read
	for i := range 300 {
		small = append(small, frameOf(codec.HeaderLen+i%20, byte(i))...)
	}
	large := cat(frameOf(8, 1), frameOf(10000, 2), frameOf(9, 3), frameOf(70000, 4), frameOf(8, 5))

	tests := []struct {
		name   string
		stream []byte
		max    int
		reader func([]byte) io.Reader
	}{
		{"vectors one byte per read", vectorStream, codec.DefaultMaxFrame, func(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) }},
		{"vectors in one read", vectorStream, codec.DefaultMaxFrame, func(b []byte) io.Reader { return bytes.NewReader(b) }},
		{"vectors with data and EOF together", vectorStream, codec.DefaultMaxFrame, func(b []byte) io.Reader { return iotest.DataErrReader(bytes.NewReader(b)) }},
		{"many frames per read", small, codec.DefaultMaxFrame, func(b []byte) io.Reader { return bytes.NewReader(b) }},
		{"many frames, half reads", small, codec.DefaultMaxFrame, func(b []byte) io.Reader { return iotest.HalfReader(bytes.NewReader(b)) }},
		{"larger than the buffer, one byte per read", large, codec.DefaultMaxFrame, func(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) }},
		{"larger than the buffer, 777-byte reads", large, codec.DefaultMaxFrame, func(b []byte) io.Reader { return &chunkReader{b, 777} }},
		{"larger than the buffer, whole", large, codec.DefaultMaxFrame, func(b []byte) io.Reader { return bytes.NewReader(b) }},
		{"exactly max", cat(frameOf(9, 1), frameOf(codec.DefaultMaxFrame, 2), frameOf(9, 3)), codec.DefaultMaxFrame, func(b []byte) io.Reader { return bytes.NewReader(b) }},
		{"exactly a small max", cat(frameOf(1024, 1), frameOf(1024, 2)), 1024, func(b []byte) io.Reader { return &chunkReader{b, 100} }},
		{"empty stream", nil, codec.DefaultMaxFrame, func(b []byte) io.Reader { return bytes.NewReader(b) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := readAll(codec.NewFrameReader(tc.reader(tc.stream), tc.max))
			if err != io.EOF {
				t.Errorf("after the last frame: got error %v, want io.EOF", err)
			}
			want := packetsOf(tc.stream)
			if len(got) != len(want) {
				t.Fatalf("got %d frames, want %d", len(got), len(want))
			}
			for i := range want {
				if !bytes.Equal(got[i], want[i]) {
					t.Errorf("frame %d: got %d bytes %.16x..., want %d bytes %.16x...", i, len(got[i]), got[i], len(want[i]), want[i])
				}
			}
		})
	}
}

func TestFrameReaderErrors(t *testing.T) {
	t.Parallel()
	join := vectorValues["tcp-join"]
	frame := encodeVector(join)
	errRead := errors.New("read failed")
	tests := []struct {
		name       string
		r          io.Reader
		max        int
		wantFrames int
		wantErr    error
		wantSize   uint64 // FrameSizeError.Len, when one is expected
	}{
		{"EOF inside the length prefix", bytes.NewReader(cat(frame, frame[:2])), codec.DefaultMaxFrame, 1, io.ErrUnexpectedEOF, 0},
		{"EOF after the length prefix", bytes.NewReader(cat(frame, frame[:4])), codec.DefaultMaxFrame, 1, io.ErrUnexpectedEOF, 0},
		{"EOF inside the packet", iotest.OneByteReader(bytes.NewReader(cat(frame, frame[:len(frame)-1]))), codec.DefaultMaxFrame, 1, io.ErrUnexpectedEOF, 0},
		{"EOF inside a large packet", bytes.NewReader(frameOf(50000, 1)[:40000]), codec.DefaultMaxFrame, 0, io.ErrUnexpectedEOF, 0},
		{"read error between frames", io.MultiReader(bytes.NewReader(frame), iotest.ErrReader(errRead)), codec.DefaultMaxFrame, 1, errRead, 0},
		{"read error inside a frame", io.MultiReader(bytes.NewReader(frame[:5]), iotest.ErrReader(errRead)), codec.DefaultMaxFrame, 0, errRead, 0},
		{"length under a header", bytes.NewReader(cat(frame, []byte{0, 0, 0, 7})), codec.DefaultMaxFrame, 1, codec.ErrFrameTooShort, 0},
		{"oversized prefix, nothing read after it", io.MultiReader(bytes.NewReader(cat(frame, []byte{0xff, 0xff, 0xff, 0xff})), iotest.ErrReader(errors.New("read past an oversized length prefix"))), codec.DefaultMaxFrame, 1, nil, 0xffffffff},
		{"max+1", bytes.NewReader(frameOf(1025, 0)), 1024, 0, nil, 1025},
		{"reader makes no progress", zeroReader{}, codec.DefaultMaxFrame, 0, io.ErrNoProgress, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fr := codec.NewFrameReader(tc.r, tc.max)
			frames, err := readAll(fr)
			if len(frames) != tc.wantFrames {
				t.Errorf("got %d frames, want %d", len(frames), tc.wantFrames)
			}
			if tc.wantSize != 0 {
				var fse *codec.FrameSizeError
				if !errors.As(err, &fse) || fse.Len != tc.wantSize || fse.Max != tc.max {
					t.Fatalf("got error %v, want FrameSizeError{Len: %d, Max: %d}", err, tc.wantSize, tc.max)
				}
			} else if !errors.Is(err, tc.wantErr) {
				t.Fatalf("got error %v, want %v", err, tc.wantErr)
			}
			// The error sticks: no frame appears after it.
			if p, err2 := fr.ReadFrame(); p != nil || err2 == nil {
				t.Errorf("ReadFrame after error: got %x, %v; want nil and an error", p, err2)
			}
		})
	}
}

// zeroReader returns 0, nil forever.
type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }
