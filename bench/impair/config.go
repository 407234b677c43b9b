package impair

import (
	"fmt"
	"time"
)

// Defaults for the zero values of Config and Options fields.
const (
	DefaultReorderGap     = 1
	DefaultReorderTimeout = 50 * time.Millisecond
	DefaultQueueLimit     = 1 << 20 // bytes
	DefaultIdleTimeout    = 2 * time.Minute
	DefaultMaxFlows       = 1024
	DefaultMaxDatagram    = 65535 // bytes
)

// maxDuration bounds Delay, Jitter and ReorderTimeout, so that the
// scheduler's due times cannot overflow.
const maxDuration = 24 * time.Hour

// Config is the impairment of one direction of every flow. The zero value
// is a clean link. Stages apply in this order: Loss, Duplicate, Reorder,
// Rate, then Delay and Jitter.
type Config struct {
	// Loss is the probability that a datagram is dropped, 0 to 1.
	Loss float64
	// Duplicate is the probability that a datagram is sent twice, 0 to 1.
	// The copy follows the original through every later stage.
	Duplicate float64
	// Reorder is the probability that a datagram is held back until
	// ReorderGap later datagrams of the same flow have overtaken it, 0 to 1.
	Reorder float64
	// ReorderGap is how many later datagrams overtake a held one; 0 means
	// DefaultReorderGap.
	ReorderGap int
	// ReorderTimeout is the longest a held datagram waits to be overtaken
	// before it is sent anyway (a flow that goes quiet must not strand it);
	// 0 means DefaultReorderTimeout.
	ReorderTimeout time.Duration
	// Delay is added to every datagram.
	Delay time.Duration
	// Jitter adds a uniform random delay in [0, Jitter) to each datagram,
	// drawn independently, so a datagram may overtake an earlier one that
	// drew more: with Jitter, datagrams reorder naturally, as through
	// netem. Without Jitter a direction is first in, first out (apart from
	// Reorder).
	Jitter time.Duration
	// Rate caps the direction's throughput per flow, in payload bytes per
	// second; 0 means unlimited. The link serializes: a datagram of n
	// bytes occupies it for n/Rate seconds, and datagrams wait their turn
	// in the flow's queue.
	Rate int
	// QueueLimit bounds the bytes a flow's direction holds back at once
	// (waiting for Rate, Delay, Jitter or Reorder); a datagram that would
	// exceed it is dropped (tail drop); an empty datagram counts as one
	// byte. 0 means DefaultQueueLimit. With a large Delay and a fast
	// sender, raise it to cover the bandwidth-delay product, or the queue
	// drops what the delay holds.
	QueueLimit int
}

// Options configures a UDP proxy.
type Options struct {
	// Up impairs client to server datagrams, Down server to client ones.
	Up, Down Config
	// Seed seeds every random decision: with the same seed and the same
	// traffic, a proxy makes the same decisions (see the package doc).
	Seed int64
	// IdleTimeout is how long a flow may see no datagram in either
	// direction before it is forgotten and its upstream socket closed;
	// 0 means DefaultIdleTimeout.
	IdleTimeout time.Duration
	// MaxFlows bounds the number of flows; datagrams from further clients
	// are dropped and counted in Stats.Refused. 0 means DefaultMaxFlows.
	MaxFlows int
	// MaxDatagram is the longest datagram forwarded, in bytes; longer ones
	// are dropped and counted. Each flow has a read buffer of this size,
	// so lower it when running many flows. 0 means DefaultMaxDatagram.
	MaxDatagram int
}

// validate checks every field and returns o with the defaults filled in.
func (o Options) validate() (Options, error) {
	var err error
	if o.Up, err = o.Up.validate("Up"); err != nil {
		return o, err
	}
	if o.Down, err = o.Down.validate("Down"); err != nil {
		return o, err
	}
	switch {
	case o.IdleTimeout < 0:
		return o, fmt.Errorf("%w: IdleTimeout %v is negative", ErrConfig, o.IdleTimeout)
	case o.MaxFlows < 0:
		return o, fmt.Errorf("%w: MaxFlows %d is negative", ErrConfig, o.MaxFlows)
	case o.MaxDatagram < 0 || o.MaxDatagram > DefaultMaxDatagram:
		return o, fmt.Errorf("%w: MaxDatagram %d not in [0, %d]", ErrConfig, o.MaxDatagram, DefaultMaxDatagram)
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.MaxFlows == 0 {
		o.MaxFlows = DefaultMaxFlows
	}
	if o.MaxDatagram == 0 {
		o.MaxDatagram = DefaultMaxDatagram
	}
	return o, nil
}

func (c Config) validate(dir string) (Config, error) {
	for _, p := range []struct {
		name string
		v    float64
	}{{"Loss", c.Loss}, {"Duplicate", c.Duplicate}, {"Reorder", c.Reorder}} {
		if !(p.v >= 0 && p.v <= 1) { // also rejects NaN
			return c, fmt.Errorf("%w: %s.%s %v not in [0, 1]", ErrConfig, dir, p.name, p.v)
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"ReorderTimeout", c.ReorderTimeout}, {"Delay", c.Delay}, {"Jitter", c.Jitter}} {
		if d.v < 0 {
			return c, fmt.Errorf("%w: %s.%s %v is negative", ErrConfig, dir, d.name, d.v)
		}
	}
	for _, n := range []struct {
		name string
		v    int
	}{{"ReorderGap", c.ReorderGap}, {"Rate", c.Rate}, {"QueueLimit", c.QueueLimit}} {
		if n.v < 0 {
			return c, fmt.Errorf("%w: %s.%s %d is negative", ErrConfig, dir, n.name, n.v)
		}
	}
	if c.Delay > maxDuration || c.Jitter > maxDuration || c.ReorderTimeout > maxDuration {
		return c, fmt.Errorf("%w: %s: a duration is over %v", ErrConfig, dir, maxDuration)
	}
	if c.ReorderGap == 0 {
		c.ReorderGap = DefaultReorderGap
	}
	if c.ReorderTimeout == 0 {
		c.ReorderTimeout = DefaultReorderTimeout
	}
	if c.QueueLimit == 0 {
		c.QueueLimit = DefaultQueueLimit
	}
	return c, nil
}

// clean reports whether c lets a datagram be written at once when nothing
// is queued ahead of it.
func (c *Config) clean() bool {
	return c.Delay == 0 && c.Jitter == 0 && c.Rate == 0
}
