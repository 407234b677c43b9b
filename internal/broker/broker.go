// Package broker is packetd's session layer, the same for both transports:
// it opens sessions (HELLO → WELCOME), answers JOIN, LEAVE and PING, turns
// an EMIT into one encoded MESSAGE broadcast through the room adapter, and
// ends sessions. Transports parse frames and datagrams, keep time, and call
// it with a Worker, the per-goroutine state (Outbox, decoder, scratch).
//
// Concurrency: a Broker is safe for concurrent use. A Worker belongs to one
// goroutine. A Session's methods are safe for concurrent use.
package broker

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/stats"
	"github.com/packetd/packetd/rooms"
)

// Config holds the session layer's limits. Zero values mean the defaults
// given on each field.
type Config struct {
	MaxSessions  int           // sessions per process; default 100,000
	MaxRooms     int           // rooms per session besides its own; default 256 (the adapter enforces it)
	MaxTargets   int           // rooms, and separately exceptions, per EMIT; default 64
	KeepAlive    time.Duration // keepalive for clients that ask for none; default 60 s
	MinKeepAlive time.Duration // floor on a client's keepalive; default 5 s
	MaxKeepAlive time.Duration // ceiling on a client's keepalive; default 1 h
	MaxFrame     int           // announced in WELCOME; default codec.DefaultMaxFrame
	MaxDatagram  int           // announced in WELCOME; default codec.DefaultMaxDatagram
	Server       string        // announced in WELCOME
	Logger       *slog.Logger  // default slog.Default()
}

func (c *Config) withDefaults() (Config, error) {
	out := *c
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&out.MaxSessions, 100_000)
	def(&out.MaxRooms, 256)
	def(&out.MaxTargets, 64)
	def(&out.MaxFrame, codec.DefaultMaxFrame)
	def(&out.MaxDatagram, codec.DefaultMaxDatagram)
	defDur(&out.KeepAlive, 60*time.Second)
	defDur(&out.MinKeepAlive, 5*time.Second)
	defDur(&out.MaxKeepAlive, time.Hour)
	if out.Logger == nil {
		out.Logger = slog.Default()
	}
	switch {
	case out.MaxSessions < 0, out.MaxRooms < 0, out.MaxTargets < 0, out.MaxFrame < 0, out.MaxDatagram < 0:
		return out, errors.New("broker: negative limit")
	case out.MinKeepAlive < time.Second || out.MinKeepAlive > out.MaxKeepAlive:
		return out, fmt.Errorf("broker: keepalive bounds [%v, %v] invalid", out.MinKeepAlive, out.MaxKeepAlive)
	case out.KeepAlive < out.MinKeepAlive || out.KeepAlive > out.MaxKeepAlive:
		return out, fmt.Errorf("broker: keepalive %v outside [%v, %v]", out.KeepAlive, out.MinKeepAlive, out.MaxKeepAlive)
	}
	return out, nil
}

// Broker runs the session layer over a room adapter.
type Broker struct {
	cfg      Config
	adapter  rooms.Adapter
	stats    *stats.Stats
	log      *slog.Logger
	server   []byte        // cfg.Server
	sessions atomic.Int64  // open sessions, both transports
	msgID    atomic.Uint32 // last message id handed out
}

// New returns a Broker. The adapter's Sink must be a *deliver.Hub (or
// anything that accepts a *deliver.Outbox as the broadcast origin).
func New(cfg Config, adapter rooms.Adapter, st *stats.Stats) (*Broker, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Broker{cfg: c, adapter: adapter, stats: st, log: c.Logger, server: []byte(c.Server)}, nil
}

// Config returns the configuration in force, defaults filled in.
func (b *Broker) Config() Config { return b.cfg }

// Sessions returns the number of open sessions.
func (b *Broker) Sessions() int { return int(b.sessions.Load()) }

// Open answers a HELLO: it decodes the body, creates the session, puts it in
// its own room and queues the WELCOME (whose id echoes the HELLO's). On
// failure it returns the code the transport must send before closing.
func (b *Broker) Open(w *Worker, p Peer, h codec.Header, body []byte) (*Session, codec.Code) {
	if err := w.dec.Decode(codec.TypeHello, body, &w.hello); err != nil {
		return nil, codec.CodeInvalidBody
	}
	if h.Flags != 0 {
		return nil, codec.CodeInvalidFlags
	}
	if n := b.sessions.Add(1); n > int64(b.cfg.MaxSessions) {
		b.sessions.Add(-1)
		b.stats.SessionsRefused.Add(1)
		return nil, codec.CodeServerFull
	}
	s := &Session{keepAlive: b.keepAlive(w.hello.KeepAlive), peer: p}
	for {
		s.setID(randomID())
		p.Attach(s)
		err := b.adapter.Add(p)
		if err == nil {
			break
		}
		if !errors.Is(err, rooms.ErrDuplicateMember) {
			b.sessions.Add(-1)
			b.log.Error("adding session to adapter", "err", err)
			return nil, codec.CodeServerFull
		}
	}
	b.stats.SessionsOpened.Add(1)
	b.Welcome(w, s, h)
	return s, codec.CodeNormal
}

// Welcome queues the WELCOME for s, answering the HELLO with header h. A
// UDP transport calls it again for a retransmitted HELLO.
func (b *Broker) Welcome(w *Worker, s *Session, h codec.Header) {
	w.Reply(s.peer, codec.Header{Type: codec.TypeWelcome, ID: h.ID}, &codec.Welcome{
		SessionID:   s.nameBytes,
		KeepAlive:   uint32(s.keepAlive / time.Second),
		MaxFrame:    uint32(b.cfg.MaxFrame),
		MaxDatagram: uint32(b.cfg.MaxDatagram),
		MaxRooms:    uint32(b.cfg.MaxRooms),
		Server:      b.server,
	})
}

// keepAlive clamps a client's requested keepalive (seconds, 0 = default).
func (b *Broker) keepAlive(secs uint32) time.Duration {
	if secs == 0 {
		return b.cfg.KeepAlive
	}
	d := time.Duration(secs) * time.Second
	return min(max(d, b.cfg.MinKeepAlive), b.cfg.MaxKeepAlive)
}

// Close ends a session: it leaves every room and stops counting. It is
// idempotent and safe from any goroutine.
func (b *Broker) Close(s *Session) {
	if s == nil || !s.closed.CompareAndSwap(false, true) {
		return
	}
	b.adapter.Remove(s.name)
	b.sessions.Add(-1)
}

// nextMsgID returns a server message id, never 0.
func (b *Broker) nextMsgID() uint32 {
	for {
		if id := b.msgID.Add(1); id != 0 {
			return id
		}
	}
}

func randomID() uint64 {
	var b [8]byte
	for {
		_, _ = rand.Read(b[:])
		if id := binary.BigEndian.Uint64(b[:]); id != 0 {
			return id
		}
	}
}
