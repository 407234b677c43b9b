package tlsterm

import (
	"crypto/tls"
	"net"
	"time"
)

// Buffer sizes of the two copies. Upstream carries a device's requests,
// small; downstream carries fan-out, and one TLS record holds up to 16 KiB.
const (
	upBuffer   = 4 << 10
	downBuffer = 16 << 10
)

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
	buf := make([]byte, upBuffer)
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
	}
	_ = p.CloseWrite()
}

// down copies from the transport to the client.
func (s *Server) down(tc *tls.Conn, raw *net.TCPConn, p *net.UnixConn) {
	buf := make([]byte, downBuffer)
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
	}
	// The transport ended the stream: close_notify and FIN, then the
	// client has CloseGrace to close its side.
	_ = raw.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
	_ = tc.CloseWrite()
	_ = raw.CloseWrite()
	_ = raw.SetReadDeadline(time.Now().Add(s.cfg.CloseGrace))
}

