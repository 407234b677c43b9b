package auth

import (
	"fmt"
	"hash/maphash"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Rate is a token bucket's shape: N tokens, refilled at N per Per. The
// zero Rate is no limit.
type Rate struct {
	N   int
	Per time.Duration
}

// ParseRate parses "N/duration" ("10/1m", "50/1s"), "off" or "0".
func ParseRate(s string) (Rate, error) {
	if s == "off" || s == "0" || s == "" {
		return Rate{}, nil
	}
	n, per, ok := strings.Cut(s, "/")
	if !ok {
		return Rate{}, fmt.Errorf("rate %q: want N/duration, like 10/1m, or off", s)
	}
	var r Rate
	var err error
	if r.N, err = strconv.Atoi(n); err != nil || r.N < 0 || r.N > 1_000_000_000 {
		return Rate{}, fmt.Errorf("rate %q: %q is not a count", s, n)
	}
	if r.Per, err = time.ParseDuration(per); err != nil || r.Per <= 0 {
		return Rate{}, fmt.Errorf("rate %q: %q is not a positive duration", s, per)
	}
	if r.N == 0 {
		return Rate{}, nil
	}
	return r, nil
}

func (r Rate) String() string {
	if r.N == 0 {
		return "off"
	}
	return strconv.Itoa(r.N) + "/" + r.Per.String()
}

// limiterSlots is the size of a Limiter's table: each slot is 32 bytes,
// so a Limiter takes 512 KiB whatever the number of addresses.
const limiterSlots = 1 << 14

// Limiter is a fixed-size table of token buckets keyed by IP address
// (IPv6 by /64: one host usually has a whole /64). Its memory does not
// grow with the number of addresses: an address lands in one of two slots
// chosen by a keyed hash, takes over the idler of the two if neither is
// its own, and inherits that slot's tokens, so that crowding the table
// never hands out a fresh bucket (under such pressure innocent addresses
// may share an attacker's limit, never the reverse). Safe for concurrent
// use.
type Limiter struct {
	rate  Rate
	every int64 // ns per token
	seed  maphash.Seed

	mu    sync.Mutex // guards slots
	slots []slot
}

type slot struct {
	key    [16]byte
	used   bool
	tokens int32 // whole tokens at last
	last   int64 // unix ns of the last refill step
}

// NewLimiter returns a Limiter of rate, or nil for the zero Rate (a nil
// Limiter allows everything).
func NewLimiter(rate Rate) *Limiter {
	if rate.N == 0 {
		return nil
	}
	return &Limiter{rate: rate, every: every(rate), seed: maphash.MakeSeed(),
		slots: make([]slot, limiterSlots)}
}

// key is the bucket's key for addr: the address, IPv6 cut to its /64.
func key(addr netip.Addr) [16]byte {
	addr = addr.Unmap()
	k := addr.As16()
	if addr.Is6() {
		clear(k[8:])
	}
	return k
}

// findLocked returns addr's slot, refilled to now; mu is held.
func (l *Limiter) findLocked(addr netip.Addr, now int64) *slot {
	k := key(addr)
	h := maphash.Bytes(l.seed, k[:])
	a, b := &l.slots[h%limiterSlots], &l.slots[(h>>32)%limiterSlots]
	var s *slot
	switch {
	case a.used && a.key == k:
		s = a
	case b.used && b.key == k:
		s = b
	default:
		l.refill(a, now)
		l.refill(b, now)
		switch {
		case !a.used:
			s = a
		case !b.used:
			s = b
		case b.tokens > a.tokens:
			s = b
		default:
			s = a
		}
		if !s.used {
			s.tokens, s.last = int32(l.rate.N), now
		}
		// A taken-over slot keeps its tokens: see Limiter.
		s.key, s.used = k, true
		return s
	}
	l.refill(s, now)
	return s
}

func (l *Limiter) refill(s *slot, now int64) {
	if s.used {
		s.refill(now, l.every, l.rate.N)
	}
}

// refill adds the tokens earned since s.last at one every ns, up to n; a
// full bucket's time is now.
func (s *slot) refill(now, every int64, n int) {
	if k := (now - s.last) / every; k > 0 {
		s.tokens = int32(min(int64(s.tokens)+k, int64(n)))
		s.last += k * every
		if s.tokens == int32(n) {
			s.last = now
		}
	}
}

// Allow takes a token from addr's bucket and reports whether there was
// one.
func (l *Limiter) Allow(addr netip.Addr) bool {
	if l == nil {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.findLocked(addr, time.Now().UnixNano())
	if s.tokens <= 0 {
		return false
	}
	s.tokens--
	return true
}

// Empty reports whether addr's bucket is empty, without taking a token.
func (l *Limiter) Empty(addr netip.Addr) bool {
	if l == nil {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.findLocked(addr, time.Now().UnixNano()).tokens <= 0
}

// Bucket is one token bucket shared by everyone: a server-wide budget.
// A nil Bucket allows everything. Safe for concurrent use.
type Bucket struct {
	rate  Rate
	every int64

	mu sync.Mutex // guards s
	s  slot       // key and used unused
}

// NewBucket returns a full Bucket of rate, or nil for the zero Rate.
func NewBucket(rate Rate) *Bucket {
	if rate.N == 0 {
		return nil
	}
	return &Bucket{rate: rate, every: every(rate), s: slot{tokens: int32(rate.N), last: time.Now().UnixNano()}}
}

// Allow takes a token and reports whether there was one.
func (b *Bucket) Allow() bool {
	if b == nil {
		return true
	}
	now := time.Now().UnixNano()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.s.refill(now, b.every, b.rate.N)
	if b.s.tokens <= 0 {
		return false
	}
	b.s.tokens--
	return true
}

// every is the time a token of rate takes to come back, in ns.
func every(rate Rate) int64 { return max(int64(rate.Per)/int64(rate.N), 1) }
