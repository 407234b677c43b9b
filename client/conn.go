package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/packetd/packetd/codec"
)

// dialTimeout bounds one reconnection attempt: connection and handshake.
const dialTimeout = 10 * time.Second

// conn is one connection of a client: a transport past its handshake.
// A client has at most one in use; a reconnection replaces it.
type conn struct {
	t         transport
	keepAlive time.Duration // granted by the server

	mu      sync.Mutex // guards the fields below
	dropped bool
	reason  error // why the client dropped it
}

// drop closes the connection at once, recording why: the reader then
// sees it fail and reconnects (or ends the client).
func (cn *conn) drop(reason error) {
	cn.mu.Lock()
	if cn.dropped {
		cn.mu.Unlock()
		return
	}
	cn.dropped, cn.reason = true, reason
	cn.mu.Unlock()
	_ = cn.t.abort()
}

func (cn *conn) dropReason() error {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	return cn.reason
}

// dial opens a connection and performs the handshake.
func (c *Client) dial(ctx context.Context) (*conn, *codec.Welcome, error) {
	var (
		t   transport
		err error
	)
	if c.scheme == "udp" {
		t, err = dialUDP(ctx, c.addr, c.opts)
	} else {
		t, err = dialTCP(ctx, c.addr, c.opts, c.scheme == "tls")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("client: %w", err)
	}
	hello := c.hello // a copy: the UDP handshake pads it
	w := new(codec.Welcome)
	// Over UDP the HELLO's id is a random nonce (PROTOCOL.md section 6.2);
	// it is no request id.
	nonce := randomUint32()
	for nonce == 0 {
		nonce = randomUint32()
	}
	if err := t.handshake(ctx, nonce, &hello, w); err != nil {
		_ = t.abort()
		return nil, nil, fmt.Errorf("client: handshake: %w", err)
	}
	if tt, ok := t.(*tcpTransport); ok && c.opts.MaxFrame == 0 && w.MaxFrame > 0 {
		tt.fr.SetMax(int(w.MaxFrame))
	}
	cn := &conn{t: t, keepAlive: time.Duration(w.KeepAlive) * time.Second}
	if t.unreliable() {
		// The server validates a UDP address by the first datagram that
		// carries the session id; until then it sends the address at most
		// three times what it received. Validate now.
		if err := c.sendOn(cn, codec.Header{Type: codec.TypePing, ID: c.newID()}, nil); err != nil {
			_ = t.abort()
			return nil, nil, fmt.Errorf("client: %w", err)
		}
	}
	return cn, w, nil
}

// establish puts a connection whose handshake is done in use: the
// WELCOME sets where QoS 1 numbering stands, the QoS 1 EMITs not yet
// acknowledged are sent (again) in their order, and a reconnection that
// found the session gone joins its rooms again. It runs on Dial's
// goroutine for the first connection, on the reader's for the others,
// and reports false if the client closed meanwhile.
func (c *Client) establish(cn *conn, w *codec.Welcome, again bool) bool {
	late := c.in.welcome(w)
	c.sendMu.Lock()
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		c.sendMu.Unlock()
		_ = cn.t.abort()
		return false
	}
	kept := w.Resumed || string(w.SessionID) == string(c.welcome.SessionID)
	// QoS 1 EMIT numbers continue within one session and server epoch;
	// otherwise the server starts where its WELCOME says (1 for a new
	// session), and the EMITs not yet acknowledged take the first numbers.
	if !kept || w.Epoch != c.welcome.Epoch {
		start := uint32(1)
		if w.Resumed && w.HasPubNext {
			start = w.PubNext // 0 after a wrap
		}
		c.pub.renumberLocked(start)
	}
	var rejoin []string
	if again && !kept {
		for r := range c.rooms {
			rejoin = append(rejoin, r)
		}
	}
	c.cn, c.welcome = cn, *w
	c.notifyLocked()
	resend := c.pub.transmitAllLocked(cn, time.Now(), c.opts.RetryTimeout)
	c.mu.Unlock()
	c.lastRecv.Store(time.Now().UnixNano())
	for _, r := range resend {
		c.transmit(cn, r.pe, r.dup)
	}
	c.sendMu.Unlock()
	if len(resend) > 0 && cn.t.unreliable() {
		c.wake()
	}
	for _, m := range late {
		c.deliver(m)
	}
	if w.Missed > 0 {
		c.stats.missed.Add(w.Missed)
		if f := c.opts.OnMissed; f != nil {
			f(w.Missed)
		}
	}
	if len(rejoin) > 0 {
		c.wg.Add(1)
		go c.rejoin(rejoin)
	}
	if again {
		c.stats.reconnects.Add(1)
		if f := c.opts.OnReconnect; f != nil {
			f(*w)
		}
	}
	return true
}

// run is the reader goroutine: it serves each connection until it ends,
// then reconnects if the client may, or ends the client.
func (c *Client) run(cn *conn) {
	defer c.wg.Done()
	defer close(c.msgs)
	defer func() {
		// Held messages were ACKed and will not come again: hand over
		// what fits, out of order, rather than lose it.
		for _, m := range c.in.drainInto(nil) {
			select {
			case c.msgs <- m:
			default:
			}
		}
	}()
	for {
		err := c.serve(cn)
		c.lose(cn)
		if c.closing() {
			return
		}
		if !c.mayReconnect(err) {
			c.shutdown(err)
			return
		}
		if f := c.opts.OnDisconnect; f != nil {
			f(err)
		}
		if cn = c.redial(); cn == nil {
			return
		}
	}
}

// lose takes cn out of use and closes it.
func (c *Client) lose(cn *conn) {
	c.mu.Lock()
	if c.cn == cn {
		c.cn = nil
		c.notifyLocked()
	}
	c.mu.Unlock()
	_ = cn.t.abort()
}

// mayReconnect reports whether the connection's end, for err, calls for a
// reconnection: not if another connection took the session, nor after a
// protocol violation (a code below 200), which would only recur.
func (c *Client) mayReconnect(err error) bool {
	if !c.opts.Reconnect || takenOver(err) {
		return false
	}
	var se *ServerError
	if errors.As(err, &se) && se.Code != codec.CodeNormal && se.Code < 200 {
		return false
	}
	return true
}

// redial reconnects, with exponential backoff and jitter, until it
// succeeds or the client closes; nil if it closed.
func (c *Client) redial() *conn {
	delay := c.opts.ReconnectMin
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		timer.Reset(jitter(delay))
		select {
		case <-timer.C:
		case <-c.done:
			return nil
		}
		ctx, cancel := context.WithTimeout(c.ctx, dialTimeout)
		cn, w, err := c.dial(ctx)
		cancel()
		if err == nil {
			if !c.establish(cn, w, true) {
				return nil
			}
			return cn
		}
		if c.closing() {
			return nil
		}
		if !c.mayReconnect(err) {
			c.shutdown(err)
			return nil
		}
		delay = min(2*delay, c.opts.ReconnectMax)
	}
}

// jitter returns a delay drawn uniformly from [d/2, d].
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}

// rejoin joins the rooms of a session the server no longer had.
func (c *Client) rejoin(rooms []string) {
	defer c.wg.Done()
	var se *ServerError
	if err := c.request(c.ctx, codec.TypeJoin, rooms); errors.As(err, &se) && c.opts.OnError != nil {
		c.opts.OnError(se)
	}
}
