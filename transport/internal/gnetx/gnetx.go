// Package gnetx holds what both transports need from gnet beyond its API:
// a slog adapter for its logger, a deliver.Executor over an event loop, and
// the address an engine's listener is bound to. It is safe for concurrent
// use.
package gnetx

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/panjf2000/gnet/v2"
	"github.com/panjf2000/gnet/v2/pkg/logging"
	"golang.org/x/sys/unix"
)

// Logger adapts slog to gnet's logger. gnet's INFO chatter (one line per
// engine start) is logged at DEBUG.
type Logger struct{ L *slog.Logger }

var _ logging.Logger = Logger{}

func (l Logger) Debugf(format string, args ...any) {
	l.L.Debug(fmt.Sprintf(format, args...), "lib", "gnet")
}
func (l Logger) Infof(format string, args ...any) {
	l.L.Debug(fmt.Sprintf(format, args...), "lib", "gnet")
}
func (l Logger) Warnf(format string, args ...any) {
	l.L.Warn(fmt.Sprintf(format, args...), "lib", "gnet")
}
func (l Logger) Errorf(format string, args ...any) {
	l.L.Error(fmt.Sprintf(format, args...), "lib", "gnet")
}
func (l Logger) Fatalf(format string, args ...any) {
	l.L.Error(fmt.Sprintf(format, args...), "lib", "gnet")
}

// Executor runs functions on one event loop (deliver.Executor).
type Executor struct{ EL gnet.EventLoop }

func (e Executor) Execute(f func()) error {
	return e.EL.Execute(context.Background(), runnable(f))
}

type runnable func()

func (r runnable) Run(context.Context) error { r(); return nil }

// BoundAddr returns the local address of the engine's (only) listener, so a
// server asked to listen on port 0 can say which port it got.
func BoundAddr(eng gnet.Engine, network string) (net.Addr, error) {
	fd, err := eng.Dup()
	if err != nil {
		return nil, fmt.Errorf("dup listener: %w", err)
	}
	defer unix.Close(fd)
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return nil, fmt.Errorf("getsockname: %w", err)
	}
	var ip net.IP
	var port int
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		ip, port = net.IP(a.Addr[:]), a.Port
	case *unix.SockaddrInet6:
		ip, port = net.IP(a.Addr[:]), a.Port
	default:
		return nil, fmt.Errorf("unexpected socket address %T", sa)
	}
	if network == "udp" {
		return &net.UDPAddr{IP: ip, Port: port}, nil
	}
	return &net.TCPAddr{IP: ip, Port: port}, nil
}
