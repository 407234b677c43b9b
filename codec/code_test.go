package codec_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/packetd/packetd/codec"
)

// codeTable is PROTOCOL.md's error code table; TestProtocolDocCodes checks
// the document lists each row.
var codeTable = []struct {
	code  codec.Code
	num   uint16
	fatal bool
	text  string
}{
	{codec.CodeNormal, 0, true, "normal close"},
	{codec.CodeMalformedFrame, 100, true, "malformed frame"},
	{codec.CodeUnsupportedVersion, 101, true, "unsupported protocol version"},
	{codec.CodeUnknownType, 102, true, "unknown packet type"},
	{codec.CodeFrameTooLarge, 103, true, "frame too large"},
	{codec.CodeInvalidBody, 104, true, "invalid body"},
	{codec.CodeUnexpectedPacket, 105, true, "unexpected packet"},
	{codec.CodeInvalidFlags, 106, true, "invalid flags"},
	{codec.CodeInvalidRoom, 200, false, "invalid room name"},
	{codec.CodeTooManyRooms, 201, false, "too many rooms"},
	{codec.CodeTooManyTargets, 202, false, "too many target rooms"},
	{codec.CodeInvalidEvent, 203, false, "invalid event name"},
	{codec.CodeQoSUnsupported, 204, false, "QoS level not supported"},
	{codec.CodeTooLarge, 205, false, "message too large"},
	{codec.CodeInvalidEmit, 206, false, "invalid EMIT body"},
	{codec.CodeForbidden, 207, false, "permission denied"},
	{codec.CodeRoomFull, 208, false, "room full"},
	{codec.CodeServerFull, 300, true, "server full"},
	{codec.CodeShuttingDown, 301, true, "server shutting down"},
	{codec.CodeIdleTimeout, 302, true, "idle timeout"},
	{codec.CodeSlowConsumer, 303, true, "slow consumer"},
	{codec.CodeHandshakeTimeout, 304, true, "handshake timeout"},
	{codec.CodeUnknownSession, 305, true, "unknown session"},
	{codec.CodeTakenOver, 306, true, "session taken over"},
	{codec.CodeDisconnected, 307, true, "disconnected by operator"},
	{codec.CodeNotAuthorized, 308, true, "not authorized"},
	{codec.CodeTooManyAttempts, 309, true, "too many attempts"},
	{codec.CodeRateLimited, 310, true, "rate limit exceeded"},
}

func TestCodes(t *testing.T) {
	t.Parallel()
	for _, tc := range codeTable {
		t.Run(tc.text, func(t *testing.T) {
			t.Parallel()
			if uint16(tc.code) != tc.num {
				t.Errorf("value: got %d, want %d", uint16(tc.code), tc.num)
			}
			if got := tc.code.Fatal(); got != tc.fatal {
				t.Errorf("Fatal() = %v, want %v", got, tc.fatal)
			}
			if got := tc.code.String(); got != tc.text {
				t.Errorf("String() = %q, want %q", got, tc.text)
			}
			if !tc.code.Known() {
				t.Errorf("Known() = false, want true")
			}
		})
	}
	for _, c := range []codec.Code{1, 99, 107, 199, 209, 299, 311, 65535} {
		if c.Known() {
			t.Errorf("Code(%d).Known() = true, want false", c)
		}
	}
	if got, want := codec.Code(299).String(), "code 299"; got != want {
		t.Errorf("Code(299).String() = %q, want %q", got, want)
	}
	// Unassigned codes follow their range.
	for _, c := range []struct {
		code  codec.Code
		fatal bool
	}{{199, true}, {250, false}, {299, false}, {399, true}, {65535, true}} {
		if got := c.code.Fatal(); got != c.fatal {
			t.Errorf("Code(%d).Fatal() = %v, want %v", c.code, got, c.fatal)
		}
	}
}

func TestCodeOf(t *testing.T) {
	t.Parallel()
	_, _, frameErr := codec.SplitFrame([]byte{0xff, 0xff, 0xff, 0xff}, codec.DefaultMaxFrame)
	bodyErr := codec.NewDecoder().Decode(codec.TypeJoin, []byte{0x80}, new(codec.Rooms))
	tests := []struct {
		name string
		err  error
		want codec.Code
	}{
		{"nil", nil, codec.CodeNormal},
		{"frame too large", frameErr, codec.CodeFrameTooLarge},
		{"frame too large, wrapped", fmt.Errorf("tcp: %w", frameErr), codec.CodeFrameTooLarge},
		{"FrameSizeError value", &codec.FrameSizeError{Len: 2000, Max: 1152}, codec.CodeFrameTooLarge},
		{"version", codec.ErrVersion, codec.CodeUnsupportedVersion},
		{"version, wrapped", fmt.Errorf("udp: %w", codec.ErrVersion), codec.CodeUnsupportedVersion},
		{"unknown type", codec.ErrUnknownType, codec.CodeUnknownType},
		{"flags", codec.ErrFlags, codec.CodeInvalidFlags},
		{"reserved byte", codec.ErrReserved, codec.CodeInvalidFlags},
		{"short packet", codec.ErrShortPacket, codec.CodeMalformedFrame},
		{"frame too short", codec.ErrFrameTooShort, codec.CodeMalformedFrame},
		{"body error", bodyErr, codec.CodeInvalidBody},
		{"trailing bytes", codec.ErrTrailingBytes, codec.CodeInvalidBody},
		{"body not map", codec.ErrBodyNotMap, codec.CodeInvalidBody},
		{"field type", codec.ErrFieldType, codec.CodeInvalidBody},
		{"missing field", codec.ErrMissingField, codec.CodeInvalidBody},
		{"invalid msgpack", codec.ErrInvalidMsgpack, codec.CodeInvalidBody},
		{"too long", codec.ErrTooLong, codec.CodeInvalidBody},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := codec.CodeOf(tc.err); got != tc.want {
				t.Errorf("CodeOf(%v) = %d (%v), want %d (%v)", tc.err, got, got, tc.want, tc.want)
			}
		})
	}
}

// Every error a parser in this package returns maps to a fatal code: a
// malformed packet ends the session.
func TestParseErrorsAreFatal(t *testing.T) {
	t.Parallel()
	for _, err := range []error{
		&codec.FrameSizeError{}, codec.ErrVersion, codec.ErrUnknownType, codec.ErrFlags, codec.ErrReserved,
		codec.ErrShortPacket, codec.ErrFrameTooShort, &codec.BodyError{Err: codec.ErrFieldType},
	} {
		if c := codec.CodeOf(err); !c.Fatal() {
			t.Errorf("CodeOf(%v) = %d, want a fatal code", err, c)
		}
	}
}

func TestErrorMessages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want string
	}{
		{&codec.FrameSizeError{Len: 2000, Max: 1024}, "codec: frame of 2000 bytes exceeds limit of 1024"},
		{&codec.BodyError{Type: codec.TypeJoin, Field: "rooms", Err: codec.ErrMissingField}, `codec: JOIN body: field "rooms": codec: missing required field`},
		{&codec.BodyError{Type: codec.TypeAck, Err: codec.ErrBodyNotMap}, "codec: ACK body: codec: body is not a msgpack map"},
	}
	for _, tc := range tests {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
	be := &codec.BodyError{Err: codec.ErrFieldType}
	if !errors.Is(be, codec.ErrFieldType) {
		t.Errorf("errors.Is(BodyError{Err: ErrFieldType}, ErrFieldType) = false, want true")
	}
}
