// Package client is packetd's Go client: one API over TCP and UDP.
//
//	c, err := client.Dial(ctx, "udp://127.0.0.1:7070", nil)
//	err = c.Join(ctx, "kitchen")
//	err = c.Emit(client.Emit{Rooms: []string{"kitchen"}, Event: "temp", Data: 21.5})
//	for m := range c.Messages() { ... }
//
// Over UDP the client pads its HELLO for the server's anti-amplification
// budget, retransmits HELLO, JOIN and LEAVE until answered, carries the
// secret key of its WELCOME (not the public session id) in every datagram,
// and answers the server's path-validation
// PINGs, so a NAT rebinding does not lose the session.
//
// # QoS 1
//
// An Emit with QoS 1 is acknowledged by the server once it accepted the
// message (durably, if persistent sessions will receive it). Until then
// the client keeps it: over UDP it resends it (same id, DUP) on a timer,
// and after a reconnection it resends it on the new connection; the server
// broadcasts each id once. EmitWait and Flush wait for the ACKs.
//
// QoS 1 EMITs are numbered 1, 2, 3, ... within a session, and the server
// takes them in that order, holding every later one while a number is
// missing: so the client never gives one up while its session goes on.
// Over TCP it waits for the ACK as long as the connection lives. Over
// UDP, an EMIT still unanswered after MaxRetries retransmissions means
// the connection is dead: a client with Reconnect reconnects, resumes the
// session and sends the EMIT again; any other client closes, with an
// error that wraps ErrTimeout (Err), and every EMIT not yet acknowledged
// fails with that error.
//
// The ids of JOIN, LEAVE, PING and QoS 0 EMIT count down from 4294967295
// while the QoS 1 numbers count up, and never equal a number in use: an
// ACK or ERROR, which carries only the id, is never credited to the
// wrong request. The HELLO's id is a random nonce.
//
// A QoS 1 MESSAGE carries its session's delivery number. The client ACKs
// every copy and puts each message on Messages once, in number order,
// holding early arrivals until the gap before them fills.
//
// # Sessions that outlive connections
//
// With Options.ClientID and Options.Persist the server keeps the session,
// its rooms and its undelivered QoS 1 messages after the connection ends;
// a later Dial with the same ClientID resumes it. With Options.Reconnect
// the Client does that itself: when the connection is lost it reconnects
// with backoff, resumes the session, resends what the server did not
// acknowledge, and Messages carries on as one stream.
//
// # Guarantees
//
// Within one Client and one server epoch each QoS 1 message is delivered
// once, in order. When the server restarts (a new epoch) its numbering
// starts again, and a message it had not recorded as acknowledged comes
// again: at least once. A new Client that resumes a session starts at
// the WELCOME's next, the oldest number the server has not seen
// acknowledged, so what the previous Client received without its ACK
// reaching the server comes again. (A server that predates next does not
// say; the Client then starts at the first QoS 1 MESSAGE, which over TCP
// is exact; over UDP an older one reordered behind it is still delivered,
// late.) A Client ACKs a message
// when it receives it: read Messages to the end after Close, or what it
// holds is lost.
//
// A Client is safe for concurrent use. It runs a reader goroutine (which
// also reconnects), a keepalive goroutine and, over UDP, a retransmission
// goroutine; Close stops them and waits for them.
package client

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/packetd/packetd/codec"
)

// Message is one MESSAGE received.
type Message struct {
	// ID is the server's message id at QoS 0, and the session's delivery
	// number at QoS 1 (1, 2, 3, ... within a server epoch).
	ID    uint32
	QoS   uint8    // 0 or 1
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
	// QoS is 0 (at most once, no acknowledgement) or 1 (at least once:
	// kept and resent until the server acknowledges it).
	QoS uint8
}

// Client is a session with a packetd server.
type Client struct {
	opts   Options
	scheme string
	addr   string
	hello  codec.Hello // asked for on every connection

	lastSent atomic.Int64 // unix nanoseconds
	lastRecv atomic.Int64 // unix nanoseconds; while busy, not advancing is not silence
	busy     atomic.Bool  // the reader is waiting for the application to take a message
	stats    counters

	// sendMu orders QoS 1 EMITs: those a new connection resends follow its
	// WELCOME before any new one. Taken before mu.
	sendMu sync.Mutex

	mu      sync.Mutex    // guards the fields below
	cn      *conn         // the connection in use; nil while reconnecting
	changed chan struct{} // closed and replaced whenever cn changes
	welcome codec.Welcome // the last
	pending map[uint32]chan error
	reqID   uint32 // the last request id: they count down from 4294967295
	pub     publisher
	rooms   map[string]struct{} // joined, to join again if a session is lost
	err     error               // why the client closed

	in inbound // QoS 1 order; the reader goroutine's

	msgs   chan *Message
	kick   chan struct{} // wakes the retransmission goroutine
	done   chan struct{}
	ctx    context.Context // cancelled when the client closes
	cancel context.CancelFunc
	closed sync.Once
	wg     sync.WaitGroup
}

// Dial connects to a server at "tcp://host:port", "udp://host:port" or
// "tls://host:port" (TCP in TLS: Options.TLSConfig) and
// opens a session (or resumes one: Options.ClientID and Persist). ctx
// bounds the connection and the handshake only.
func Dial(ctx context.Context, rawURL string, opts *Options) (*Client, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	if u.Scheme != "tcp" && u.Scheme != "udp" && u.Scheme != "tls" {
		return nil, fmt.Errorf("client: scheme %q is not tcp, udp or tls", u.Scheme)
	}
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	c := newClient(u.Scheme, u.Host, o)
	cn, w, err := c.dial(ctx)
	if err != nil {
		c.cancel()
		return nil, err
	}
	c.establish(cn, w, false)
	c.wg.Add(2)
	go c.run(cn)
	go c.keepAliveLoop(cn.keepAlive)
	if cn.t.unreliable() {
		c.wg.Add(1)
		go c.retransmitLoop()
	}
	return c, nil
}

func newClient(scheme, addr string, o Options) *Client {
	c := &Client{opts: o, scheme: scheme, addr: addr, hello: o.hello(),
		changed: make(chan struct{}), pending: make(map[uint32]chan error),
		rooms: make(map[string]struct{}), msgs: make(chan *Message, o.MessageBuffer),
		kick: make(chan struct{}, 1), done: make(chan struct{})}
	c.pub.init()
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c
}

// SessionID returns the session's id, which is also its own room's name.
// It changes only if a reconnection found the session gone.
func (c *Client) SessionID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return string(c.welcome.SessionID)
}

// Welcome returns the server's last WELCOME: keepalive, limits, and for a
// persistent session whether it was resumed.
func (c *Client) Welcome() codec.Welcome {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.welcome
}

// Messages returns the channel MESSAGEs arrive on, for the client's whole
// life, reconnections included. It is closed when the client closes;
// what it holds then can still be read.
func (c *Client) Messages() <-chan *Message { return c.msgs }

// Done is closed when the session ends; Err then says why.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the client closed: nil while open, ErrClosed after
// Close, or the server's *ServerError (BYE or a fatal ERROR), or the
// connection's failure.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Join joins rooms; it returns when the server acknowledged, with a
// *ServerError if it refused. While a client with Reconnect is
// reconnecting, it waits for the new connection.
func (c *Client) Join(ctx context.Context, rooms ...string) error {
	return c.request(ctx, codec.TypeJoin, rooms)
}

// Leave leaves rooms, like Join.
func (c *Client) Leave(ctx context.Context, rooms ...string) error {
	return c.request(ctx, codec.TypeLeave, rooms)
}

// Ping sends a PING; the server's PONG is not waited for.
func (c *Client) Ping() error {
	return c.send(codec.Header{Type: codec.TypePing, ID: c.newID()}, nil)
}

// Close says BYE and closes the connection. QoS 1 EMITs not yet
// acknowledged fail with ErrClosed (call Flush first to wait for them). A
// persistent session stays on the server until it expires. Close is
// idempotent; it must not be called from an Options callback.
func (c *Client) Close() error {
	c.mu.Lock()
	cn := c.cn
	open := c.err == nil
	c.mu.Unlock()
	if cn != nil && open {
		_ = c.sendOn(cn, codec.Header{Type: codec.TypeBye}, nil)
	}
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
	// Over UDP the request or its answer may be lost: send it again, same
	// id, after RetryTimeout, doubling; the server's handling is
	// idempotent. Over TCP wait for the answer. On a new connection send
	// it again.
	var (
		sentOn *conn
		tries  int
		wait   time.Duration
	)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		c.mu.Lock()
		cn, changed := c.cn, c.changed
		c.mu.Unlock()
		if cn != nil && cn != sentOn {
			sentOn, tries, wait = cn, 0, c.opts.RetryTimeout
			if err := c.sendOn(cn, h, body); err != nil && !c.opts.Reconnect {
				return err
			}
		}
		var retry <-chan time.Time
		if cn != nil && cn.t.unreliable() {
			timer.Reset(wait)
			retry = timer.C
		}
		select {
		case err := <-ch:
			if err == nil {
				c.trackRooms(t, rooms)
			}
			return err
		case <-ctx.Done():
			return ctx.Err()
		case <-c.done:
			return c.Err()
		case <-changed:
		case <-retry:
			if tries == c.opts.MaxRetries {
				return ErrTimeout
			}
			tries++
			if err := c.sendOn(cn, h, body); err != nil && !c.opts.Reconnect {
				return err
			}
			wait = min(2*wait, max(maxRetryWait, c.opts.RetryTimeout))
		}
	}
}

// maxRetryWait caps the doubled wait between retransmissions (RFC 6298
// allows a cap of at least 60 s), as the server does.
const maxRetryWait = 60 * time.Second

// trackRooms records a JOIN or LEAVE the server acknowledged.
func (c *Client) trackRooms(t codec.Type, rooms []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range rooms {
		if t == codec.TypeJoin {
			c.rooms[r] = struct{}{}
		} else {
			delete(c.rooms, r)
		}
	}
}

// send sends one packet on the connection in use.
func (c *Client) send(h codec.Header, body codec.Body) error {
	c.mu.Lock()
	cn, err := c.cn, c.err
	c.mu.Unlock()
	switch {
	case err != nil:
		return ErrClosed
	case cn == nil:
		return ErrNotConnected
	}
	return c.sendOn(cn, h, body)
}

func (c *Client) sendOn(cn *conn, h codec.Header, body codec.Body) error {
	c.lastSent.Store(time.Now().UnixNano())
	return cn.t.send(h, body)
}

// newID returns the id of a JOIN, LEAVE, PING or QoS 0 EMIT. An ACK or
// ERROR carries only an id, so request ids must not be the numbers of QoS
// 1 EMITs (PROTOCOL.md section 2.3): they count down from 4294967295 while
// the numbers count up, skipping 0, the numbers awaiting their answer and
// the next ones to be used.
func (c *Client) newID() uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		c.reqID--
		if id := c.reqID; id != 0 && !c.pub.numberLocked(id) {
			return id
		}
	}
}

// notifyLocked wakes whoever waits for cn to change.
func (c *Client) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *Client) closing() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// shutdown ends the client for good with err: the connection closes
// (after flushing what is queued, a BYE say) and unacknowledged QoS 1
// EMITs fail.
func (c *Client) shutdown(err error) {
	c.closed.Do(func() {
		c.mu.Lock()
		c.err = err
		cn := c.cn
		c.cn = nil
		c.notifyLocked()
		left := c.pub.unresolvedLocked()
		c.mu.Unlock()
		close(c.done)
		c.cancel()
		if cn != nil {
			_ = cn.t.close()
		}
		for _, pe := range left {
			c.resolve(pe, err)
		}
	})
}

func byteSlices(ss []string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}
