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
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/broker"
	"github.com/packetd/packetd/internal/buildinfo"
	"github.com/packetd/packetd/internal/config"
	"github.com/packetd/packetd/internal/server"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "hash-password" {
		if err := hashPassword(os.Args[2:], os.Stdin, os.Stdout, os.Stderr); err != nil {
			if !errors.Is(err, flag.ErrHelp) {
				fmt.Fprintln(os.Stderr, "packetd:", err)
			}
			os.Exit(2)
		}
		return
	}
	if err := run(os.Args[1:], os.Environ(), os.Stderr); err != nil {
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
	logFormat       string
	logLevel        slog.Level
	shutdownTimeout time.Duration
	version         bool
	printConfig     bool
	fs              *flag.FlagSet  // every setting
	loaded          *config.Loaded // where each came from
}

// notSettings are the flags a config file and the environment cannot set.
var notSettings = []string{"version", "print-config"}

func parse(args, environ []string, out io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("packetd", flag.ContinueOnError)
	fs.SetOutput(out)
	flags := server.AddFlags(fs, server.FlagDefaults{TCPAddr: ":7070", UDPAddr: ":7070", DataDir: "packetd-data", LogLevel: "info"})
	fs.BoolVar(&o.memory, "memory", false, "keep persistent sessions and QoS 1 messages in memory only (lost on restart)")
	fs.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	fs.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 10*time.Second, "time allowed for BYE and closing on SIGINT/SIGTERM")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	fs.String(config.FileFlag, "", "read settings from this YAML file (docs/CONFIG.md); also "+config.EnvFile)
	fs.BoolVar(&o.printConfig, "print-config", false, "print the effective settings, with where each came from, and exit")
	ld, err := config.Load(fs, args, config.Options{Environ: environ, Skip: notSettings})
	if err != nil {
		return nil, err
	}
	o.fs, o.loaded = fs, ld
	if o.cfg, err = flags.Config(); err != nil {
		return nil, err
	}
	if o.logLevel, err = flags.LogLevel(); err != nil {
		return nil, err
	}
	o.fsync = flags.FSync()
	if o.memory {
		o.cfg.DataDir = ""
	}
	return o, nil
}

func run(args, environ []string, stderr io.Writer) error {
	o, err := parse(args, environ, stderr)
	if err != nil {
		return err
	}
	if o.version {
		fmt.Fprintln(os.Stdout, "packetd", buildinfo.Version())
		return nil
	}
	if o.printConfig {
		return config.Print(os.Stdout, o.fs, o.loaded, notSettings...)
	}
	level := new(slog.LevelVar)
	level.Set(o.logLevel)
	log, err := newLogger(o.logFormat, level, stderr)
	if err != nil {
		return err
	}
	o.cfg.Logger = log
	o.cfg.Broker.Server = serverName(buildinfo.Version())

	// The signals are caught before "packetd started" is logged: a SIGHUP
	// or SIGTERM that follows that line must not find the default action
	// (which ends the process without BYE).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

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
	log.Info("packetd started", "version", buildinfo.Version(), "protocol", codec.Version, "store", store, "fsync", o.fsync)

	for running := true; running; {
		select {
		case <-hup:
			reload(args, environ, o, srv, log, level)
		case <-ctx.Done():
			running = false
		}
	}
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

// reload handles SIGHUP. It reads the configuration again (file,
// environment, command line) and applies what may change while sessions
// run: the TLS certificate, key and client CA files (read again, from new
// paths if they changed), the credentials and token key files (read
// again), the per-session rate limits, the members a room may hold, and
// the log level. Settings that need a restart are named in a warning, and
// stay as they run until then. What fails keeps its current state; an
// invalid configuration changes nothing but the files read again.
// Sessions are not disturbed. cur becomes what runs.
func reload(args, environ []string, cur *options, srv *server.Server, log *slog.Logger, level *slog.LevelVar) {
	log.Info("SIGHUP: reloading")
	next, err := parse(args, environ, io.Discard)
	if err != nil {
		log.Error("SIGHUP: the configuration is invalid; the running settings stay (files are read again)", "err", err)
		next = cur
	}
	var applied, restart []string
	tlsFiles := false
	for _, k := range changedSettings(cur.fs, next.fs) {
		switch k {
		case "tls-cert", "tls-key", "tls-client-ca":
			tlsFiles = true
		case "session-packet-rate", "session-byte-rate", "max-room-members", "log-level":
		default:
			restart = append(restart, k)
			continue
		}
		applied = append(applied, k)
		_ = cur.fs.Set(k, next.fs.Lookup(k).Value.String()) // valid: next parsed it
	}
	var errTLS error
	if tlsFiles {
		errTLS = srv.ReloadTLSFiles(next.cfg.TLS.CertFile, next.cfg.TLS.KeyFile, next.cfg.TLS.ClientCAFile)
	} else {
		errTLS = srv.ReloadTLS()
	}
	b := next.cfg.Broker
	err = errors.Join(errTLS, srv.ReloadAuth(), srv.Broker.SetLimits(b.PacketRate, b.ByteRate, b.MaxRoomMembers))
	level.Set(next.logLevel)
	if len(restart) > 0 {
		log.Warn("SIGHUP: settings changed that take effect on a restart; they run as before", "settings", strings.Join(restart, ","))
	}
	if err != nil {
		log.Error("SIGHUP: reload incomplete; what failed keeps its previous state", "err", err, "changed", strings.Join(applied, ","))
		return
	}
	log.Info("SIGHUP: reloaded", "changed", strings.Join(applied, ","))
}

// changedSettings returns the names of the flags whose values differ
// between a and b (two parses of the same flag set).
func changedSettings(a, b *flag.FlagSet) []string {
	var out []string
	a.VisitAll(func(f *flag.Flag) {
		if g := b.Lookup(f.Name); g != nil && g.Value.String() != f.Value.String() && !slices.Contains(notSettings, f.Name) {
			out = append(out, f.Name)
		}
	})
	return out
}

func newLogger(format string, level slog.Leveler, w io.Writer) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: level}
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
