package impair

import (
	"fmt"
	"sync/atomic"
	"time"
)

// Defaults for the zero values of TCPOptions fields.
const (
	DefaultMaxConns    = 1024
	DefaultDialTimeout = 10 * time.Second
)

// TCPConfig is the impairment of one direction of every TCP connection.
// The zero value is a clean link. A stream cannot lose, duplicate or
// reorder bytes, so there is no Loss, Duplicate or Reorder (see the
// package doc).
type TCPConfig struct {
	// Delay is added to every chunk: the bytes one read of the sending
	// side returned.
	Delay time.Duration
	// Jitter adds a uniform random delay in [0, Jitter) to each chunk,
	// but a chunk never leaves before the one before it: a chunk that
	// drew less waits for its predecessor and leaves with it. On a stream
	// jitter becomes delay variation and bursts, never reordering.
	Jitter time.Duration
	// Rate caps the direction's throughput per connection, in bytes per
	// second; 0 means unlimited. The link serializes: a chunk of n bytes
	// occupies it for n/Rate seconds after the chunks ahead of it, so a
	// sender faster than Rate builds a queue, and queueing delay, in the
	// proxy, as at a bottleneck link. Chunks are read at most 10 ms of
	// link time at once, so the link releases bytes smoothly.
	Rate int
	// QueueLimit bounds the bytes a connection's direction holds at once
	// (waiting for Rate, Delay or Jitter, or for the receiver to take
	// them). When it is reached the proxy stops reading from the sender
	// until the receiving side has taken some: nothing is dropped, and
	// TCP flow control pushes back on the sender once the kernel's socket
	// buffers are full too. 0 means DefaultQueueLimit. The bytes a delay
	// holds count, so a direction carries at most QueueLimit bytes per
	// Delay: to carry Rate, QueueLimit must cover Rate*Delay, the
	// bandwidth-delay product, as a TCP window must.
	QueueLimit int
}

// TCPOptions configures a TCP proxy.
type TCPOptions struct {
	// Up impairs client to server bytes, Down server to client ones.
	Up, Down TCPConfig
	// Seed seeds the jitter draws: with the same seed, the n-th chunk of
	// a connection's direction draws the same jitter (see the package
	// doc).
	Seed int64
	// MaxConns bounds the open connections; further ones are accepted and
	// reset at once, and counted in TCPStats.Refused. 0 means
	// DefaultMaxConns.
	MaxConns int
	// DialTimeout bounds the connection to the target; a client whose
	// connection fails is reset and counted in TCPStats.Failed. 0 means
	// DefaultDialTimeout.
	DialTimeout time.Duration
	// SocketBuffer, if positive, sets the kernel's send and receive
	// buffers (SO_SNDBUF, SO_RCVBUF) of the proxy's sockets, in bytes.
	// 0 leaves the kernel's, which Linux grows up to several megabytes,
	// and which hold bytes beyond QueueLimit before a sender blocks.
	SocketBuffer int
}

// validate checks every field and returns o with the defaults filled in.
func (o TCPOptions) validate() (TCPOptions, error) {
	var err error
	if o.Up, err = o.Up.validate("Up"); err != nil {
		return o, err
	}
	if o.Down, err = o.Down.validate("Down"); err != nil {
		return o, err
	}
	switch {
	case o.MaxConns < 0:
		return o, fmt.Errorf("%w: MaxConns %d is negative", ErrConfig, o.MaxConns)
	case o.DialTimeout < 0:
		return o, fmt.Errorf("%w: DialTimeout %v is negative", ErrConfig, o.DialTimeout)
	case o.SocketBuffer < 0:
		return o, fmt.Errorf("%w: SocketBuffer %d is negative", ErrConfig, o.SocketBuffer)
	}
	if o.MaxConns == 0 {
		o.MaxConns = DefaultMaxConns
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	return o, nil
}

// validate checks the fields TCPConfig shares with Config as Config does.
func (c TCPConfig) validate(dir string) (TCPConfig, error) {
	v, err := Config{Delay: c.Delay, Jitter: c.Jitter, Rate: c.Rate, QueueLimit: c.QueueLimit}.validate(dir)
	if err != nil {
		return c, err
	}
	c.QueueLimit = v.QueueLimit
	return c, nil
}

// TCPStats is a snapshot of a TCP proxy's counters since NewTCP.
type TCPStats struct {
	Up, Down TCPDirStats // client to server, server to client
	Conns    int         // connections open now
	Opened   uint64      // connections relayed: accepted and connected to the target
	Refused  uint64      // connections reset at once because MaxConns were open
	Failed   uint64      // connections reset because the target could not be reached
}

// TCPDirStats counts one direction's bytes, summed over connections. Once
// traffic has stopped and every queue has drained, Received == Sent, unless
// a connection was reset with bytes queued.
type TCPDirStats struct {
	Received uint64 // bytes read from the sending side
	Sent     uint64 // bytes written to the receiving side
	Chunks   uint64 // reads that returned bytes; each chunk is delayed as a whole
	Queued   int64  // bytes read and not yet written, now
	Stalls   uint64 // times a connection stopped reading because its queue was full
	Closes   uint64 // half-closes forwarded: the sender's FIN, sent on with CloseWrite
	Resets   uint64 // connections reset from this direction: the sender reset, or a write to the receiver failed
}

// tcpCounters are one direction's live counts.
type tcpCounters struct {
	received, sent, chunks, stalls, closes, resets atomic.Uint64
	queued                                         atomic.Int64
}

func (c *tcpCounters) snapshot() TCPDirStats {
	return TCPDirStats{
		Received: c.received.Load(),
		Sent:     c.sent.Load(),
		Chunks:   c.chunks.Load(),
		Queued:   c.queued.Load(),
		Stalls:   c.stalls.Load(),
		Closes:   c.closes.Load(),
		Resets:   c.resets.Load(),
	}
}
