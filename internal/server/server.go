// Package server wires packetd together: the room adapter, the delivery Hub,
// the broker, and the TCP and UDP transports, from one Config.
//
// Concurrency: Start and Shutdown are called once each, in that order;
// the accessors are safe for concurrent use after Start.
package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/packetd/packetd/internal/admin"
	"github.com/packetd/packetd/internal/auth"
	"github.com/packetd/packetd/internal/broker"
	"github.com/packetd/packetd/internal/deliver"
	"github.com/packetd/packetd/internal/stats"
	"github.com/packetd/packetd/internal/store"
	"github.com/packetd/packetd/rooms"
	"github.com/packetd/packetd/transport/tcp"
	"github.com/packetd/packetd/transport/tlsterm"
	"github.com/packetd/packetd/transport/udp"
)

// Config configures a server. The zero value serves TCP and UDP on port
// 7070 with every default.
type Config struct {
	TCP        tcp.Config
	UDP        udp.Config
	Broker     broker.Config
	DisableTCP bool
	DisableUDP bool
	// TLS serves TLS on TLS.Addr into the TCP transport's sessions; an
	// empty Addr (the default) serves none. With DisableTCP the TCP
	// transport serves TLS connections only.
	TLS tlsterm.Config
	// MaxInbox bounds the bytes waiting for one TCP event loop from the
	// others; default 64 MiB.
	MaxInbox int
	// DataDir holds the durable store (DataDir/packetd.db): persistent
	// sessions and the QoS 1 messages they have not acknowledged survive a
	// restart, kill -9 included. Empty keeps them in memory only.
	DataDir string
	// NoSync skips fsync after each commit (see store.Config.NoSync).
	NoSync bool
	// CommitDelay makes each commit wait this long for more writes to
	// share its fsync (see store.Config.MaxBatchDelay).
	CommitDelay time.Duration
	Logger      *slog.Logger

	// Auth configures authentication, permissions and the per-address
	// HELLO limits (internal/auth). The zero value lets everyone in,
	// allowed everything, and limits nothing; packetd's flags set limits.
	Auth auth.Config

	// Admin configures the admin HTTP listener (internal/admin: metrics,
	// probes, the admin API); an empty Admin.Addr, the default, serves
	// none.
	Admin admin.Config
}

// Server is a running packetd.
type Server struct {
	Stats   *stats.Stats
	Adapter *rooms.Local
	Broker  *broker.Broker

	admin *admin.Server
	state atomic.Int32 // starting, running or stopping: what /readyz says

	log  *slog.Logger
	auth *auth.Guard
	tcp  *tcp.Server
	udp  *udp.Server
	tls  *tlsterm.Server
}

// New builds a server from cfg without starting it.
func New(cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxInbox == 0 {
		cfg.MaxInbox = 64 << 20
	}
	if cfg.DisableTCP && cfg.DisableUDP && cfg.TLS.Addr == "" {
		return nil, errors.New("server: both transports disabled")
	}
	s := &Server{Stats: new(stats.Stats), log: cfg.Logger}
	hub := deliver.NewHub(cfg.MaxInbox, s.Stats)
	bc := cfg.Broker
	bc.Logger = cfg.Logger
	if bc.Auth == nil {
		ac := cfg.Auth
		ac.Logger = cfg.Logger
		guard, err := auth.New(ac, s.Stats)
		if err != nil {
			return nil, err
		}
		bc.Auth = guard
	}
	s.auth = bc.Auth
	if bc.Store == nil && cfg.DataDir != "" {
		st, err := store.OpenBolt(store.Config{Dir: cfg.DataDir, NoSync: cfg.NoSync,
			MaxBatchDelay: cfg.CommitDelay, Logger: cfg.Logger, Observe: s.Stats.StoreTransaction.Observe})
		if err != nil {
			return nil, err
		}
		bc.Store = st
	}
	if bc.MaxFrame == 0 {
		bc.MaxFrame = cfg.TCP.MaxFrame
	}
	if bc.MaxDatagram == 0 {
		bc.MaxDatagram = cfg.UDP.MaxDatagram
	}
	var err error
	if s.Broker, err = broker.New(bc, hub, s.Stats); err != nil {
		if bc.Store != nil {
			_ = bc.Store.Close()
		}
		return nil, err
	}
	s.Adapter = s.Broker.Adapter()
	if cfg.Admin.Enabled() {
		ac := cfg.Admin
		ac.Logger = cfg.Logger
		if s.admin, err = admin.New(ac, s.Broker, s.Stats, s.ready); err != nil {
			_ = s.Broker.Close()
			return nil, err
		}
	}
	bc = s.Broker.Config()
	if !cfg.DisableTCP || cfg.TLS.Addr != "" {
		tc := cfg.TCP
		tc.MaxFrame, tc.Logger = bc.MaxFrame, cfg.Logger
		tc.NoListener = cfg.DisableTCP
		if s.tcp, err = tcp.New(tc, s.Broker, hub, s.Stats); err != nil {
			return nil, err
		}
	}
	if cfg.TLS.Addr != "" {
		lc := cfg.TLS
		lc.Logger = cfg.Logger
		if lc.HandshakeTimeout == 0 {
			lc.HandshakeTimeout = cfg.TCP.HandshakeTimeout
		}
		if lc.CloseGrace == 0 {
			lc.CloseGrace = cfg.TCP.CloseGrace
		}
		if s.tls, err = tlsterm.New(lc, s.tcp, s.Stats); err != nil {
			_ = s.Broker.Close()
			return nil, err
		}
	}
	if !cfg.DisableUDP {
		uc := cfg.UDP
		uc.MaxDatagram, uc.Logger = bc.MaxDatagram, cfg.Logger
		if s.udp, err = udp.New(uc, s.Broker, s.Stats); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Start binds the listeners and serves in the background. If it fails,
// everything New started is stopped again.
func (s *Server) Start() (err error) {
	if err := s.startAdmin(); err != nil {
		return err
	}
	defer s.started(&err)
	if s.tcp != nil {
		if err := s.tcp.Start(); err != nil {
			_ = s.Broker.Close()
			return err
		}
		if a := s.tcp.Addr(); a != nil {
			s.log.Info("listening", "transport", "tcp", "addr", a.String())
		}
	}
	if s.udp != nil {
		if err := s.udp.Start(); err != nil {
			if s.tcp != nil {
				_ = s.tcp.Shutdown(context.Background())
			}
			_ = s.Broker.Close()
			return err
		}
		s.log.Info("listening", "transport", "udp", "addr", s.udp.Addr().String())
	}
	if s.tls != nil {
		if err := s.tls.Start(); err != nil {
			if s.udp != nil {
				_ = s.udp.Shutdown(context.Background())
			}
			_ = s.tcp.Shutdown(context.Background())
			_ = s.Broker.Close()
			return err
		}
		s.log.Info("listening", "transport", "tls", "addr", s.tls.Addr().String())
	}
	return nil
}

// TLSAddr returns the TLS listener's address, nil if TLS is off.
func (s *Server) TLSAddr() net.Addr {
	if s.tls == nil {
		return nil
	}
	return s.tls.Addr()
}

// ReloadTLS reads the TLS certificate, key and client CA files again
// (SIGHUP): new connections use them, established ones carry on. If one
// is invalid the current ones stay and the error says why. Without TLS it
// does nothing.
func (s *Server) ReloadTLS() error {
	if s.tls == nil {
		return nil
	}
	return s.tls.Reload()
}

// ReloadTLSFiles is ReloadTLS from other paths (a configuration reload
// that changed -tls-cert, -tls-key or -tls-client-ca; clientCAFile ""
// turns client certificates off). Without TLS it fails: a listener is
// not started by a reload.
func (s *Server) ReloadTLSFiles(certFile, keyFile, clientCAFile string) error {
	if s.tls == nil {
		return errors.New("server: TLS is off (-tls-addr); a reload does not start it")
	}
	return s.tls.ReloadFiles(certFile, keyFile, clientCAFile)
}

// TCPAddr returns the TCP listener's address, nil if TCP is disabled.
func (s *Server) TCPAddr() net.Addr {
	if s.tcp == nil {
		return nil
	}
	return s.tcp.Addr()
}

// UDPAddr returns the UDP socket's address, nil if UDP is disabled.
func (s *Server) UDPAddr() net.Addr {
	if s.udp == nil {
		return nil
	}
	return s.udp.Addr()
}

// Shutdown says BYE to every session, stops both transports, and closes
// the store after its last commit.
func (s *Server) Shutdown(ctx context.Context) error {
	s.state.Store(stopping) // /readyz: 503 from now on
	var errs []error
	if s.tls != nil {
		s.tls.Close() // no new TLS connections; the TCP transport says BYE to the others
	}
	if s.tcp != nil {
		errs = append(errs, s.tcp.Shutdown(ctx))
	}
	if s.tls != nil {
		errs = append(errs, s.tls.Wait(ctx))
	}
	if s.udp != nil {
		errs = append(errs, s.udp.Shutdown(ctx))
	}
	errs = append(errs, s.Broker.Close())
	if s.admin != nil {
		errs = append(errs, s.admin.Shutdown(ctx))
	}
	return errors.Join(errs...)
}

// ReloadAuth re-reads the credentials file and the token key files (for
// SIGHUP). Each keeps its previous contents if the new ones are invalid;
// the error says which and why. Sessions keep the permissions they were
// granted; the new files apply from the next HELLO.
func (s *Server) ReloadAuth() error { return s.auth.Reload() }
