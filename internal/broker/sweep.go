package broker

import (
	"net/netip"
	"time"

	"github.com/packetd/packetd/codec"
)

// sweeper is the broker's timer goroutine: every Tick it retransmits what
// unreliable peers left unacknowledged; every second it expires offline
// persistent sessions and queued messages past their age. It exits on
// Close, after a last commit.
func (b *Broker) sweeper() {
	defer close(b.done)
	t := time.NewTicker(b.cfg.Tick)
	defer t.Stop()
	var lastSlow time.Time
	for {
		select {
		case <-b.stop:
			b.saveProgress()
			b.timer.Flush()
			return
		case now := <-t.C:
			b.retransmit(now)
			if now.Sub(lastSlow) >= time.Second {
				lastSlow = now
				b.expire(now)
				b.saveProgress()
			}
			b.timer.Flush()
		}
	}
}

// retransmit resends overdue QoS 1 messages to unreliable peers, and
// detaches a peer that left a message unacknowledged through every retry.
func (b *Broker) retransmit(now time.Time) {
	b.mu.Lock()
	list := make([]*Session, 0, len(b.watched))
	for s := range b.watched {
		list = append(list, s)
	}
	b.mu.Unlock()
	for _, s := range list {
		alive, watching := s.retransmit(b.timer, now)
		if !watching {
			b.mu.Lock()
			delete(b.watched, s)
			b.mu.Unlock()
		}
		if !alive {
			s.mu.Lock()
			p := s.peer
			var remote netip.AddrPort
			if p != nil {
				remote = p.Remote() // under s.mu: see Session.info
			}
			s.mu.Unlock()
			if p != nil {
				b.stats.DeliveryTimeouts.Add(1)
				b.log.Debug("QoS 1 message unacknowledged after every retry: client gone", "session", s.name, "client", s.clientID, "remote", remote)
				p.Kick(codec.CodeIdleTimeout) // in case it is there but deaf: it learns the connection ended
				b.Detach(b.timer, p)
			}
		}
	}
}

// expire ends offline persistent sessions past their expiry and drops
// queued messages past the age limit.
func (b *Broker) expire(now time.Time) {
	b.mu.Lock()
	list := make([]*Session, 0, len(b.byNum))
	for _, s := range b.byNum {
		list = append(list, s)
	}
	b.mu.Unlock()
	for _, s := range list {
		s.mu.Lock()
		s.expireQueueLocked(b.timer, now)
		gone := s.peer == nil && !s.closed && now.Sub(time.Unix(0, s.since)) > s.expiry
		s.mu.Unlock()
		if gone {
			b.stats.SessionsExpired.Add(1)
			b.end(b.timer, s)
		}
	}
}
