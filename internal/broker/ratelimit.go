package broker

import "time"

// rateLimit is a session's token buckets: the packets and the bytes it may
// send, each refilled at its rate per second up to one second's worth (the
// burst). A packet beyond either ends the session with ERROR 310
// (Handle). It is used by the session's peer's goroutine alone.
type rateLimit struct {
	packets, bytes bucket
}

// bucket holds tokens in nanosecond-scaled units: rate tokens a second
// are rate units a nanosecond, so refilling needs no division.
type bucket struct {
	rate   int64 // tokens a second; 0: no limit
	tokens int64 // times 1e9
	last   int64 // unix nanoseconds of the last refill
}

func newBucket(rate int64, now int64) bucket {
	return bucket{rate: rate, tokens: rate * int64(time.Second), last: now}
}

// take removes n tokens if it can, after refilling for the time since the
// last take.
func (b *bucket) take(now, n int64) bool {
	if b.rate == 0 {
		return true
	}
	burst := b.rate * int64(time.Second)
	if d := now - b.last; d > 0 {
		if d >= int64(time.Second) {
			b.tokens = burst // a second refills it whole (and cannot overflow)
		} else {
			b.tokens = min(b.tokens+d*b.rate, burst)
		}
		b.last = now
	}
	need := n * int64(time.Second)
	if b.tokens < need {
		return false
	}
	b.tokens -= need
	return true
}

// MaxRate is the largest PacketRate or ByteRate: a second's worth of
// tokens, in nanosecond units, must fit an int64.
const MaxRate = 1 << 32

// newRateLimit returns the limits cfg sets, nil if it sets none.
func newRateLimit(cfg *Config, now time.Time) *rateLimit {
	if cfg.PacketRate == 0 && cfg.ByteRate == 0 {
		return nil
	}
	t := now.UnixNano()
	return &rateLimit{packets: newBucket(int64(cfg.PacketRate), t), bytes: newBucket(int64(cfg.ByteRate), t)}
}

// allow counts one packet of size bytes and reports whether it is within
// both limits.
func (r *rateLimit) allow(now int64, size int) bool {
	return r.packets.take(now, 1) && r.bytes.take(now, int64(size))
}
