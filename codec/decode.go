package codec

import (
	"bytes"
	"fmt"
	"io"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// MaxDepth bounds how deeply arrays and maps may nest inside a body,
// counting the body's own map as depth 1. The data of an EMIT is opaque to
// the server, yet it is walked to find its end; the bound keeps a frame of
// nested one-byte arrays from costing a deep recursion.
const MaxDepth = 32

// MaxList bounds the elements of a list of names (rooms, except), so a
// small frame of empty names cannot decode into a large slice. Servers
// apply their own, lower limits after decoding.
const MaxList = 1024

// Decoder decodes packet bodies. Decoded fields alias the body they were
// decoded from and reuse the target's slices, so a Decoder and a target
// reused across packets decode without allocating. A Decoder is not safe for
// concurrent use; keep one per goroutine (per event loop on the server).
type Decoder struct {
	buf []byte
	r   bytes.Reader
	d   *msgpack.Decoder
}

// NewDecoder returns a Decoder.
func NewDecoder() *Decoder {
	d := &Decoder{}
	d.d = msgpack.NewDecoder(&d.r)
	return d
}

// Decode decodes body, the body of a packet of type t, into v. Unknown keys
// are skipped (after checking they are well-formed msgpack), so later
// protocol revisions can add fields. Errors are *BodyError.
func (d *Decoder) Decode(t Type, body []byte, v Body) error {
	v.reset()
	d.buf = body
	d.r.Reset(body)
	if len(body) == 0 {
		return v.check(t)
	}
	c, err := d.d.PeekCode()
	if err != nil {
		return &BodyError{Type: t, Err: ErrInvalidMsgpack}
	}
	if !isMap(c) {
		return &BodyError{Type: t, Err: ErrBodyNotMap}
	}
	n, err := d.d.DecodeMapLen()
	if err != nil {
		return &BodyError{Type: t, Err: ErrInvalidMsgpack}
	}
	if err := d.plausible(n, 2); err != nil {
		return &BodyError{Type: t, Err: err}
	}
	for range n {
		key, err := d.str()
		if err != nil {
			return &BodyError{Type: t, Err: err}
		}
		if err := v.decodeField(d, key); err != nil {
			return &BodyError{Type: t, Field: string(key), Err: err}
		}
	}
	if d.r.Len() != 0 {
		return &BodyError{Type: t, Err: ErrTrailingBytes}
	}
	return v.check(t)
}

func (d *Decoder) pos() int { return len(d.buf) - d.r.Len() }

// plausible rejects a container that announces more elements than the bytes
// left could hold (each element takes at least one byte, each map entry two).
func (d *Decoder) plausible(n, minSize int) error {
	if n < 0 || n > d.r.Len()/minSize {
		return ErrInvalidMsgpack
	}
	return nil
}

// take returns the next n bytes of the body without copying.
func (d *Decoder) take(n int) ([]byte, error) {
	p := d.pos()
	if n < 0 || n > len(d.buf)-p {
		return nil, ErrInvalidMsgpack
	}
	_, _ = d.r.Seek(int64(n), io.SeekCurrent)
	return d.buf[p : p+n : p+n], nil
}

func (d *Decoder) peek() (byte, error) {
	c, err := d.d.PeekCode()
	if err != nil {
		return 0, ErrInvalidMsgpack
	}
	return c, nil
}

// str decodes a msgpack str, aliasing the body.
func (d *Decoder) str() ([]byte, error) {
	c, err := d.peek()
	if err != nil {
		return nil, err
	}
	if !isStr(c) {
		return nil, ErrFieldType
	}
	n, err := d.d.DecodeBytesLen()
	if err != nil {
		return nil, ErrInvalidMsgpack
	}
	return d.take(n)
}

// bin decodes a msgpack bin, aliasing the body.
func (d *Decoder) bin() ([]byte, error) {
	c, err := d.peek()
	if err != nil {
		return nil, err
	}
	if c != msgpcode.Bin8 && c != msgpcode.Bin16 && c != msgpcode.Bin32 {
		return nil, ErrFieldType
	}
	n, err := d.d.DecodeBytesLen()
	if err != nil {
		return nil, ErrInvalidMsgpack
	}
	return d.take(n)
}

// strOrBin decodes a msgpack str or bin, aliasing the body.
func (d *Decoder) strOrBin() ([]byte, error) {
	c, err := d.peek()
	if err != nil {
		return nil, err
	}
	if isStr(c) {
		return d.str()
	}
	return d.bin()
}

// strList decodes an array of str into l[:0].
func (d *Decoder) strList(l [][]byte) ([][]byte, error) {
	l = l[:0]
	c, err := d.peek()
	if err != nil {
		return l, err
	}
	if !isArray(c) {
		return l, ErrFieldType
	}
	n, err := d.d.DecodeArrayLen()
	if err != nil {
		return l, ErrInvalidMsgpack
	}
	if n > MaxList {
		return l, ErrTooLong
	}
	if err := d.plausible(n, 1); err != nil {
		return l, err
	}
	for range n {
		s, err := d.str()
		if err != nil {
			return l, err
		}
		l = append(l, s)
	}
	return l, nil
}

// uint decodes a non-negative integer no larger than max. Any msgpack
// integer encoding is accepted as long as the value fits.
func (d *Decoder) uint(max uint64) (uint64, error) {
	c, err := d.peek()
	if err != nil {
		return 0, err
	}
	var v uint64
	switch {
	case c <= msgpcode.PosFixedNumHigh || c == msgpcode.Uint8 || c == msgpcode.Uint16 ||
		c == msgpcode.Uint32 || c == msgpcode.Uint64:
		v, err = d.d.DecodeUint64()
	case c == msgpcode.Int8 || c == msgpcode.Int16 || c == msgpcode.Int32 || c == msgpcode.Int64:
		var i int64
		i, err = d.d.DecodeInt64()
		if i < 0 {
			return 0, ErrFieldType
		}
		v = uint64(i)
	default:
		return 0, ErrFieldType
	}
	if err != nil {
		return 0, ErrInvalidMsgpack
	}
	if v > max {
		return 0, ErrFieldType
	}
	return v, nil
}

func (d *Decoder) bool() (bool, error) {
	c, err := d.peek()
	if err != nil {
		return false, err
	}
	if c != msgpcode.True && c != msgpcode.False {
		return false, ErrFieldType
	}
	_, _ = d.d.DecodeBool()
	return c == msgpcode.True, nil
}

// raw returns the bytes of the next msgpack value, whatever its type, after
// checking it is well-formed and nested no deeper than MaxDepth allows.
func (d *Decoder) raw() ([]byte, error) {
	p := d.pos()
	if err := d.skip(2); err != nil {
		return nil, err
	}
	return d.buf[p:d.pos():d.pos()], nil
}

// skip walks over one value found at the given nesting depth.
func (d *Decoder) skip(depth int) error {
	c, err := d.peek()
	if err != nil {
		return err
	}
	switch {
	case isMap(c), isArray(c):
		if depth > MaxDepth {
			return fmt.Errorf("%w: nested deeper than %d", ErrInvalidMsgpack, MaxDepth)
		}
		var n, per int
		if isMap(c) {
			n, err = d.d.DecodeMapLen()
			per = 2
		} else {
			n, err = d.d.DecodeArrayLen()
			per = 1
		}
		if err != nil {
			return ErrInvalidMsgpack
		}
		if err := d.plausible(n, per); err != nil {
			return err
		}
		for range n * per {
			if err := d.skip(depth + 1); err != nil {
				return err
			}
		}
		return nil
	case isStr(c), c == msgpcode.Bin8, c == msgpcode.Bin16, c == msgpcode.Bin32:
		n, err := d.d.DecodeBytesLen()
		if err != nil {
			return ErrInvalidMsgpack
		}
		_, err = d.take(n)
		return err
	case isExt(c):
		_, n, err := d.d.DecodeExtHeader()
		if err != nil {
			return ErrInvalidMsgpack
		}
		_, err = d.take(n)
		return err
	case c == 0xc1: // the one code msgpack leaves unused
		return ErrInvalidMsgpack
	default: // nil, bool, integers, floats: fixed size
		if err := d.d.Skip(); err != nil {
			return ErrInvalidMsgpack
		}
		return nil
	}
}

func isMap(c byte) bool {
	return msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32
}

func isArray(c byte) bool {
	return msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32
}

func isStr(c byte) bool {
	return msgpcode.IsFixedString(c) || c == msgpcode.Str8 || c == msgpcode.Str16 || c == msgpcode.Str32
}

func isExt(c byte) bool {
	return msgpcode.IsExt(c)
}
