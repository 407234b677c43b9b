// Package client is packetd's Go client: one API over TCP and UDP.
//
//	c, err := client.Dial(ctx, "udp://127.0.0.1:7070", nil)
//	err = c.Join(ctx, "kitchen")
//	err = c.Emit(client.Emit{Rooms: []string{"kitchen"}, Event: "temp", Data: 21.5})
//	for m := range c.Messages() { ... }
//
// Over UDP the client pads its HELLO for the server's anti-amplification
// budget, retransmits HELLO, JOIN and LEAVE until answered, carries its
// session id in every datagram, and answers the server's path-validation
// PINGs, so a NAT rebinding does not lose the session.
//
// A Client is safe for concurrent use.
package client

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/packetd/packetd/codec"
)

// Options configures a Client. A nil *Options, and zero fields, mean the
// defaults given.
type Options struct {
	// KeepAlive is the interval asked of the server; the client sends a
	// PING when it has sent nothing for half the interval the server
	// grants. 0 takes the server's default.
	KeepAlive time.Duration
	// RetryTimeout is the first wait before a UDP request (HELLO, JOIN,
	// LEAVE) is sent again; it doubles on each retry. Default 1 s.
	RetryTimeout time.Duration
	// MaxRetries is how many times a UDP request is resent. Default 4.
	MaxRetries int
	// MaxFrame is the largest TCP packet accepted from the server. 0
	// means the max_frame the server announces in WELCOME (the server
	// sends nothing larger), and codec.DefaultMaxFrame until then.
	MaxFrame int
	// MessageBuffer is the capacity of the Messages channel. Default 1024.
	// When it is full the reader waits: TCP pushes back on the server,
	// UDP datagrams overflow the socket buffer and are lost.
	MessageBuffer int
	// OnError receives ERRORs that answer no pending request (a rejected
	// EMIT, for one). It runs on the reader goroutine and must not block.
	OnError func(*ServerError)
}

func (o *Options) withDefaults() Options {
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
	return out
}

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
	// ErrClosed is returned by calls on a closed Client.
	ErrClosed = errors.New("client: closed")
	// ErrTimeout means a UDP request went unanswered after every retry.
	ErrTimeout = errors.New("client: no answer from server")
)

// Message is one MESSAGE received.
type Message struct {
	ID    uint32   // the server's message id
	Rooms []string // the rooms the sender emitted to
	From  string   // the sender's session id
	Event string
	Data  []byte // the payload as a raw msgpack value; nil if none
}

// Decode unmarshals the payload into v.
func (m *Message) Decode(v any) error { return msgpack.Unmarshal(m.Data, v) }

// Emit describes one EMIT.
type Emit struct {
	Rooms  []string // required
	Except []string // rooms (or session ids) whose members are skipped
	Event  string
	// Data is the payload, encoded with msgpack. Raw, if set, is used
	// instead: an already encoded msgpack value.
	Data any
	Raw  []byte
	Echo bool // deliver to this client too, if it is a recipient
}

// Client is a session with a packetd server.
type Client struct {
	opts      Options
	t         transport
	sessionID string
	keepAlive time.Duration
	welcome   codec.Welcome

	nextID   atomic.Uint32
	lastSent atomic.Int64 // unix nanoseconds

	mu      sync.Mutex // guards the fields below
	pending map[uint32]chan error
	err     error // why the client closed

	msgs   chan *Message
	done   chan struct{}
	closed sync.Once
	wg     sync.WaitGroup
}

// Dial connects to a server at "tcp://host:port" or "udp://host:port" and
// opens a session. ctx bounds the connection and the handshake only.
func Dial(ctx context.Context, rawURL string, opts *Options) (*Client, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	o := opts.withDefaults()
	c := &Client{opts: o, pending: make(map[uint32]chan error),
		msgs: make(chan *Message, o.MessageBuffer), done: make(chan struct{})}
	c.nextID.Store(randomUint32())
	hello := &codec.Hello{KeepAlive: uint32(o.KeepAlive / time.Second)}
	switch u.Scheme {
	case "tcp":
		c.t, err = dialTCP(ctx, u.Host, o)
	case "udp":
		c.t, err = dialUDP(ctx, u.Host, o)
	default:
		return nil, fmt.Errorf("client: scheme %q is neither tcp nor udp", u.Scheme)
	}
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	if err := c.t.handshake(ctx, c.newID(), hello, &c.welcome); err != nil {
		_ = c.t.close()
		return nil, fmt.Errorf("client: handshake: %w", err)
	}
	if tt, ok := c.t.(*tcpTransport); ok && o.MaxFrame == 0 && c.welcome.MaxFrame > 0 {
		tt.fr.SetMax(int(c.welcome.MaxFrame))
	}
	c.sessionID = string(c.welcome.SessionID)
	c.keepAlive = time.Duration(c.welcome.KeepAlive) * time.Second
	c.lastSent.Store(time.Now().UnixNano())
	if c.t.unreliable() {
		// The server validates a UDP address by the first datagram that
		// carries the session id; until then it sends the address at most
		// three times what it received. Validate now.
		if err := c.Ping(); err != nil {
			_ = c.t.close()
			return nil, fmt.Errorf("client: %w", err)
		}
	}
	c.wg.Add(2)
	go c.readLoop()
	go c.keepAliveLoop()
	return c, nil
}

// SessionID returns the session's id, which is also its own room's name.
func (c *Client) SessionID() string { return c.sessionID }

// Welcome returns the server's WELCOME: keepalive and limits.
func (c *Client) Welcome() codec.Welcome { return c.welcome }

// Messages returns the channel MESSAGEs arrive on. It is closed when the
// client closes.
func (c *Client) Messages() <-chan *Message { return c.msgs }

// Done is closed when the session ends; Err then says why.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the client closed: nil while open, ErrClosed after
// Close, or the server's *ServerError (BYE or a fatal ERROR).
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Join joins rooms; it returns when the server acknowledged, with a
// *ServerError if it refused.
func (c *Client) Join(ctx context.Context, rooms ...string) error {
	return c.request(ctx, codec.TypeJoin, rooms)
}

// Leave leaves rooms, like Join.
func (c *Client) Leave(ctx context.Context, rooms ...string) error {
	return c.request(ctx, codec.TypeLeave, rooms)
}

// Emit sends an EMIT at QoS 0: at most once, no acknowledgement. Errors
// the server reports come to Options.OnError.
func (c *Client) Emit(e Emit) error {
	body := codec.Emit{Event: []byte(e.Event), Echo: e.Echo, Data: e.Raw}
	body.Rooms = byteSlices(e.Rooms)
	body.Except = byteSlices(e.Except)
	if e.Raw == nil && e.Data != nil {
		data, err := msgpack.Marshal(e.Data)
		if err != nil {
			return fmt.Errorf("client: encoding data: %w", err)
		}
		body.Data = data
	}
	return c.send(codec.Header{Type: codec.TypeEmit, ID: c.newID()}, &body)
}

// Ping sends a PING; the server's PONG is not waited for.
func (c *Client) Ping() error {
	return c.send(codec.Header{Type: codec.TypePing, ID: c.newID()}, nil)
}

// Close says BYE and closes the connection. It is idempotent.
func (c *Client) Close() error {
	_ = c.send(codec.Header{Type: codec.TypeBye}, nil)
	c.shutdown(ErrClosed)
	c.wg.Wait()
	return nil
}

func (c *Client) request(ctx context.Context, t codec.Type, rooms []string) error {
	id := c.newID()
	ch := make(chan error, 1)
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return c.err
	}
	c.pending[id] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}()
	h := codec.Header{Type: t, ID: id}
	body := &codec.Rooms{Rooms: byteSlices(rooms)}
	if err := c.send(h, body); err != nil {
		return err
	}
	// Over UDP the request or its answer may be lost: send it again, same
	// id, after RetryTimeout, doubling; the server's handling is
	// idempotent. Over TCP wait for the answer.
	wait := c.opts.RetryTimeout
	for tries := 0; ; tries++ {
		var retry <-chan time.Time
		if c.t.unreliable() {
			timer := time.NewTimer(wait)
			defer timer.Stop()
			retry = timer.C
		}
		select {
		case err := <-ch:
			return err
		case <-ctx.Done():
			return ctx.Err()
		case <-c.done:
			return c.Err()
		case <-retry:
			if tries == c.opts.MaxRetries {
				return ErrTimeout
			}
			if err := c.send(h, body); err != nil {
				return err
			}
			wait *= 2
		}
	}
}

func (c *Client) send(h codec.Header, body codec.Body) error {
	select {
	case <-c.done:
		return ErrClosed
	default:
	}
	c.lastSent.Store(time.Now().UnixNano())
	return c.t.send(h, body)
}

// newID returns a request id, never 0.
func (c *Client) newID() uint32 {
	for {
		if id := c.nextID.Add(1); id != 0 {
			return id
		}
	}
}

func (c *Client) shutdown(err error) {
	c.closed.Do(func() {
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
		close(c.done)
		_ = c.t.close()
	})
}

func byteSlices(ss []string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}
