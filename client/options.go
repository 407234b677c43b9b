package client

import (
	"crypto/tls"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/packetd/packetd/codec"
)

// dedupIDs is how many QoS 1 EMIT ids the server remembers per session
// (the protocol's minimum): a resent EMIT must come back before this many
// newer ones were sent, or the server would broadcast it twice.
const dedupIDs = 1024

// Options configures a Client. A nil *Options, and zero fields, mean the
// defaults given.
type Options struct {
	// KeepAlive is the interval asked of the server; the client sends a
	// PING when it has sent nothing for half the interval the server
	// grants. 0 takes the server's default.
	KeepAlive time.Duration
	// RetryTimeout is the first wait before a UDP request (HELLO, JOIN,
	// LEAVE) is sent again; it doubles on each retry. A QoS 1 EMIT over
	// UDP waits RetryTimeout randomised up to 1.5 times, doubling.
	// Default 1 s.
	RetryTimeout time.Duration
	// MaxRetries is how many times a UDP request is resent on one
	// connection before it fails with ErrTimeout. A QoS 1 EMIT resent
	// that many times in vain does not fail alone (its number would be
	// missing from the session): it ends the connection, and is resent
	// on the next one with Reconnect, or fails, with every other
	// unacknowledged EMIT, as the client closes. Default 4.
	MaxRetries int
	// MaxFrame is the largest TCP packet accepted from the server. 0
	// means the max_frame the server announces in WELCOME (the server
	// sends nothing larger), and codec.DefaultMaxFrame until then.
	MaxFrame int
	// MessageBuffer is the capacity of the Messages channel. Default 1024.
	// When it is full the reader waits: TCP pushes back on the server,
	// UDP datagrams overflow the socket buffer and are lost (QoS 1 ones
	// are retransmitted).
	MessageBuffer int
	// OnError receives ERRORs that answer no pending request: a rejected
	// QoS 0 EMIT, or a rejected QoS 1 EMIT sent with Emit rather than
	// EmitWait. It runs on the reader goroutine and must not block.
	OnError func(*ServerError)
	// TLSConfig configures tls:// connections. nil verifies the server's
	// certificate against the system's roots for the URL's host name; set
	// RootCAs for a private CA, and Certificates to present a client
	// certificate (mTLS).
	TLSConfig *tls.Config

	// ClientID names the session so that it outlives one connection: a
	// HELLO with the same id takes the session over from any other
	// connection (which gets BYE 306). 1 to 128 bytes of UTF-8; empty for
	// an anonymous session.
	ClientID string
	// Persist asks the server to resume ClientID's stored session, if it
	// has one, and to keep the session, its rooms and its undelivered
	// QoS 1 messages, for Expiry after the connection ends. Without it a
	// HELLO with ClientID discards any stored session of that id.
	Persist bool
	// Expiry is how long the server keeps a persistent session after its
	// connection ends; 0 takes the server's default (2 h). Whole seconds.
	Expiry time.Duration
	// Inflight is the receive window asked of the server: how many QoS 1
	// MESSAGEs it sends ahead of the client's ACKs. 0 takes the server's
	// default (20).
	Inflight int
	// User and Password, or Token, are the credentials the HELLO carries
	// for a server that authenticates its clients (docs/PROTOCOL.md
	// section 4.1.1): a user of its credentials file, or a JWT. Refused
	// credentials fail Dial with a *ServerError of code 308; with
	// credentials, ClientID must be empty or the principal's name.
	User, Password string
	Token          string
	// PublishWindow is how many QoS 1 EMITs may await their ACK at once;
	// Emit blocks while that many do. Default 100, at most 1024.
	PublishWindow int

	// Reconnect, for a persistent session (ClientID and Persist), makes
	// the client reconnect when the connection is lost, with exponential
	// backoff and jitter from ReconnectMin to ReconnectMax, and resume the
	// session: Messages stays open, QoS 1 EMITs not yet acknowledged are
	// sent again, and delivery carries on in order. It does not reconnect
	// after Close, after BYE 306 (another connection took the session),
	// or after a protocol error (codes below 200). A client with Reconnect
	// also watches the server: silence for 1.5 keepalive intervals, or a
	// QoS 1 EMIT unacknowledged after MaxRetries (UDP), ends the
	// connection and starts a reconnection.
	Reconnect    bool
	ReconnectMin time.Duration // first delay before reconnecting; default 100 ms
	ReconnectMax time.Duration // longest delay between attempts; default 10 s

	// OnMissed is called with the number of QoS 1 messages the session
	// lost to the server's queue limits while the client was away, when a
	// WELCOME reports some. It runs on the goroutine that received the
	// WELCOME (Dial's caller for the first) and must not block.
	OnMissed func(n uint64)
	// OnDisconnect is called when the connection of a client with
	// Reconnect is lost, with the reason, before reconnecting.
	// OnReconnect is called after each successful reconnection with the
	// server's WELCOME (Resumed reports whether the session was kept).
	// Both run on the reader goroutine and must not block.
	OnDisconnect func(err error)
	OnReconnect  func(w codec.Welcome)
}

func (o *Options) withDefaults() (Options, error) {
	var out Options
	if o != nil {
		out = *o
	}
	if out.RetryTimeout == 0 {
		out.RetryTimeout = time.Second
	}
	if out.MaxRetries == 0 {
		out.MaxRetries = 4
	}
	if out.MessageBuffer == 0 {
		out.MessageBuffer = 1024
	}
	if out.PublishWindow == 0 {
		out.PublishWindow = 100
	}
	if out.ReconnectMin == 0 {
		out.ReconnectMin = 100 * time.Millisecond
	}
	if out.ReconnectMax == 0 {
		out.ReconnectMax = 10 * time.Second
	}
	switch {
	case len(out.ClientID) > codec.MaxClientID || !utf8.ValidString(out.ClientID):
		return out, fmt.Errorf("%w: ClientID must be at most %d bytes of UTF-8", ErrOptions, codec.MaxClientID)
	case out.Persist && out.ClientID == "":
		return out, fmt.Errorf("%w: Persist needs a ClientID", ErrOptions)
	case out.Reconnect && !out.Persist:
		return out, fmt.Errorf("%w: Reconnect needs a persistent session (ClientID and Persist)", ErrOptions)
	case out.PublishWindow < 0 || out.PublishWindow > dedupIDs:
		return out, fmt.Errorf("%w: PublishWindow %d not in [1, %d]", ErrOptions, out.PublishWindow, dedupIDs)
	case out.Inflight < 0 || out.MaxRetries < 0 || out.MessageBuffer < 0 || out.MaxFrame < 0:
		return out, fmt.Errorf("%w: negative limit", ErrOptions)
	case out.KeepAlive < 0 || out.Expiry < 0 || out.RetryTimeout < 0:
		return out, fmt.Errorf("%w: negative duration", ErrOptions)
	case out.ReconnectMin < 0 || out.ReconnectMax < out.ReconnectMin:
		return out, fmt.Errorf("%w: reconnect delays [%v, %v] invalid", ErrOptions, out.ReconnectMin, out.ReconnectMax)
	}
	return out, nil
}

// hello returns the HELLO the options ask for; each handshake sends a copy.
func (o *Options) hello() codec.Hello {
	return codec.Hello{
		KeepAlive: uint32(o.KeepAlive / time.Second),
		ClientID:  []byte(o.ClientID),
		Persist:   o.Persist,
		Expiry:    uint32(o.Expiry / time.Second),
		Inflight:  uint32(o.Inflight),
		User:      []byte(o.User),
		Pass:      []byte(o.Password),
		Token:     []byte(o.Token),
	}
}
