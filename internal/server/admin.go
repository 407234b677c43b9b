package server

import (
	"context"
	"errors"
	"net"
)

// The server's lifecycle, as /readyz reports it.
const (
	starting int32 = iota // New returned; Start has not finished
	running               // every listener is bound and the store is open
	stopping              // Shutdown was called
)

var (
	errStarting = errors.New("starting")
	errStopping = errors.New("shutting down")
)

// ready is the admin listener's readiness check: nil once Start has bound
// every listener (the store was opened by New), an error before and from
// the moment Shutdown begins.
func (s *Server) ready() error {
	switch s.state.Load() {
	case running:
		return nil
	case stopping:
		return errStopping
	}
	return errStarting
}

// startAdmin starts the admin listener, if configured, before the
// transports: a busy admin port fails Start before any client connects.
func (s *Server) startAdmin() error {
	if s.admin == nil {
		return nil
	}
	if err := s.admin.Start(); err != nil {
		_ = s.Broker.Close()
		return err
	}
	s.log.Info("listening", "transport", "admin", "addr", s.admin.Addr().String())
	return nil
}

// started ends Start: ready if *err is nil, else the admin listener stops
// again (the transports' failures stop the rest).
func (s *Server) started(err *error) {
	switch {
	case *err == nil:
		s.state.CompareAndSwap(starting, running)
	case s.admin != nil:
		_ = s.admin.Shutdown(context.Background())
	}
}

// AdminAddr returns the admin listener's address, nil if it is off.
func (s *Server) AdminAddr() net.Addr {
	if s.admin == nil {
		return nil
	}
	return s.admin.Addr()
}
