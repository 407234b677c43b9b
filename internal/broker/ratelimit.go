package broker

import (
	"fmt"
	"sync/atomic"
	"time"
)

// MaxRate is the largest packet or byte rate: a second's worth of tokens,
// in nanosecond units, must fit an int64.
const MaxRate = 1 << 32

// limits are the broker's limits that a reload may change while sessions
// run (SetLimits); Handle and Join read them per request.
type limits struct {
	packetRate, byteRate atomic.Int64 // per session, a second; 0: no limit
}

// SetLimits changes the per-session rate limits and the members a room
// may hold, for the packets and JOINs from now on (a configuration
// reload); 0 turns a limit off. Sessions keep the tokens they have.
func (b *Broker) SetLimits(packetRate, byteRate, maxRoomMembers int) error {
	if packetRate < 0 || byteRate < 0 || maxRoomMembers < 0 || packetRate > MaxRate || byteRate > MaxRate {
		return fmt.Errorf("broker: limits %d packets/s, %d bytes/s, %d members: each from 0 to %d", packetRate, byteRate, maxRoomMembers, MaxRate)
	}
	b.limits.packetRate.Store(int64(packetRate))
	b.limits.byteRate.Store(int64(byteRate))
	b.adapter.SetMaxMembersPerRoom(maxRoomMembers)
	return nil
}

// rateLimit is a session's token buckets: the packets and the bytes it may
// send, each refilled at the broker's rate per second up to one second's
// worth (the burst). A packet beyond either is refused (Handle). Guarded
// by the session's mu.
type rateLimit struct {
	packets, bytes bucket
}

// bucket holds tokens in nanosecond-scaled units: rate tokens a second
// are rate units a nanosecond, so refilling needs no division.
type bucket struct {
	tokens int64 // times 1e9
	last   int64 // unix nanoseconds of the last refill; 0: never
}

// take removes n tokens at rate (a second, 0 < rate <= MaxRate) if it can,
// after refilling for the time since the last take. A new bucket is full.
func (b *bucket) take(now, n, rate int64) bool {
	burst := rate * int64(time.Second)
	switch d := now - b.last; {
	case b.last == 0, d >= int64(time.Second):
		b.tokens = burst // a second refills it whole (and cannot overflow)
		b.last = now
	case d > 0:
		b.tokens = min(b.tokens+d*rate, burst)
		b.last = now
	}
	b.tokens = min(b.tokens, burst) // the rate may have been lowered
	need := n * int64(time.Second)
	if b.tokens < need {
		return false
	}
	b.tokens -= need
	return true
}

// allow reports whether s may send a packet of size bytes now, within the
// broker's rate limits, and takes its tokens.
func (s *Session) allow(l *limits, size int) bool {
	pr, br := l.packetRate.Load(), l.byteRate.Load()
	if pr == 0 && br == 0 {
		return true
	}
	// Under s.mu: during a takeover the old peer's goroutine may still be
	// handling a packet while the new one handles its first.
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.limit == nil {
		s.limit = new(rateLimit)
	}
	now := time.Now().UnixNano()
	return (pr == 0 || s.limit.packets.take(now, 1, pr)) && (br == 0 || s.limit.bytes.take(now, int64(size), br))
}
