package client

import (
	"fmt"
	"time"

	"github.com/packetd/packetd/codec"
)

// serve receives packets from cn until it ends, and returns why.
func (c *Client) serve(cn *conn) error {
	dec := codec.NewDecoder()
	var (
		msg  codec.Message
		perr codec.Error
		ping codec.Ping
	)
	for {
		raw, err := cn.t.recv()
		if err != nil {
			if r := cn.dropReason(); r != nil {
				return r
			}
			return fmt.Errorf("client: connection lost: %w", err)
		}
		c.lastRecv.Store(time.Now().UnixNano())
		p, err := codec.ParsePacket(raw)
		if err != nil {
			if cn.t.unreliable() {
				continue // a stray datagram
			}
			return fmt.Errorf("client: from server: %w", err)
		}
		switch p.Type {
		case codec.TypeMessage:
			if dec.Decode(p.Type, p.Body, &msg) != nil {
				continue
			}
			if !c.message(cn, p.Header, &msg) {
				return ErrClosed
			}
		case codec.TypeAck:
			if !c.answer(p.ID, nil) {
				c.acked(p.ID, nil)
			}
		case codec.TypeError, codec.TypeBye:
			if dec.Decode(p.Type, p.Body, &perr) != nil {
				continue
			}
			se := &ServerError{Code: codec.Code(perr.Code), Msg: string(perr.Msg), ID: p.ID}
			if p.Type == codec.TypeBye || se.Code.Fatal() {
				return se
			}
			if !c.answer(p.ID, se) && !c.acked(p.ID, se) && c.opts.OnError != nil {
				c.opts.OnError(se)
			}
		case codec.TypePing:
			// Echo the body: over UDP this is how the server validates a
			// new address after a NAT rebinding.
			if dec.Decode(p.Type, p.Body, &ping) == nil {
				_ = c.sendOn(cn, codec.Header{Type: codec.TypePong, ID: p.ID}, &ping)
			}
		}
	}
}

// message handles one MESSAGE; false if the client closed meanwhile.
func (c *Client) message(cn *conn, h codec.Header, msg *codec.Message) bool {
	m := &Message{ID: h.ID, From: string(msg.From), Event: string(msg.Event), Rooms: make([]string, len(msg.Rooms))}
	for i, r := range msg.Rooms {
		m.Rooms[i] = string(r)
	}
	if msg.Data != nil {
		m.Data = append([]byte(nil), msg.Data...)
	}
	if h.Flags.QoS() == 0 {
		c.stats.qos0.Add(1)
		return c.deliver(m)
	}
	m.QoS = 1
	c.stats.received.Add(1)
	kind, ready := c.in.accept(h.ID, m)
	switch kind {
	case arrivalBuffered:
		c.stats.reordered.Add(1)
	case arrivalDuplicate:
		c.stats.duplicates.Add(1)
	case arrivalLate:
		c.stats.late.Add(1)
	case arrivalRefused:
		c.stats.refused.Add(1)
		return true // outside the window: the server must not send it; no ACK
	}
	// Every copy is answered: the ACK of an earlier one may have been lost.
	_ = c.sendOn(cn, codec.Header{Type: codec.TypeAck, ID: h.ID}, nil)
	for _, r := range ready {
		if !c.deliver(r) {
			return false
		}
	}
	return true
}

// deliver hands m to the application; false if the client closed first.
func (c *Client) deliver(m *Message) bool {
	c.busy.Store(true)
	defer func() {
		c.busy.Store(false)
		c.lastRecv.Store(time.Now().UnixNano()) // time spent waiting is not the server's silence
	}()
	if m.QoS == 1 {
		c.stats.delivered.Add(1) // before: whoever receives m sees it counted
	}
	select {
	case c.msgs <- m:
		return true
	case <-c.done:
		if m.QoS == 1 {
			c.stats.delivered.Add(^uint64(0))
		}
		return false
	}
}

// answer hands the answer to the JOIN or LEAVE with id; false if none
// waits.
func (c *Client) answer(id uint32, err error) bool {
	c.mu.Lock()
	ch, ok := c.pending[id]
	c.mu.Unlock()
	if ok {
		select {
		case ch <- err:
		default:
		}
	}
	return ok
}

// keepAliveLoop sends a PING when nothing was sent for half the keepalive.
// A client with Reconnect also PINGs when nothing was received for half
// the keepalive, and drops a connection silent for 1.5 keepalives.
func (c *Client) keepAliveLoop(ka time.Duration) {
	defer c.wg.Done()
	if ka <= 0 {
		return
	}
	t := time.NewTicker(ka / 4)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case now := <-t.C:
			c.mu.Lock()
			cn := c.cn
			c.mu.Unlock()
			if cn == nil {
				continue
			}
			half := cn.keepAlive / 2
			sent := now.Sub(time.Unix(0, c.lastSent.Load()))
			heard := now.Sub(time.Unix(0, c.lastRecv.Load()))
			watch := c.opts.Reconnect && !c.busy.Load()
			if watch && heard > cn.keepAlive*3/2 {
				cn.drop(ErrNoResponse)
				continue
			}
			if sent >= half || (watch && heard >= half) {
				_ = c.sendOn(cn, codec.Header{Type: codec.TypePing, ID: c.newID()}, nil)
			}
		}
	}
}
