// Command packetd is a packet server for devices that speak raw TCP or UDP:
// they join rooms and every message emitted to a room reaches its members,
// whichever transport each uses. Run it with no flags to serve both
// transports on port 7070; docs/OPERATIONS.md lists every flag.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/broker"
	"github.com/packetd/packetd/internal/server"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "packetd:", err)
			os.Exit(1)
		}
	}
}

// options are the command line; the defaults are the documented ones.
type options struct {
	cfg             server.Config
	memory          bool
	fsync           bool
	overflow        string
	logFormat       string
	logLevel        string
	shutdownTimeout time.Duration
	version         bool
}

func parse(args []string, out io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("packetd", flag.ContinueOnError)
	fs.SetOutput(out)
	c := &o.cfg
	fs.StringVar(&c.TCP.Addr, "tcp", ":7070", "TCP listen address (host:port); \"off\" disables TCP")
	fs.StringVar(&c.UDP.Addr, "udp", ":7070", "UDP listen address (host:port); \"off\" disables UDP")
	fs.IntVar(&c.TCP.Loops, "tcp-loops", 1, "TCP event loops")
	fs.IntVar(&c.UDP.Loops, "udp-loops", 1, "UDP event loops (one socket each, SO_REUSEPORT)")
	fs.IntVar(&c.TCP.MaxFrame, "max-frame", codec.DefaultMaxFrame, "largest TCP packet in bytes")
	fs.IntVar(&c.TCP.MaxHelloFrame, "max-hello-frame", 1024, "largest TCP packet before HELLO in bytes")
	fs.IntVar(&c.UDP.MaxDatagram, "max-datagram", codec.DefaultMaxDatagram, "largest UDP datagram in bytes, received or sent")
	fs.IntVar(&c.TCP.MaxOutbound, "max-outbound", 4<<20, "bytes queued to one TCP connection before its messages are dropped")
	fs.IntVar(&c.UDP.MaxPending, "max-pending", 10_000, "UDP sessions awaiting address validation; further HELLOs are dropped")
	fs.IntVar(&c.UDP.SocketBuffer, "udp-socket-buffer", 4<<20, "SO_RCVBUF/SO_SNDBUF to request for UDP sockets (the kernel caps it)")
	fs.IntVar(&c.TCP.MaxConns, "max-conns", 0, "open TCP connections; 0 means the file-descriptor limit less 256")
	fs.IntVar(&c.Broker.MaxSessions, "max-sessions", 100_000, "sessions per process, both transports")
	fs.IntVar(&c.Broker.MaxRooms, "max-rooms", 256, "rooms one session may join, its own room not counted")
	fs.IntVar(&c.Broker.MaxTargets, "max-targets", 64, "rooms (and, separately, exceptions) one EMIT may name")
	fs.DurationVar(&c.Broker.KeepAlive, "keepalive", 60*time.Second, "keepalive for clients that ask for none; silence for 1.5x ends a session")
	fs.DurationVar(&c.Broker.MinKeepAlive, "min-keepalive", 5*time.Second, "smallest keepalive a client may ask for")
	fs.DurationVar(&c.Broker.MaxKeepAlive, "max-keepalive", time.Hour, "largest keepalive a client may ask for")
	fs.DurationVar(&c.TCP.HandshakeTimeout, "handshake-timeout", 10*time.Second, "time a new connection or UDP session has to complete HELLO")
	fs.IntVar(&c.MaxInbox, "max-inbox", 64<<20, "bytes waiting for one TCP event loop from the others before deliveries are dropped")
	fs.StringVar(&c.DataDir, "data-dir", "packetd-data", "directory of the durable store (persistent sessions, QoS 1 messages)")
	fs.BoolVar(&o.memory, "memory", false, "keep persistent sessions and QoS 1 messages in memory only (lost on restart)")
	fs.BoolVar(&o.fsync, "fsync", true, "fsync each commit before a QoS 1 ACK; false survives process crashes but not machine crashes")
	fs.DurationVar(&c.CommitDelay, "commit-delay", 0, "wait this long for more writes to share a commit's fsync (latency for throughput)")
	fs.IntVar(&c.Broker.Inflight, "inflight", 20, "QoS 1 MESSAGEs sent ahead of ACKs, for clients that ask for no other")
	fs.IntVar(&c.Broker.MaxInflight, "max-inflight", 1000, "largest inflight window a client may ask for")
	fs.IntVar(&c.Broker.QueueMessages, "queue-messages", 1000, "QoS 1 messages a session's queue holds beyond its inflight window")
	fs.IntVar(&c.Broker.QueueBytes, "queue-bytes", 1<<20, "bytes of QoS 1 message bodies a session's queue holds")
	fs.DurationVar(&c.Broker.QueueAge, "queue-age", 24*time.Hour, "queued QoS 1 messages older than this are dropped")
	fs.StringVar(&o.overflow, "overflow", "drop-oldest", "what a full queue does: drop-oldest, drop-newest or disconnect")
	fs.DurationVar(&c.Broker.Expiry, "session-expiry", 2*time.Hour, "how long a persistent session outlives its connection, for clients that ask for no other")
	fs.DurationVar(&c.Broker.MaxExpiry, "max-session-expiry", 7*24*time.Hour, "longest session expiry a client may ask for")
	fs.DurationVar(&c.Broker.RetryTimeout, "retry-timeout", time.Second, "first UDP retransmission timeout of a QoS 1 MESSAGE (randomised up to 1.5x, doubling)")
	fs.DurationVar(&c.Broker.MinRTO, "min-rto", 200*time.Millisecond, "floor on the retransmission timeout measured from round trips")
	fs.IntVar(&c.Broker.MaxRetries, "max-retries", 4, "UDP retransmissions of a QoS 1 MESSAGE before the client counts as gone")
	fs.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 10*time.Second, "time allowed for BYE and closing on SIGINT/SIGTERM")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	c.UDP.HandshakeTimeout = c.TCP.HandshakeTimeout
	c.DisableTCP = c.TCP.Addr == "off"
	c.DisableUDP = c.UDP.Addr == "off"
	c.NoSync = !o.fsync
	if o.memory {
		c.DataDir = ""
	}
	var err error
	if c.Broker.Overflow, err = broker.ParseOverflow(o.overflow); err != nil {
		return nil, fmt.Errorf("-overflow: %w", err)
	}
	return o, nil
}

func run(args []string, stderr io.Writer) error {
	o, err := parse(args, stderr)
	if err != nil {
		return err
	}
	if o.version {
		fmt.Fprintln(os.Stdout, "packetd", version())
		return nil
	}
	log, err := newLogger(o.logFormat, o.logLevel, stderr)
	if err != nil {
		return err
	}
	o.cfg.Logger = log
	o.cfg.Broker.Server = serverName(version())

	srv, err := server.New(o.cfg)
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	store := "memory"
	if o.cfg.DataDir != "" {
		store = o.cfg.DataDir
	}
	log.Info("packetd started", "version", version(), "protocol", codec.Version, "store", store, "fsync", o.fsync)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	stop()
	log.Info("shutting down: saying BYE to clients", "sessions", srv.Broker.Sessions())
	sctx, cancel := context.WithTimeout(context.Background(), o.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

func newLogger(format, level string, w io.Writer) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("-log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("-log-format: %q is neither text nor json", format)
	}
}

// serverName is what WELCOME announces: "packetd/" and the version if
// that fits the protocol's budget, else "packetd".
func serverName(v string) string {
	if name := "packetd/" + v; len(name) <= broker.MaxServerName {
		return name
	}
	return "packetd"
}

// version is the module version, or "devel" plus the VCS revision for a
// build from a source tree.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	for _, s := range bi.Settings {
		switch {
		case s.Key == "vcs.revision" && len(s.Value) >= 12:
			v += "+" + s.Value[:12]
		case s.Key == "vcs.modified" && s.Value == "true":
			v += "-dirty"
		}
	}
	return v
}
