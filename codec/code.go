package codec

import (
	"errors"
	"strconv"
)

// Code is the numeric error code an ERROR or BYE carries. Codes below 200
// and from 300 up end the session (over TCP the server closes the connection
// after sending them); codes 200-299 answer one request and the session goes
// on. docs/PROTOCOL.md has the same table.
type Code uint16

const (
	CodeNormal Code = 0 // BYE: an orderly close

	// Protocol violations: the session ends.
	CodeMalformedFrame     Code = 100 // length prefix under 8, or a datagram cut short
	CodeUnsupportedVersion Code = 101 // header version is not 1
	CodeUnknownType        Code = 102 // header type names no packet type
	CodeFrameTooLarge      Code = 103 // frame or datagram over the limit
	CodeInvalidBody        Code = 104 // body is not the type's msgpack map
	CodeUnexpectedPacket   Code = 105 // valid packet at the wrong time or in the wrong direction
	CodeInvalidFlags       Code = 106 // reserved header bits or byte set

	// Request errors: the request with the ERROR's id failed, nothing else.
	CodeInvalidRoom    Code = 200 // room name empty, too long, not UTF-8, or reserved
	CodeTooManyRooms   Code = 201 // the session would exceed its room limit
	CodeTooManyTargets Code = 202 // EMIT lists too many rooms or exceptions
	CodeInvalidEvent   Code = 203 // event name too long or not UTF-8
	CodeQoSUnsupported Code = 204 // QoS level this server does not provide
	CodeTooLarge       Code = 205 // the MESSAGE an EMIT would make exceeds max_frame
	CodeInvalidEmit    Code = 206 // UDP: a QoS 1 EMIT's body is invalid; its number is used up
	CodeForbidden      Code = 207 // the session may not JOIN or EMIT to a room (ACL); msg names it
	CodeRoomFull       Code = 208 // a room to JOIN holds the most members the server allows

	// Server conditions: the session ends.
	CodeServerFull       Code = 300 // session limit reached
	CodeShuttingDown     Code = 301 // the server is stopping
	CodeIdleTimeout      Code = 302 // nothing received for 1.5 keepalives
	CodeSlowConsumer     Code = 303 // the client did not read fast enough
	CodeHandshakeTimeout Code = 304 // no HELLO in time
	CodeUnknownSession   Code = 305 // UDP session id unknown or expired: send HELLO again
	CodeTakenOver        Code = 306 // another connection took the session over (same client id)
	CodeDisconnected     Code = 307 // an operator ended the session (packetd's admin API)
	CodeNotAuthorized    Code = 308 // HELLO's credentials were refused, or required and missing
	CodeTooManyAttempts  Code = 309 // too many HELLOs, or failed authentications, from the address
	CodeRateLimited      Code = 310 // the session sent more packets or bytes a second than the server allows
)

var codeText = map[Code]string{
	CodeNormal:             "normal close",
	CodeMalformedFrame:     "malformed frame",
	CodeUnsupportedVersion: "unsupported protocol version",
	CodeUnknownType:        "unknown packet type",
	CodeFrameTooLarge:      "frame too large",
	CodeInvalidBody:        "invalid body",
	CodeUnexpectedPacket:   "unexpected packet",
	CodeInvalidFlags:       "invalid flags",
	CodeInvalidRoom:        "invalid room name",
	CodeTooManyRooms:       "too many rooms",
	CodeTooManyTargets:     "too many target rooms",
	CodeInvalidEvent:       "invalid event name",
	CodeQoSUnsupported:     "QoS level not supported",
	CodeTooLarge:           "message too large",
	CodeInvalidEmit:        "invalid EMIT body",
	CodeForbidden:          "permission denied",
	CodeRoomFull:           "room full",
	CodeServerFull:         "server full",
	CodeShuttingDown:       "server shutting down",
	CodeIdleTimeout:        "idle timeout",
	CodeSlowConsumer:       "slow consumer",
	CodeHandshakeTimeout:   "handshake timeout",
	CodeUnknownSession:     "unknown session",
	CodeTakenOver:          "session taken over",
	CodeDisconnected:       "disconnected by operator",
	CodeNotAuthorized:      "not authorized",
	CodeTooManyAttempts:    "too many attempts",
	CodeRateLimited:        "rate limit exceeded",
}

// Fatal reports whether an ERROR or BYE with this code ends the session.
func (c Code) Fatal() bool { return c < 200 || c >= 300 }

// Known reports whether this protocol version defines c.
func (c Code) Known() bool {
	_, ok := codeText[c]
	return ok
}

func (c Code) String() string {
	if s, ok := codeText[c]; ok {
		return s
	}
	return "code " + strconv.Itoa(int(c))
}

// CodeOf maps a parse error from this package to the code the server sends
// for it.
func CodeOf(err error) Code {
	switch {
	case err == nil:
		return CodeNormal
	case errors.As(err, new(*FrameSizeError)):
		return CodeFrameTooLarge
	case errors.Is(err, ErrVersion):
		return CodeUnsupportedVersion
	case errors.Is(err, ErrUnknownType):
		return CodeUnknownType
	case errors.Is(err, ErrFlags), errors.Is(err, ErrReserved):
		return CodeInvalidFlags
	case errors.Is(err, ErrShortPacket), errors.Is(err, ErrFrameTooShort):
		return CodeMalformedFrame
	default:
		return CodeInvalidBody
	}
}
