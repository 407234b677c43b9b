package server

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/broker"
)

// FlagDefaults are the defaults that differ between packetd and the
// servers packetbench spawns.
type FlagDefaults struct {
	TCPAddr, UDPAddr string // listen addresses
	DataDir          string // "" keeps the store in memory
	LogLevel         string
}

// Flags are packetd's server flags (docs/OPERATIONS.md lists them), bound
// to a flag.FlagSet by AddFlags. After the set is parsed, Config returns
// the configuration they describe.
type Flags struct {
	cfg      Config
	fsync    bool
	overflow string
	logLevel string
	auth     authFlags
}

// AddFlags defines packetd's server flags on fs, with packetd's defaults
// except those in d. cmd/packetd and packetbench's spawned server share
// them, so a flag means the same in both.
func AddFlags(fs *flag.FlagSet, d FlagDefaults) *Flags {
	f := &Flags{}
	c := &f.cfg
	fs.StringVar(&c.TCP.Addr, "tcp", d.TCPAddr, "TCP listen address (host:port); \"off\" disables TCP")
	fs.StringVar(&c.UDP.Addr, "udp", d.UDPAddr, "UDP listen address (host:port); \"off\" disables UDP")
	fs.StringVar(&c.TLS.Addr, "tls-addr", "", "TLS listen address (host:port), served by the TCP transport; empty serves no TLS")
	fs.StringVar(&c.TLS.CertFile, "tls-cert", "", "TLS certificate chain (PEM, leaf first); reloaded on SIGHUP")
	fs.StringVar(&c.TLS.KeyFile, "tls-key", "", "TLS private key (PEM); reloaded on SIGHUP")
	fs.StringVar(&c.TLS.ClientCAFile, "tls-client-ca", "", "CA bundle (PEM) of client certificates: require one (mTLS); its subject CN (else first URI, DNS SAN) is the client's identity; reloaded on SIGHUP")
	fs.IntVar(&c.TCP.Loops, "tcp-loops", 1, "TCP event loops")
	fs.IntVar(&c.UDP.Loops, "udp-loops", 1, "UDP event loops (one socket each, SO_REUSEPORT)")
	fs.IntVar(&c.TCP.MaxFrame, "max-frame", codec.DefaultMaxFrame, "largest TCP packet in bytes")
	fs.IntVar(&c.TCP.MaxHelloFrame, "max-hello-frame", 1024, "largest TCP packet before HELLO in bytes")
	fs.IntVar(&c.UDP.MaxDatagram, "max-datagram", codec.DefaultMaxDatagram, "largest UDP datagram in bytes, received or sent")
	fs.IntVar(&c.TCP.MaxOutbound, "max-outbound", 4<<20, "bytes queued to one TCP connection before its messages are dropped")
	fs.IntVar(&c.UDP.MaxPending, "max-pending", 10_000, "UDP sessions awaiting address validation; further HELLOs are dropped")
	fs.IntVar(&c.UDP.SocketBuffer, "udp-socket-buffer", 4<<20, "SO_RCVBUF/SO_SNDBUF to request for UDP sockets (the kernel caps it)")
	fs.IntVar(&c.TCP.MaxConns, "max-conns", 0, "open TCP connections; 0 means the file-descriptor limit less 256")
	fs.IntVar(&c.TCP.MaxConnsPerIP, "max-conns-per-ip", 1000, "open TCP and TLS connections from one address (IPv6: one /64), loopback not counted; beyond: ERROR 309 and a close; 0: no limit")
	fs.IntVar(&c.Broker.MaxSessions, "max-sessions", 100_000, "sessions per process, both transports")
	fs.IntVar(&c.Broker.MaxRooms, "max-rooms", 256, "rooms one session may join, its own room not counted")
	fs.IntVar(&c.Broker.MaxTargets, "max-targets", 64, "rooms (and, separately, exceptions) one EMIT may name")
	fs.DurationVar(&c.Broker.KeepAlive, "keepalive", 60*time.Second, "keepalive for clients that ask for none; silence for 1.5x ends a session")
	fs.DurationVar(&c.Broker.MinKeepAlive, "min-keepalive", 5*time.Second, "smallest keepalive a client may ask for")
	fs.DurationVar(&c.Broker.MaxKeepAlive, "max-keepalive", time.Hour, "largest keepalive a client may ask for")
	fs.DurationVar(&c.TCP.HandshakeTimeout, "handshake-timeout", 10*time.Second, "time a new connection or UDP session has to complete HELLO")
	fs.IntVar(&c.MaxInbox, "max-inbox", 64<<20, "bytes waiting for one TCP event loop from the others before deliveries are dropped")
	fs.StringVar(&c.DataDir, "data-dir", d.DataDir, "directory of the durable store (persistent sessions, QoS 1 messages); empty keeps them in memory")
	fs.BoolVar(&f.fsync, "fsync", true, "fsync each commit before a QoS 1 ACK; false survives process crashes but not machine crashes")
	fs.DurationVar(&c.CommitDelay, "commit-delay", 0, "wait this long for more writes to share a commit's fsync (latency for throughput)")
	fs.IntVar(&c.Broker.Inflight, "inflight", 20, "QoS 1 MESSAGEs sent ahead of ACKs, for clients that ask for no other")
	fs.IntVar(&c.Broker.MaxInflight, "max-inflight", 1000, "largest inflight window a client may ask for")
	fs.IntVar(&c.Broker.QueueMessages, "queue-messages", 1000, "QoS 1 messages a session's queue holds beyond its inflight window")
	fs.IntVar(&c.Broker.QueueBytes, "queue-bytes", 1<<20, "bytes of QoS 1 message bodies a session's queue holds")
	fs.DurationVar(&c.Broker.QueueAge, "queue-age", 24*time.Hour, "queued QoS 1 messages older than this are dropped")
	fs.StringVar(&f.overflow, "overflow", "drop-oldest", "what a full queue does: drop-oldest, drop-newest or disconnect")
	fs.DurationVar(&c.Broker.Expiry, "session-expiry", 2*time.Hour, "how long a persistent session outlives its connection, for clients that ask for no other")
	fs.DurationVar(&c.Broker.MaxExpiry, "max-session-expiry", 7*24*time.Hour, "longest session expiry a client may ask for")
	fs.DurationVar(&c.Broker.RetryTimeout, "retry-timeout", time.Second, "first UDP retransmission timeout of a QoS 1 MESSAGE (randomised up to 1.5x, doubling)")
	fs.DurationVar(&c.Broker.MinRTO, "min-rto", 200*time.Millisecond, "floor on the retransmission timeout measured from round trips")
	fs.IntVar(&c.Broker.MaxRetries, "max-retries", 4, "UDP retransmissions of a QoS 1 MESSAGE before the client counts as gone")
	fs.IntVar(&c.Broker.PacketRate, "session-packet-rate", 0, "packets a session may send a second (EMIT, JOIN, LEAVE, PING), a burst of one second's worth; beyond: TCP ERROR 310 and a close, UDP the datagram dropped; 0: no limit")
	fs.IntVar(&c.Broker.ByteRate, "session-byte-rate", 0, "bytes of those packets a session may send a second, likewise; 0: no limit")
	fs.IntVar(&c.Broker.MaxRoomMembers, "max-room-members", 0, "members one room may hold; a JOIN beyond gets ERROR 208; 0: no limit but -max-sessions")
	fs.StringVar(&f.logLevel, "log-level", d.LogLevel, "log level: debug, info, warn or error")
	fs.StringVar(&c.Admin.Addr, "admin-addr", "", "admin HTTP listener (metrics, probes, admin API), host:port on loopback such as 127.0.0.1:7071; empty serves none")
	fs.BoolVar(&c.Admin.AllowRemote, "admin-allow-remote", false, "let -admin-addr be an address that is not loopback (the admin API has no authentication of its own)")
	fs.BoolVar(&c.Admin.Pprof, "admin-pprof", false, "serve Go's profiler under /debug/pprof/ on the admin listener")
	f.auth.add(fs, &c.Auth)
	return f
}

// Config returns the configuration the parsed flags describe, with the
// values derived from them, or an error naming a flag whose value is not
// valid.
func (f *Flags) Config() (Config, error) {
	c := f.cfg
	c.UDP.HandshakeTimeout = c.TCP.HandshakeTimeout
	c.DisableTCP = c.TCP.Addr == "off"
	c.DisableUDP = c.UDP.Addr == "off"
	c.NoSync = !f.fsync
	if c.TLS.Addr == "off" {
		c.TLS.Addr = ""
	}
	switch {
	case c.TLS.Addr != "" && (c.TLS.CertFile == "" || c.TLS.KeyFile == ""):
		return c, errors.New("-tls-addr: needs -tls-cert and -tls-key")
	case c.TLS.Addr == "" && (c.TLS.CertFile != "" || c.TLS.KeyFile != "" || c.TLS.ClientCAFile != ""):
		return c, errors.New("-tls-cert, -tls-key, -tls-client-ca: need -tls-addr")
	}
	var err error
	if c.Broker.Overflow, err = broker.ParseOverflow(f.overflow); err != nil {
		return c, fmt.Errorf("-overflow: %w", err)
	}
	if err := f.auth.config(&c.Auth); err != nil {
		return c, err
	}
	return c, nil
}

// FSync reports whether -fsync is on.
func (f *Flags) FSync() bool { return f.fsync }

// LogLevel returns the -log-level flag's level.
func (f *Flags) LogLevel() (slog.Level, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(f.logLevel)); err != nil {
		return lv, fmt.Errorf("-log-level: %w", err)
	}
	return lv, nil
}
