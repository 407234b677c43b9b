package codec

import (
	"errors"
	"fmt"
)

var (
	// ErrShortPacket means the input ends before a complete header,
	// length prefix or key prefix.
	ErrShortPacket = errors.New("codec: truncated packet")
	// ErrVersion means the header's version byte is not Version.
	ErrVersion = errors.New("codec: unsupported protocol version")
	// ErrUnknownType means the header's type byte names no packet type.
	ErrUnknownType = errors.New("codec: unknown packet type")
	// ErrFlags means reserved flag bits are set, or the QoS level is not 0 or 1.
	ErrFlags = errors.New("codec: invalid flags")
	// ErrReserved means the header's reserved byte is not zero.
	ErrReserved = errors.New("codec: reserved header byte is not zero")
	// ErrFrameTooShort means a TCP length prefix is smaller than HeaderLen.
	ErrFrameTooShort = errors.New("codec: frame shorter than a header")
	// ErrTrailingBytes means bytes follow the body's msgpack value.
	ErrTrailingBytes = errors.New("codec: trailing bytes after body")
	// ErrBodyNotMap means a body is neither empty nor a msgpack map.
	ErrBodyNotMap = errors.New("codec: body is not a msgpack map")
	// ErrFieldType means a body field holds a msgpack value of the wrong type.
	ErrFieldType = errors.New("codec: wrong field type")
	// ErrMissingField means a required body field is absent.
	ErrMissingField = errors.New("codec: missing required field")
	// ErrInvalidMsgpack means the body is not well-formed msgpack: a value
	// is cut short, a code is unknown, or nesting exceeds MaxDepth.
	ErrInvalidMsgpack = errors.New("codec: invalid msgpack")
	// ErrTooLong means a list has more than MaxList elements or a PING
	// token more than MaxToken bytes.
	ErrTooLong = errors.New("codec: value too long")
)

// FrameSizeError reports a TCP length prefix or a datagram over the limit.
// It is returned before anything is allocated for the frame.
type FrameSizeError struct {
	Len uint64 // the announced or actual size, in bytes
	Max int    // the limit in force
}

func (e *FrameSizeError) Error() string {
	return fmt.Sprintf("codec: frame of %d bytes exceeds limit of %d", e.Len, e.Max)
}

// BodyError reports a body that failed to decode: which packet type, which
// field (empty when the body as a whole is wrong) and why. Err is one of the
// sentinels above.
type BodyError struct {
	Type  Type
	Field string
	Err   error
}

func (e *BodyError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("codec: %s body: %v", e.Type, e.Err)
	}
	return fmt.Sprintf("codec: %s body: field %q: %v", e.Type, e.Field, e.Err)
}

func (e *BodyError) Unwrap() error { return e.Err }
