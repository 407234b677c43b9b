package client

import (
	"fmt"
	"time"

	"github.com/packetd/packetd/codec"
)

// readLoop receives packets until the connection ends.
func (c *Client) readLoop() {
	defer c.wg.Done()
	defer close(c.msgs)
	dec := codec.NewDecoder()
	var (
		msg  codec.Message
		perr codec.Error
		ping codec.Ping
	)
	for {
		raw, err := c.t.recv()
		if err != nil {
			c.shutdown(fmt.Errorf("client: connection lost: %w", err))
			return
		}
		p, err := codec.ParsePacket(raw)
		if err != nil {
			if c.t.unreliable() {
				continue // a stray datagram
			}
			c.shutdown(fmt.Errorf("client: from server: %w", err))
			return
		}
		switch p.Type {
		case codec.TypeMessage:
			if dec.Decode(p.Type, p.Body, &msg) != nil {
				continue
			}
			m := &Message{ID: p.ID, From: string(msg.From), Event: string(msg.Event), Rooms: make([]string, len(msg.Rooms))}
			for i, r := range msg.Rooms {
				m.Rooms[i] = string(r)
			}
			if msg.Data != nil {
				m.Data = append([]byte(nil), msg.Data...)
			}
			select {
			case c.msgs <- m:
			case <-c.done:
				return
			}
		case codec.TypeAck:
			c.resolve(p.ID, nil)
		case codec.TypeError, codec.TypeBye:
			if dec.Decode(p.Type, p.Body, &perr) != nil {
				continue
			}
			se := &ServerError{Code: codec.Code(perr.Code), Msg: string(perr.Msg), ID: p.ID}
			if p.Type == codec.TypeBye || se.Code.Fatal() {
				c.shutdown(se)
				return
			}
			if !c.resolve(p.ID, se) && c.opts.OnError != nil {
				c.opts.OnError(se)
			}
		case codec.TypePing:
			// Echo the body: over UDP this is how the server validates a
			// new address after a NAT rebinding.
			if dec.Decode(p.Type, p.Body, &ping) == nil {
				_ = c.send(codec.Header{Type: codec.TypePong, ID: p.ID}, &ping)
			}
		}
	}
}

// resolve hands the answer to the request with id; false if none waits.
func (c *Client) resolve(id uint32, err error) bool {
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
func (c *Client) keepAliveLoop() {
	defer c.wg.Done()
	if c.keepAlive <= 0 {
		return
	}
	half := c.keepAlive / 2
	t := time.NewTicker(half / 2)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case now := <-t.C:
			if now.Sub(time.Unix(0, c.lastSent.Load())) >= half {
				_ = c.Ping()
			}
		}
	}
}
