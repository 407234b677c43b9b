package codec

import (
	"encoding/binary"
	"io"
)

// LenPrefixLen is the size of the length prefix that starts every TCP frame.
//
//	+-------+-------+-------+-------+-------- ... ---------+
//	|  length (uint32, big-endian)  |  packet (length bytes) |
//	+-------+-------+-------+-------+-------- ... ---------+
//
// length counts the packet (header and body), not the prefix itself.
const LenPrefixLen = 4

// DefaultMaxFrame is the default limit on a TCP frame's packet size (1 MiB,
// NATS' max_payload).
const DefaultMaxFrame = 1 << 20

// AppendFrameLen appends the length prefix of a frame carrying a packet of n
// bytes.
func AppendFrameLen(b []byte, n int) []byte {
	return binary.BigEndian.AppendUint32(b, uint32(n))
}

// SplitFrame looks for one complete frame at the start of b, the bytes read
// so far from a TCP stream, and returns its packet (aliasing b) and the number
// of bytes the whole frame occupies. When b holds only part of a frame it
// returns (nil, 0, nil): read more and call again. A length prefix over max
// or under HeaderLen is an error as soon as its four bytes are in, so nothing
// is buffered or allocated for an oversized frame.
func SplitFrame(b []byte, max int) (packet []byte, n int, err error) {
	if len(b) < LenPrefixLen {
		return nil, 0, nil
	}
	end, err := FrameLen(b, max)
	if err != nil || len(b) < end {
		return nil, 0, err
	}
	return b[LenPrefixLen:end:end], end, nil
}

// FrameLen reads the length prefix at the start of b and returns the size
// of the whole frame, prefix included, after checking the packet size
// against max and HeaderLen. b shorter than LenPrefixLen is ErrShortPacket.
func FrameLen(b []byte, max int) (int, error) {
	if len(b) < LenPrefixLen {
		return 0, ErrShortPacket
	}
	size := binary.BigEndian.Uint32(b)
	if uint64(size) > uint64(max) {
		return 0, &FrameSizeError{Len: uint64(size), Max: max}
	}
	if size < HeaderLen {
		return 0, ErrFrameTooShort
	}
	return LenPrefixLen + int(size), nil
}

// FrameReader decodes frames from a byte stream, however the stream splits
// them across reads. It holds at most one frame plus one read's worth of
// bytes. It is not safe for concurrent use.
type FrameReader struct {
	r          io.Reader
	max        int
	buf        []byte
	start, end int // unconsumed bytes are buf[start:end]
}

// NewFrameReader returns a FrameReader that refuses packets over max bytes.
func NewFrameReader(r io.Reader, max int) *FrameReader {
	return &FrameReader{r: r, max: max, buf: make([]byte, 4096)}
}

// SetMax changes the packet size limit for the frames read from now on.
func (fr *FrameReader) SetMax(max int) { fr.max = max }

// ReadFrame returns the next frame's packet. The slice is valid until the
// next call. At the end of the stream it returns io.EOF, or
// io.ErrUnexpectedEOF if the stream ends inside a frame.
func (fr *FrameReader) ReadFrame() ([]byte, error) {
	for {
		pkt, n, err := SplitFrame(fr.buf[fr.start:fr.end], fr.max)
		if err != nil {
			return nil, err
		}
		if pkt != nil {
			fr.start += n
			return pkt, nil
		}
		if err := fr.fill(); err != nil {
			if err == io.EOF && fr.start != fr.end {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
}

// fill reads more bytes, first making room: unconsumed bytes move to the
// front, and the buffer grows (up to one maximal frame) only when a frame
// announced to be larger than it is pending.
func (fr *FrameReader) fill() error {
	if fr.start > 0 {
		fr.end = copy(fr.buf, fr.buf[fr.start:fr.end])
		fr.start = 0
	}
	if fr.end == len(fr.buf) {
		need := len(fr.buf) * 2
		if limit := LenPrefixLen + fr.max; need > limit {
			need = limit
		}
		grown := make([]byte, need)
		copy(grown, fr.buf[:fr.end])
		fr.buf = grown
	}
	// Like bufio, tolerate a few empty reads before calling it a broken
	// reader.
	for range 100 {
		n, err := fr.r.Read(fr.buf[fr.end:])
		fr.end += n
		if n > 0 {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return io.ErrNoProgress
}
