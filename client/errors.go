package client

import (
	"errors"
	"fmt"

	"github.com/packetd/packetd/codec"
)

// ServerError is an ERROR or BYE from the server.
type ServerError struct {
	Code codec.Code
	Msg  string
	ID   uint32 // the request it answers, 0 for none
}

func (e *ServerError) Error() string {
	return fmt.Sprintf("packetd: %s (code %d)", e.Msg, uint16(e.Code))
}

var (
	// ErrClosed is returned by calls on a closed Client, and fails the
	// QoS 1 EMITs still unacknowledged when it closes.
	ErrClosed = errors.New("client: closed")
	// ErrTimeout means a UDP request went unanswered after every retry.
	// A client without Reconnect whose QoS 1 EMIT went unanswered after
	// every retry closes with an error that wraps it.
	ErrTimeout = errors.New("client: no answer from server")
	// ErrNotConnected is returned by calls that need the connection (a
	// QoS 0 EMIT, a PING) while a persistent session reconnects.
	ErrNotConnected = errors.New("client: not connected")
	// ErrTooLarge means an EMIT does not fit in the server's max_frame
	// (TCP) or max_datagram (UDP).
	ErrTooLarge = errors.New("client: packet too large for the server")
	// ErrNoResponse means the server went silent: nothing came back for
	// 1.5 keepalive intervals although the client sent PINGs. Only a
	// client with Reconnect watches for it; it then reconnects.
	ErrNoResponse = errors.New("client: server stopped answering")
	// ErrOptions is wrapped by Dial's errors for invalid Options.
	ErrOptions = errors.New("client: invalid options")
)

// takenOver reports whether err says another connection took the session.
func takenOver(err error) bool {
	var se *ServerError
	return errors.As(err, &se) && se.Code == codec.CodeTakenOver
}
