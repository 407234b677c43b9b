package client

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/packetd/packetd/codec"
)

// pubEmit is a QoS 1 EMIT the server has not acknowledged yet. Its fields
// are guarded by Client.mu.
type pubEmit struct {
	id       uint32
	n        uint64        // its place among the client's QoS 1 EMITs, from 1
	body     codec.RawBody // encoded once, resent byte for byte
	sends    int           // transmissions, on any connection: DUP after the first
	cn       *conn         // the connection it was last sent on
	tries    int           // transmissions on cn
	rto      time.Duration // the current retransmission timeout (UDP)
	deadline time.Time     // of the next retransmission (UDP)
	waited   bool          // EmitWait reports its error: OnError does not
	resolved bool
	err      error
	done     chan struct{} // closed once resolved
}

// publisher keeps a client's unacknowledged QoS 1 EMITs, in order.
// Guarded by Client.mu.
type publisher struct {
	byID   map[uint32]*pubEmit
	order  []*pubEmit    // oldest first; resolved ones linger until compacted
	count  uint64        // QoS 1 EMITs so far
	nextID uint32        // the session's number for the next new QoS 1 EMIT
	space  chan struct{} // closed and replaced when one is resolved
}

func (p *publisher) init() {
	p.byID = make(map[uint32]*pubEmit)
	p.space = make(chan struct{})
	p.nextID = 1
}

// takeIDLocked returns the number of a new QoS 1 EMIT: the server takes a
// session's QoS 1 EMITs in the order of their ids, 1, 2, 3, ... (modulo
// 2^32), holding one that arrives early until the gap fills.
func (p *publisher) takeIDLocked() uint32 {
	id := p.nextID
	p.nextID++
	return id
}

// numberLocked reports whether id is the number of an EMIT awaiting its
// answer, or one that the next QoS 1 EMITs may soon take (up to twice the
// largest window ahead), so that a request id can keep clear of it.
func (p *publisher) numberLocked(id uint32) bool {
	if id-p.nextID < 2*dedupIDs {
		return true
	}
	_, ok := p.byID[id]
	return ok
}

// renumberLocked numbers the unacknowledged EMITs afresh from start, in
// their order, for a session whose numbering restarted (a new session, or
// a server restart): the server has forgotten the old numbers.
func (p *publisher) renumberLocked(start uint32) {
	clear(p.byID)
	for _, pe := range p.order {
		if !pe.resolved {
			pe.id = start
			p.byID[start] = pe
			start++
		}
	}
	p.nextID = start
}

// roomLocked reports whether one more EMIT may be sent: fewer than window
// await their ACK, and the oldest is recent enough for the server to
// still recognise it as a copy if it is resent.
func (p *publisher) roomLocked(window int) bool {
	if len(p.byID) >= window {
		return false
	}
	return len(p.order) == 0 || p.count+1-p.order[0].n < dedupIDs
}

func (p *publisher) addLocked(id uint32, body []byte, waited bool) *pubEmit {
	p.count++
	pe := &pubEmit{id: id, n: p.count, body: body, waited: waited, done: make(chan struct{})}
	p.byID[id] = pe
	p.order = append(p.order, pe)
	return pe
}

// removeLocked forgets a resolved EMIT and wakes those waiting for room.
func (p *publisher) removeLocked(pe *pubEmit) {
	delete(p.byID, pe.id)
	i := 0
	for i < len(p.order) && p.order[i].resolved {
		p.order[i] = nil
		i++
	}
	p.order = p.order[i:]
	if len(p.order) > 64 && len(p.order) > 2*len(p.byID) {
		kept := make([]*pubEmit, 0, len(p.byID))
		for _, q := range p.order {
			if !q.resolved {
				kept = append(kept, q)
			}
		}
		p.order = kept
	}
	close(p.space)
	p.space = make(chan struct{})
}

func (p *publisher) unresolvedLocked() []*pubEmit {
	out := make([]*pubEmit, 0, len(p.byID))
	for _, pe := range p.order {
		if !pe.resolved {
			out = append(out, pe)
		}
	}
	return out
}

// sentLocked records a transmission of pe on cn.
func (pe *pubEmit) sentLocked(cn *conn, now time.Time, retry time.Duration) {
	if pe.cn != cn {
		pe.cn, pe.tries = cn, 0
	}
	if pe.tries == 0 {
		// RetryTimeout randomised up to 1.5 times, so that clients that
		// lost the same datagram do not resend in step.
		pe.rto = retry + rand.N(retry/2+1)
	} else {
		pe.rto *= 2
	}
	pe.sends++
	pe.tries++
	pe.deadline = now.Add(pe.rto)
}

// freshenLocked restarts the backoff of the EMITs still waiting on cn once
// an ACK came: the server is there and taking EMITs (those after a lost
// one waited, held, for it; their timeouts need not have grown), as TCP
// resets its backoff on new acknowledgements.
func (p *publisher) freshenLocked(cn *conn, now time.Time, retry time.Duration) {
	for _, pe := range p.order {
		if pe.resolved || pe.cn != cn || pe.tries <= 1 {
			continue
		}
		pe.tries = 1
		pe.rto = retry + rand.N(retry/2+1)
		if d := now.Add(pe.rto); d.Before(pe.deadline) {
			pe.deadline = d
		}
	}
}

// resend is one EMIT to transmit, and whether it was sent before.
type resend struct {
	pe  *pubEmit
	dup bool
}

// transmitAllLocked marks every unacknowledged EMIT as sent on cn, a new
// connection, and returns them in order for the caller to send.
func (p *publisher) transmitAllLocked(cn *conn, now time.Time, retry time.Duration) []resend {
	var out []resend
	for _, pe := range p.order {
		if !pe.resolved {
			out = append(out, resend{pe, pe.sends > 0})
			pe.sentLocked(cn, now, retry)
		}
	}
	return out
}

// Emit sends an EMIT. At QoS 0 it is sent at most once and not
// acknowledged; errors the server reports come to Options.OnError.
//
// At QoS 1 Emit returns once the EMIT is sent, or queued for the next
// connection while a client with Reconnect reconnects. It blocks while
// Options.PublishWindow EMITs await their ACK. The client resends it
// until the server acknowledges it (see the package doc for when it
// stops); an ERROR for it comes to Options.OnError. EmitWait and Flush
// wait for the ACK.
func (c *Client) Emit(e Emit) error {
	if e.QoS == 0 {
		body, err := c.encodeEmit(&e)
		if err != nil {
			return err
		}
		return c.send(codec.Header{Type: codec.TypeEmit, ID: c.newID()}, body)
	}
	_, err := c.emitQoS1(context.Background(), &e, false)
	return err
}

// EmitWait sends e at QoS 1, whatever e.QoS says, and returns when the
// server acknowledged it (it then holds the message durably, for the
// persistent sessions it goes to), with the server's *ServerError if it
// refused it, or with the reason the client closed first (one that wraps
// ErrTimeout when an EMIT went unanswered through every retry). If ctx
// ends first, EmitWait returns ctx.Err() and the EMIT is still resent
// until acknowledged.
func (c *Client) EmitWait(ctx context.Context, e Emit) error {
	e.QoS = 1
	pe, err := c.emitQoS1(ctx, &e, true)
	if err != nil {
		return err
	}
	select {
	case <-pe.done:
		return pe.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Flush waits until every QoS 1 EMIT sent so far is acknowledged or has
// failed; it returns the first failure's error, or ctx.Err().
func (c *Client) Flush(ctx context.Context) error {
	c.mu.Lock()
	list := c.pub.unresolvedLocked()
	c.mu.Unlock()
	var first error
	for _, pe := range list {
		select {
		case <-pe.done:
			if pe.err != nil && first == nil {
				first = pe.err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return first
}

func (c *Client) emitQoS1(ctx context.Context, e *Emit, waited bool) (*pubEmit, error) {
	if e.QoS > 1 {
		return nil, fmt.Errorf("client: QoS %d is neither 0 nor 1", e.QoS)
	}
	body, err := c.encodeEmit(e)
	if err != nil {
		return nil, err
	}
	for {
		c.mu.Lock()
		if c.err != nil {
			c.mu.Unlock()
			return nil, ErrClosed
		}
		if !c.pub.roomLocked(c.opts.PublishWindow) {
			space := c.pub.space
			c.mu.Unlock()
			select {
			case <-space:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-c.done:
				return nil, ErrClosed
			}
		}
		c.mu.Unlock()
		c.sendMu.Lock()
		c.mu.Lock()
		if c.err != nil || !c.pub.roomLocked(c.opts.PublishWindow) {
			c.mu.Unlock()
			c.sendMu.Unlock()
			continue // closed, or another Emit took the room
		}
		pe := c.pub.addLocked(c.pub.takeIDLocked(), body, waited)
		cn := c.cn
		if cn != nil {
			pe.sentLocked(cn, time.Now(), c.opts.RetryTimeout)
		}
		c.mu.Unlock()
		c.stats.emitted.Add(1)
		var err error
		if cn != nil {
			err = c.transmit(cn, pe, false)
		}
		c.sendMu.Unlock()
		switch {
		case cn != nil && cn.t.unreliable():
			// A datagram that could not be sent is one lost on the way:
			// the retransmission timer sends it again.
			c.wake()
		case err != nil:
			// The EMIT has its number: it must not be given up while the
			// session goes on. The connection cannot carry it: end the
			// connection, and the EMIT is sent again on the next one
			// (Reconnect) or fails as the client closes.
			cn.drop(fmt.Errorf("client: sending a QoS 1 EMIT: %w", err))
			if !c.opts.Reconnect {
				return nil, err
			}
		}
		return pe, nil
	}
}

// encodeEmit encodes e's body and checks that the server can take it.
func (c *Client) encodeEmit(e *Emit) (codec.RawBody, error) {
	body := codec.Emit{Event: []byte(e.Event), Echo: e.Echo, Data: e.Raw}
	body.Rooms = byteSlices(e.Rooms)
	body.Except = byteSlices(e.Except)
	if e.Raw == nil && e.Data != nil {
		data, err := msgpack.Marshal(e.Data)
		if err != nil {
			return nil, fmt.Errorf("client: encoding data: %w", err)
		}
		body.Data = data
	}
	n := codec.HeaderLen + body.Len()
	c.mu.Lock()
	limit := int(c.welcome.MaxFrame)
	if c.scheme == "udp" {
		n += codec.KeyLen
		limit = int(c.welcome.MaxDatagram)
	}
	c.mu.Unlock()
	if limit > 0 && n > limit {
		return nil, fmt.Errorf("%w: EMIT of %d bytes, limit %d", ErrTooLarge, n, limit)
	}
	return body.Append(make([]byte, 0, body.Len())), nil
}

// transmit sends pe on cn, with DUP if it was sent before.
func (c *Client) transmit(cn *conn, pe *pubEmit, dup bool) error {
	flags := codec.FlagQoS1
	if dup {
		flags |= codec.FlagDup
		c.stats.retransmitted.Add(1)
	}
	return c.sendOn(cn, codec.Header{Type: codec.TypeEmit, Flags: flags, ID: pe.id}, pe.body)
}

// acked resolves the QoS 1 EMIT with id, acknowledged (err nil) or
// refused; false if there is none.
func (c *Client) acked(id uint32, err error) bool {
	c.mu.Lock()
	pe := c.pub.byID[id]
	c.mu.Unlock()
	if pe == nil {
		return false
	}
	c.resolve(pe, err)
	return true
}

// resolve ends pe with err (nil: acknowledged). A failure of an EMIT no
// EmitWait waits for goes to Options.OnError if it is the server's.
func (c *Client) resolve(pe *pubEmit, err error) {
	c.mu.Lock()
	if pe.resolved {
		c.mu.Unlock()
		return
	}
	pe.resolved, pe.err = true, err
	if err == nil {
		c.stats.acked.Add(1)
		c.pub.freshenLocked(pe.cn, time.Now(), c.opts.RetryTimeout)
	} else {
		c.stats.failed.Add(1)
	}
	close(pe.done) // after the counters: a waiter sees them
	c.pub.removeLocked(pe)
	c.mu.Unlock()
	if err == nil {
		c.wake() // deadlines may have moved earlier
	}
	if se, ok := err.(*ServerError); ok && !pe.waited && c.opts.OnError != nil && !c.closing() {
		c.opts.OnError(se)
	}
}

// wake makes the retransmission goroutine look at its deadlines again.
func (c *Client) wake() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// retransmitLoop resends QoS 1 EMITs whose ACK is overdue (UDP only).
func (c *Client) retransmitLoop() {
	defer c.wg.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-c.kick:
		case <-timer.C:
		}
		if next := c.retransmit(time.Now()); !next.IsZero() {
			timer.Reset(time.Until(next))
		}
	}
}

// errPublishTimeout ends a connection on which a QoS 1 EMIT went
// unacknowledged through every retransmission.
var errPublishTimeout = fmt.Errorf("%w: a QoS 1 EMIT went unacknowledged through every retransmission", ErrTimeout)

// retransmit resends what is overdue on the connection in use and returns
// the next deadline (zero if none). An EMIT resent MaxRetries times in
// vain is never skipped, since the server takes a session's QoS 1 EMITs in
// number order and would hold every later one for it: the connection
// counts as dead instead. A client with Reconnect reconnects and sends
// the EMIT again; any other client closes, and its unacknowledged EMITs
// fail with an error that wraps ErrTimeout.
func (c *Client) retransmit(now time.Time) time.Time {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	var (
		due    []*pubEmit
		next   time.Time
		giveUp bool
	)
	c.mu.Lock()
	cn := c.cn
	if cn != nil {
		for _, pe := range c.pub.order {
			if pe.resolved || pe.cn != cn {
				continue
			}
			if now.Before(pe.deadline) {
				if next.IsZero() || pe.deadline.Before(next) {
					next = pe.deadline
				}
				continue
			}
			if pe.tries > c.opts.MaxRetries {
				giveUp = true
				break
			}
			pe.sentLocked(cn, now, c.opts.RetryTimeout)
			due = append(due, pe)
			if next.IsZero() || pe.deadline.Before(next) {
				next = pe.deadline
			}
		}
	}
	c.mu.Unlock()
	switch {
	case giveUp && c.opts.Reconnect:
		cn.drop(errPublishTimeout)
		return time.Time{}
	case giveUp:
		c.shutdown(errPublishTimeout)
		return time.Time{}
	}
	for _, pe := range due {
		_ = c.transmit(cn, pe, true)
	}
	return next
}
