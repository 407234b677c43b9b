package codec_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/packetd/packetd/codec"
)

// Fuzz targets. Each is seeded from the encoder's output (the vectors and
// sizedBodies) and from the corpus in testdata/fuzz/<FuzzName>/, which holds
// malformed inputs too. Run one with
//
//	go test -run xxx -fuzz FuzzParsePacket -fuzztime 60s ./codec

// seedPackets returns encoded packets: every vector's packet and every small
// sized body behind a header.
func seedPackets(tb testing.TB) [][]byte {
	var out [][]byte
	for _, v := range loadVectors(tb) {
		_, p, err := splitVector(v.kind, v.hex)
		if err != nil {
			tb.Fatalf("%s: %v", v.name, err)
		}
		out = append(out, codec.AppendPacket(nil, p.Header, nil))
		out[len(out)-1] = append(out[len(out)-1], p.Body...)
	}
	for _, sb := range sizedBodies() {
		if sb.body.Len() <= 512 {
			out = append(out, codec.AppendPacket(nil, codec.Header{Type: sb.typ, ID: 77}, sb.body))
		}
	}
	return out
}

// checkPacket parses and decodes a packet and, when it is valid, checks the
// round trip: encoding the decoded packet and decoding that again gives the
// same packet, and encoding is stable.
func checkPacket(t *testing.T, d *codec.Decoder, data []byte) {
	p, err := codec.ParsePacket(data)
	if err != nil {
		if !codec.CodeOf(err).Fatal() {
			t.Fatalf("ParsePacket error %v maps to non-fatal code %d", err, codec.CodeOf(err))
		}
		return
	}
	v1 := newBody(p.Type)
	if err := d.Decode(p.Type, p.Body, v1); err != nil {
		var be *codec.BodyError
		if !errors.As(err, &be) || be.Type != p.Type || codec.CodeOf(err) != codec.CodeInvalidBody {
			t.Fatalf("Decode error %v (%T): want a *BodyError of type %v, code %d", err, err, p.Type, codec.CodeInvalidBody)
		}
		return
	}
	enc1 := codec.AppendPacket(nil, p.Header, v1)
	if len(enc1) != codec.PacketLen(v1) {
		t.Fatalf("PacketLen = %d, want len(AppendPacket) = %d", codec.PacketLen(v1), len(enc1))
	}
	p2, err := codec.ParsePacket(enc1)
	if err != nil {
		t.Fatalf("re-encoded packet % x: ParsePacket: %v", enc1, err)
	}
	if p2.Header != p.Header {
		t.Fatalf("re-encoded header: got %+v, want %+v", p2.Header, p.Header)
	}
	v2 := newBody(p.Type)
	if err := codec.NewDecoder().Decode(p2.Type, p2.Body, v2); err != nil {
		t.Fatalf("re-encoded body % x: Decode: %v (first decode gave %+v)", p2.Body, err, v1)
	}
	if !sameBody(v1, v2) {
		t.Fatalf("round trip: got %+v, want %+v", v2, v1)
	}
	if enc2 := codec.AppendPacket(nil, p2.Header, v2); !bytes.Equal(enc2, enc1) {
		t.Fatalf("encoding not stable: % x, then % x", enc1, enc2)
	}
}

func FuzzParsePacket(f *testing.F) {
	for _, p := range seedPackets(f) {
		f.Add(p)
	}
	d := codec.NewDecoder()
	f.Fuzz(func(t *testing.T, data []byte) {
		checkPacket(t, d, data)
	})
}

func FuzzParseDatagram(f *testing.F) {
	for _, v := range loadVectors(f) {
		if v.kind == kindDatagram {
			f.Add(v.hex)
		}
	}
	for _, p := range seedPackets(f) {
		f.Add(append(codec.AppendKey(nil, keyB), p...))
	}
	d := codec.NewDecoder()
	f.Fuzz(func(t *testing.T, data []byte) {
		sid, p, err := codec.ParseDatagram(data)
		if err != nil {
			if !codec.CodeOf(err).Fatal() {
				t.Fatalf("ParseDatagram error %v maps to non-fatal code %d", err, codec.CodeOf(err))
			}
			return
		}
		again := codec.AppendPacket(codec.AppendKey(nil, sid), p.Header, nil)
		if again = append(again, p.Body...); !bytes.Equal(again, data) {
			t.Fatalf("datagram % x re-encodes as % x", data, again)
		}
		checkPacket(t, d, data[codec.KeyLen:])
	})
}

// fuzzMaxFrame is the frame limit for FuzzFrameReader: small enough that a
// fuzzer reaches it, larger than the FrameReader's first buffer (4096 bytes).
const fuzzMaxFrame = 5000

// FuzzFrameReader feeds a stream to FrameReader whole and split into two
// reads at a fuzzer-chosen point (nats-server's parser_fuzz_test.go models
// TCP chunking the same way): the frames and the final error must not depend
// on how the stream was split, and must match SplitFrame applied in a loop.
//
// The stream is data with fill zero bytes inserted at offset at, so that
// frames larger than the reader's first buffer come from small inputs: the
// fuzzer minimizes a 5 KB input too slowly to make progress.
func FuzzFrameReader(f *testing.F) {
	var stream []byte
	for _, v := range loadVectors(f) {
		if v.kind == kindFrame {
			f.Add(v.hex, uint16(len(v.hex)/2), uint16(0), uint16(0))
			stream = append(stream, v.hex...)
		}
	}
	f.Add(stream, uint16(3), uint16(0), uint16(0))
	f.Add(stream, uint16(len(stream)/2), uint16(0), uint16(0))
	big := frameOf(fuzzMaxFrame, 0)
	f.Add(big[:12], uint16(4097), uint16(len(big)-12), uint16(12))
	f.Add(frameOf(fuzzMaxFrame+1, 0)[:12], uint16(2), uint16(100), uint16(12))
	f.Fuzz(func(t *testing.T, data []byte, split, fill, at uint16) {
		pos := int(at) % (len(data) + 1)
		stream := make([]byte, 0, len(data)+int(fill))
		stream = append(stream, data[:pos]...)
		stream = append(stream, make([]byte, fill)...)
		stream = append(stream, data[pos:]...)
		k := int(split) % (len(stream) + 1)

		whole, errWhole := readAll(codec.NewFrameReader(bytes.NewReader(stream), fuzzMaxFrame))
		halves, errHalves := readAll(codec.NewFrameReader(
			io.MultiReader(bytes.NewReader(stream[:k]), bytes.NewReader(stream[k:])), fuzzMaxFrame))
		loop, errLoop := splitAll(stream, fuzzMaxFrame)

		if !sameFrames(whole, halves) || errString(errWhole) != errString(errHalves) {
			t.Fatalf("split at %d: got %d frames, %v; read whole: %d frames, %v", k, len(halves), errHalves, len(whole), errWhole)
		}
		if !sameFrames(whole, loop) || errString(errWhole) != errString(errLoop) {
			t.Fatalf("FrameReader: %d frames, %v; SplitFrame loop: %d frames, %v", len(whole), errWhole, len(loop), errLoop)
		}
	})
}

// splitAll applies SplitFrame to a whole stream and reports what a
// FrameReader should: the frames, then io.EOF, io.ErrUnexpectedEOF or the
// SplitFrame error.
func splitAll(b []byte, max int) ([][]byte, error) {
	var frames [][]byte
	for {
		p, n, err := codec.SplitFrame(b, max)
		switch {
		case err != nil:
			return frames, err
		case p != nil:
			frames = append(frames, p)
			b = b[n:]
		case len(b) == 0:
			return frames, io.EOF
		default:
			return frames, io.ErrUnexpectedEOF
		}
	}
}

func sameFrames(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}
