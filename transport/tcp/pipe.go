package tcp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"

	"golang.org/x/sys/unix"

	"github.com/packetd/packetd/codec"
)

// pipePeer is what the side that terminated a connection (TLS) verified:
// the client's address and identity. Connections opened with Pipe keep it
// in Server.piped rather than in conn, so plain TCP connections pay
// nothing for it.
type pipePeer struct {
	transport string
	remote    netip.AddrPort
	identity  string
}

// Reserve takes one of MaxConns' slots, and one of MaxConnsPerIP's for
// the client address ip, for a connection that will be accepted or
// handed over with Pipe. It returns codec.CodeNormal if both were free,
// else the code to refuse the connection with: CodeServerFull, or
// CodeTooManyAttempts for an address at its limit (counted). The caller
// gives the slots back with Release if it does not use them.
func (s *Server) Reserve(ip netip.Addr) codec.Code {
	if !s.perIP.add(ip, s.cfg.MaxConnsPerIP) {
		s.stats.ConnsPerIPRefused.Add(1)
		return codec.CodeTooManyAttempts
	}
	for {
		n := s.conns.Load()
		if n >= int64(s.cfg.MaxConns) {
			s.perIP.done(ip, s.cfg.MaxConnsPerIP)
			return codec.CodeServerFull
		}
		if s.conns.CompareAndSwap(n, n+1) {
			return codec.CodeNormal
		}
	}
}

// Release gives back the slots Reserve took for ip.
func (s *Server) Release(ip netip.Addr) {
	s.conns.Add(-1)
	s.perIP.done(ip, s.cfg.MaxConnsPerIP)
}

// Pipe opens a connection into the server on behalf of a connection the
// caller terminated itself, such as TLS: it returns one end of a Unix
// socket pair whose other end is served exactly like an accepted TCP
// connection, except that its peer reports remote as its address and
// identity as its verified identity (broker.Peer), and transport (such
// as "tls") names its transport in listings. The caller copies the
// client's plaintext both ways between the returned end and the client,
// and closes it when done. Pipe uses a slot taken with Reserve: it is
// given back when the connection closes, or at once if Pipe fails.
func (s *Server) Pipe(transport string, remote netip.AddrPort, identity string) (*net.UnixConn, error) {
	if s.stopping.Load() {
		s.Release(remote.Addr())
		return nil, errors.New("tcp: shutting down")
	}
	ours, theirs, err := socketPair()
	if err != nil {
		s.Release(remote.Addr())
		return nil, fmt.Errorf("tcp: socketpair: %w", err)
	}
	if _, err := s.cli.EnrollContext(theirs, &pipePeer{transport: transport, remote: remote, identity: identity}); err != nil { // closes theirs either way
		s.Release(remote.Addr())
		_ = ours.Close()
		return nil, fmt.Errorf("tcp: handing a connection to an event loop: %w", err)
	}
	return ours, nil
}

// socketPair returns both ends of a new AF_UNIX stream socket pair, each
// as a *net.UnixConn (gnet enrolls only those, and duplicates it).
func socketPair() (a, b *net.UnixConn, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	if a, err = fileConn(fds[0]); err != nil {
		_ = unix.Close(fds[1])
		return nil, nil, err
	}
	if b, err = fileConn(fds[1]); err != nil {
		_ = a.Close()
		return nil, nil, err
	}
	return a, b, nil
}

// fileConn turns fd into a *net.UnixConn, consuming fd.
func fileConn(fd int) (*net.UnixConn, error) {
	f := os.NewFile(uintptr(fd), "socketpair")
	c, err := net.FileConn(f) // a duplicate of fd
	_ = f.Close()
	if err != nil {
		return nil, err
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		_ = c.Close()
		return nil, errors.New("not a unix socket")
	}
	return uc, nil
}

// piped returns what Pipe was given for tc, nil for an accepted TCP
// connection. Safe on any goroutine while tc is open.
func (tc *conn) piped() *pipePeer {
	if _, ok := tc.c.RemoteAddr().(*net.TCPAddr); ok {
		return nil
	}
	if p, ok := tc.srv.piped.Load(tc); ok {
		return p.(*pipePeer)
	}
	return nil
}

// Transport names the connection's transport in listings (the broker's
// admin API): "tcp", or what Pipe was given.
func (tc *conn) Transport() string {
	if p := tc.piped(); p != nil {
		return p.transport
	}
	return "tcp"
}
