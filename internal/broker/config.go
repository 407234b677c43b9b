package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/auth"
	"github.com/packetd/packetd/internal/store"
)

// Overflow is what a session's queue does when a QoS 1 message arrives and
// the queue is at one of its limits.
type Overflow uint8

const (
	// DropOldest drops the oldest queued (not yet sent) message to make
	// room: for devices, fresh data matters more than stale data.
	DropOldest Overflow = iota
	// DropNewest refuses the new message (mosquitto's behaviour).
	DropNewest
	// Disconnect refuses the new message and disconnects the session if it
	// is online (ERROR 303, slow consumer), keeping its queue: the client
	// reconnects and drains it.
	Disconnect
)

var overflowNames = [...]string{DropOldest: "drop-oldest", DropNewest: "drop-newest", Disconnect: "disconnect"}

func (o Overflow) String() string {
	if int(o) < len(overflowNames) {
		return overflowNames[o]
	}
	return fmt.Sprintf("Overflow(%d)", uint8(o))
}

// ParseOverflow parses "drop-oldest", "drop-newest" or "disconnect".
func ParseOverflow(s string) (Overflow, error) {
	for i, n := range overflowNames {
		if n == s {
			return Overflow(i), nil
		}
	}
	return 0, fmt.Errorf("broker: overflow policy %q is not drop-oldest, drop-newest or disconnect", s)
}

// MaxServerName bounds the server name in WELCOME, so that the largest
// WELCOME (MaxWelcome bytes) fits the 192 bytes a server may send to a
// UDP address that sent only a minimal 64-byte HELLO.
const MaxServerName = 10

// MaxWelcome is the size of the largest WELCOME packet, header included:
// a 17-byte sid, a MaxServerName-byte server name, every other field
// present, missed as a uint64, max_frame, expiry, epoch, next and pub_next
// as uint32, and keepalive, max_datagram, max_rooms and inflight as
// uint16, which Config's limits guarantee (a keepalive of at most 65535 s,
// at most 65535 rooms, a window of at most 65535). That is a TCP WELCOME;
// over UDP the 14-byte key replaces max_frame (up to 15 bytes), one byte
// less. Three times a 64-byte HELLO datagram is 192 bytes.
const MaxWelcome = 190

// maxUint16Field is the largest value a WELCOME field may have and still
// be encoded in 3 bytes (msgpack uint16): larger limits would make the
// WELCOME outgrow MaxWelcome.
const maxUint16Field = 1<<16 - 1

// maxUDPPayload is the largest UDP datagram payload (over IPv4).
const maxUDPPayload = 65507

// Config holds the session layer's limits and delivery settings. Zero
// values mean the defaults given on each field.
type Config struct {
	MaxSessions  int           // sessions per process, online or stored; default 100,000
	MaxRooms     int           // rooms per session besides its own; default 256, at most 65535 (the adapter enforces it)
	MaxTargets   int           // rooms, and separately exceptions, per EMIT; default 64
	KeepAlive    time.Duration // keepalive for clients that ask for none; default 60 s
	MinKeepAlive time.Duration // floor on a client's keepalive; default 5 s
	MaxKeepAlive time.Duration // ceiling on a client's keepalive; default 1 h, at most 65535 s
	MaxFrame     int           // announced in WELCOME; default codec.DefaultMaxFrame, at most 4294967295
	MaxDatagram  int           // announced in WELCOME; default codec.DefaultMaxDatagram, at most 65507
	Server       string        // announced in WELCOME; at most MaxServerName bytes

	// QoS 1 delivery.
	Inflight      int           // QoS 1 MESSAGEs sent ahead of ACKs, for clients that ask for none; default 20
	MaxInflight   int           // the most a client may ask for; default 1000, at most 65535
	QueueMessages int           // messages a session's queue holds beyond its inflight window; default 1000
	QueueBytes    int           // bytes of message bodies a session's queue holds; default 1 MiB
	QueueAge      time.Duration // queued messages older than this are dropped; default 24 h
	Overflow      Overflow      // what a full queue does; default DropOldest
	Expiry        time.Duration // how long a persistent session outlives its connection, for clients that ask for none; default 2 h
	MaxExpiry     time.Duration // the most a client may ask for; default 7 days, at most 4294967295 s
	RetryTimeout  time.Duration // first UDP retransmission timeout, randomised up to 1.5x, doubling; default 1 s
	MinRTO        time.Duration // floor on the timeout measured from round trips; default 200 ms
	MaxRetries    int           // UDP retransmissions of one message before the client counts as gone; default 4
	DedupIDs      int           // QoS 1 EMIT ids remembered per session to drop resent copies; default 1024
	Tick          time.Duration // retransmission and expiry sweep period; default 100 ms

	// Per-session rate limits, token buckets with a burst of one second's
	// worth: the packets a client sends of its own accord (EMIT, JOIN,
	// LEAVE, PING; not the ACKs and PONGs that answer the server), and
	// their bytes (header and body). A packet beyond either ends the
	// session with ERROR 310. 0: no limit (the default: one publisher
	// fanning out to a room is packetd's core workload).
	PacketRate int // packets a second, at most MaxRate
	ByteRate   int // bytes a second, at most MaxRate

	// MaxRoomMembers is how many members one room may hold; a JOIN
	// beyond it gets ERROR 208. 0: no limit but MaxSessions.
	MaxRoomMembers int

	// Auth checks each HELLO (credentials, per-address limits) and grants
	// the session its permissions; nil lets every HELLO in, allowed
	// everything.
	Auth *auth.Guard

	// Store persists sessions and QoS 1 messages; nil keeps them in
	// memory only (store.NewMemory).
	Store  store.Store
	Logger *slog.Logger // default slog.Default()
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
	def(&out.Inflight, 20)
	def(&out.MaxInflight, 1000)
	def(&out.QueueMessages, 1000)
	def(&out.QueueBytes, 1<<20)
	def(&out.MaxRetries, 4)
	def(&out.DedupIDs, 1024)
	defDur(&out.KeepAlive, 60*time.Second)
	defDur(&out.MinKeepAlive, 5*time.Second)
	defDur(&out.MaxKeepAlive, time.Hour)
	defDur(&out.QueueAge, 24*time.Hour)
	defDur(&out.Expiry, 2*time.Hour)
	defDur(&out.MaxExpiry, 7*24*time.Hour)
	defDur(&out.RetryTimeout, time.Second)
	defDur(&out.MinRTO, 200*time.Millisecond)
	defDur(&out.Tick, 100*time.Millisecond)
	if out.Logger == nil {
		out.Logger = slog.Default()
	}
	if out.Store == nil {
		out.Store = store.NewMemory()
	}
	switch {
	case out.MaxSessions < 0, out.MaxRooms < 0, out.MaxTargets < 0, out.MaxFrame < 0, out.MaxDatagram < 0,
		out.Inflight < 0, out.QueueMessages < 0, out.QueueBytes < 0, out.MaxRetries < 0, out.DedupIDs < 0,
		out.PacketRate < 0, out.ByteRate < 0, out.MaxRoomMembers < 0:
		return out, errors.New("broker: negative limit")
	case out.MaxKeepAlive > maxUint16Field*time.Second, out.MaxRooms > maxUint16Field, out.MaxInflight > maxUint16Field:
		// WELCOME announces them; wider, it would outgrow MaxWelcome.
		return out, fmt.Errorf("broker: max keepalive %v, max rooms %d or max inflight %d beyond what WELCOME carries (65535 s, 65535, 65535)",
			out.MaxKeepAlive, out.MaxRooms, out.MaxInflight)
	case out.MaxDatagram > maxUDPPayload || int64(out.MaxFrame) > math.MaxUint32 || out.MaxExpiry > math.MaxUint32*time.Second:
		return out, fmt.Errorf("broker: max datagram %d, max frame %d or max expiry %v beyond what WELCOME carries",
			out.MaxDatagram, out.MaxFrame, out.MaxExpiry)
	case out.MinKeepAlive < time.Second || out.MinKeepAlive > out.MaxKeepAlive:
		return out, fmt.Errorf("broker: keepalive bounds [%v, %v] invalid", out.MinKeepAlive, out.MaxKeepAlive)
	case out.KeepAlive < out.MinKeepAlive || out.KeepAlive > out.MaxKeepAlive:
		return out, fmt.Errorf("broker: keepalive %v outside [%v, %v]", out.KeepAlive, out.MinKeepAlive, out.MaxKeepAlive)
	case out.PacketRate > MaxRate || out.ByteRate > MaxRate:
		return out, fmt.Errorf("broker: rate limits %d packets/s, %d bytes/s: at most %d", out.PacketRate, out.ByteRate, MaxRate)
	case out.Inflight > out.MaxInflight:
		return out, fmt.Errorf("broker: inflight %d above the maximum %d", out.Inflight, out.MaxInflight)
	case out.Expiry > out.MaxExpiry:
		return out, fmt.Errorf("broker: session expiry %v above the maximum %v", out.Expiry, out.MaxExpiry)
	case len(out.Server) > MaxServerName:
		return out, fmt.Errorf("broker: server name %q longer than %d bytes", out.Server, MaxServerName)
	case out.Overflow > Disconnect:
		return out, fmt.Errorf("broker: unknown overflow policy %v", out.Overflow)
	}
	return out, nil
}
