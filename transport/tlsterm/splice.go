package tlsterm

import (
	"crypto/tls"
	"net"
	"time"
)

// Each copy starts with a small buffer and doubles it, up to its limit,
// whenever a read fills it: an idle device costs little, a busy
// subscriber reads up to a TLS record's worth (16 KiB) at a time.
// Upstream carries a device's requests, small.
const (
	minBuffer  = 512
	upBuffer   = 4 << 10
	downBuffer = 16 << 10
)

// grow returns a buffer twice as large as buf, up to limit, if n (what
// the last read returned) filled it.
func grow(buf []byte, n, limit int) []byte {
	if n == len(buf) && len(buf) < limit {
		return make([]byte, min(2*len(buf), limit))
	}
	return buf
}

// splice copies plaintext between the client's TLS connection and the
// TCP transport's end of the pipe, one goroutine each way, until both
// directions have ended, then closes both connections.
//
// The end of a stream is passed on as on plain TCP: the client's FIN or
// close_notify becomes a FIN on the pipe, which the transport treats as the
// client closing; the transport's FIN (after a fatal ERROR) or close
// (BYE, shutdown, slow consumer) becomes close_notify and a FIN to the
// client, who then has CloseGrace to close its side. A write to the client
// blocked for WriteTimeout ends the connection.
func (s *Server) splice(tc *tls.Conn, raw *net.TCPConn, p *net.UnixConn) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.down(tc, raw, p)
	}()
	s.up(tc, p)
	<-done
	_ = raw.Close()
	_ = p.Close()
}

// up copies from the client to the transport.
func (s *Server) up(tc *tls.Conn, p *net.UnixConn) {
	buf := make([]byte, minBuffer)
	for {
		n, err := tc.Read(buf)
		if n > 0 {
			if _, werr := p.Write(buf[:n]); werr != nil {
				break // the transport closed the connection
			}
		}
		if err != nil {
			break
		}
		buf = grow(buf, n, upBuffer)
	}
	_ = p.CloseWrite()
}

// down copies from the transport to the client.
func (s *Server) down(tc *tls.Conn, raw *net.TCPConn, p *net.UnixConn) {
	buf := make([]byte, minBuffer)
	for {
		n, err := p.Read(buf)
		if n > 0 {
			_ = raw.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
			if _, werr := tc.Write(buf[:n]); werr != nil {
				// The client is gone or reads nothing: end both ways.
				_ = raw.Close()
				_ = p.Close()
				return
			}
		}
		if err != nil {
			break
		}
		buf = grow(buf, n, downBuffer)
	}
	// The transport ended the stream: close_notify and FIN, then the
	// client has CloseGrace to close its side.
	_ = raw.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
	_ = tc.CloseWrite()
	_ = raw.CloseWrite()
	_ = raw.SetReadDeadline(time.Now().Add(s.cfg.CloseGrace))
}
