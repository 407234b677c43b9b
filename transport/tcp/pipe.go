package tcp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"

	"golang.org/x/sys/unix"
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

// Reserve takes one of MaxConns' slots for a connection that will be
// handed over with Pipe, and reports whether one was free. The caller
// gives the slot back with Release if it does not call Pipe.
func (s *Server) Reserve() bool {
	for {
		n := s.conns.Load()
		if n >= int64(s.cfg.MaxConns) {
			return false
		}
		if s.conns.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// Release gives back a slot taken with Reserve.
func (s *Server) Release() { s.conns.Add(-1) }

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
		s.Release()
		return nil, errors.New("tcp: shutting down")
	}
	ours, theirs, err := socketPair()
	if err != nil {
		s.Release()
		return nil, fmt.Errorf("tcp: socketpair: %w", err)
	}
	if _, err := s.cli.EnrollContext(theirs, &pipePeer{transport: transport, remote: remote, identity: identity}); err != nil { // closes theirs either way
		s.Release()
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
