package bench

import (
	"encoding/binary"
	"math"
	"slices"
)

// Payload is what every measured message carries at the start of its
// `data` value, a msgpack bin of the run's message size. Layout, all
// big-endian:
//
//	bytes  0-3   publisher index (uint32, unique per run and transport)
//	bytes  4-11  sequence number (uint64, from 1 per publisher)
//	bytes 12-19  send time (int64 unix nanoseconds, the sender's clock)
//	bytes 20-23  run id (uint32, random per run: foreign traffic is ignored)
//	bytes 24..   zero padding up to the message size
type Payload struct {
	Publisher uint32
	Seq       uint64
	Sent      int64
	Run       uint32
}

// PayloadMin is the smallest payload size: the measurement fields alone.
const PayloadMin = 24

// DefaultPayloadSize is the message size (-s) when none is given.
const DefaultPayloadSize = 64

// msgpack bin headers (the codes of msgpcode, spelled out here so that this
// file needs no msgpack import).
const (
	bin8  = 0xc4 // 1-byte length
	bin16 = 0xc5 // 2-byte length
	bin32 = 0xc6 // 4-byte length
)

// payloadSize clamps a requested size to [PayloadMin, math.MaxUint32].
func payloadSize(size int) int {
	return min(max(size, PayloadMin), math.MaxUint32)
}

// PayloadLen returns the length of AppendPayload's output for size: the
// msgpack bin header plus the (clamped) size.
func PayloadLen(size int) int {
	size = payloadSize(size)
	switch {
	case size <= math.MaxUint8:
		return 2 + size
	case size <= math.MaxUint16:
		return 3 + size
	default:
		return 5 + size
	}
}

// AppendPayload appends p as a msgpack bin value of exactly size bytes
// (header not included) to b. A size below PayloadMin is raised to it. It
// allocates only when b lacks the capacity.
func AppendPayload(b []byte, p Payload, size int) []byte {
	size = payloadSize(size)
	switch {
	case size <= math.MaxUint8:
		b = append(b, bin8, byte(size))
	case size <= math.MaxUint16:
		b = binary.BigEndian.AppendUint16(append(b, bin16), uint16(size))
	default:
		b = binary.BigEndian.AppendUint32(append(b, bin32), uint32(size))
	}
	b = binary.BigEndian.AppendUint32(b, p.Publisher)
	b = binary.BigEndian.AppendUint64(b, p.Seq)
	b = binary.BigEndian.AppendUint64(b, uint64(p.Sent))
	b = binary.BigEndian.AppendUint32(b, p.Run)
	n := len(b)
	b = slices.Grow(b, size-PayloadMin)[:n+size-PayloadMin]
	clear(b[n:])
	return b
}

// ParsePayload reads a Payload from data, the raw msgpack value of an
// EMIT's or a MESSAGE's `data` field. It reports false for anything but a
// bin of at least PayloadMin bytes whose body data holds entirely (other
// applications' traffic, truncated values). It never allocates.
func ParsePayload(data []byte) (Payload, bool) {
	var n, hdr int
	switch {
	case len(data) >= 2 && data[0] == bin8:
		n, hdr = int(data[1]), 2
	case len(data) >= 3 && data[0] == bin16:
		n, hdr = int(binary.BigEndian.Uint16(data[1:])), 3
	case len(data) >= 5 && data[0] == bin32:
		n, hdr = int(binary.BigEndian.Uint32(data[1:])), 5
	default:
		return Payload{}, false
	}
	if n < PayloadMin || len(data)-hdr < n {
		return Payload{}, false
	}
	b := data[hdr : hdr+PayloadMin]
	return Payload{
		Publisher: binary.BigEndian.Uint32(b[0:4]),
		Seq:       binary.BigEndian.Uint64(b[4:12]),
		Sent:      int64(binary.BigEndian.Uint64(b[12:20])),
		Run:       binary.BigEndian.Uint32(b[20:24]),
	}, true
}
