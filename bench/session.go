package bench

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/packetd/packetd/codec"
)

// session is a load client's packetd session over TCP or TLS (tcpSession)
// or UDP (udpSession): what the scenarios need of either.
type session interface {
	// read waits for input; each then hands every packet it completed to
	// fn. One goroutine reads.
	read() error
	each(fn func(pkt []byte)) error
	// appendPacket appends a packet in the layout send takes; the packet
	// header starts headerOffset bytes into what it appended.
	appendPacket(b []byte, h codec.Header, body codec.Body) []byte
	headerOffset() int
	// send writes what appendPacket appended: over TCP in one write, over
	// UDP one datagram per packet. Safe for concurrent use.
	send(b []byte) error
	setDeadline(t time.Time) error
	info() *welcomeInfo
	Close() error
}

// Request ids of a load client's JOIN: QoS 1 EMITs are numbered 1, 2, 3
// ... per session (PROTOCOL.md 9.2) and share the ACK's id space, so
// setup requests stay far above them.
const joinID = 0xfffffff1

// dialer opens the sessions of one transport's run.
type dialer struct {
	transport string // "tcp", "tls" or "udp"
	addr      string
	tls       *tls.Config // "tls": the server's name and roots, whatever addr is
	readBuf   int         // TCP read buffer
	sockBuf   int         // UDP socket buffers
	gro       bool        // UDP: coalesce the server's GSO runs
	nagle     bool        // TCP: Nagle's algorithm on (TCP_NODELAY off)
	timeout   time.Duration
}

// dial opens one session and says HELLO.
func (d *dialer) dial(ctx context.Context, hello codec.Hello) (session, error) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	var s session
	var err error
	if d.transport == "udp" {
		s, err = dialUDP(ctx, d.addr, &hello, d.sockBuf, d.gro)
	} else {
		s, err = dialTCP(ctx, d.addr, &hello, d.readBuf, d.nagle, d.tls)
	}
	if err != nil {
		return nil, dialError(d.transport, d.addr, err)
	}
	return s, nil
}

// dialError explains a failure to open a session.
func dialError(transport, addr string, err error) error {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("bench: no packetd at %s %s (connection refused): is the server running, and is this its address?", transport, addr)
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return fmt.Errorf("bench: out of file descriptors opening a %s session: raise the limit (ulimit -n) or lower -c: %w", transport, err)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, errNoAnswer), isTimeout(err):
		return fmt.Errorf("bench: no answer from packetd at %s %s: is the server running, and is this its address? (%w)", transport, addr, err)
	}
	var ve *tls.CertificateVerificationError
	if errors.As(err, &ve) {
		return fmt.Errorf("bench: the TLS certificate of packetd at %s did not verify: %v: give its CA with --tls-ca FILE (or skip the check with --tls-insecure)", addr, ve.Err)
	}
	var re tls.RecordHeaderError
	if errors.As(err, &re) {
		return fmt.Errorf("bench: %s does not speak TLS (%v): is it packetd's -tls-addr?", addr, err)
	}
	var se *ServerError
	if errors.As(err, &se) && se.Code == uint16(codec.CodeServerFull) {
		return fmt.Errorf("bench: packetd at %s %s is full (ERROR 300): raise its -max-sessions or -max-conns, or lower -c", transport, addr)
	}
	return fmt.Errorf("bench: opening a %s session with %s: %w", transport, addr, err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// join makes s a member of room and waits for the ACK.
func join(ctx context.Context, s session, room []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	body := &codec.Rooms{Rooms: [][]byte{room}}
	pkt := s.appendPacket(nil, codec.Header{Type: codec.TypeJoin, ID: joinID}, body)
	match := func(p []byte) (bool, error) { return answers(p, codec.TypeAck, joinID) }
	switch s := s.(type) {
	case *udpSession:
		return s.exchange(ctx, pkt[codec.LenPrefixLen:], match)
	case *tcpSession:
		if dl, ok := ctx.Deadline(); ok {
			_ = s.c.SetDeadline(dl)
			defer s.c.SetDeadline(time.Time{})
		}
		if err := s.send(pkt); err != nil {
			return err
		}
		return s.await(match)
	}
	return errors.ErrUnsupported
}

// sayBye ends s: a BYE (over UDP twice, as a datagram may be lost,
// PROTOCOL.md 4.9), then the close.
func sayBye(s session) {
	bye := s.appendPacket(nil, codec.Header{Type: codec.TypeBye}, nil)
	_ = s.setDeadline(time.Now().Add(100 * time.Millisecond))
	_ = s.send(bye)
	if _, udp := s.(*udpSession); udp {
		_ = s.send(bye)
	}
	s.Close()
}

// openAll opens n sessions with up to par dials at a time, calling setup
// (if not nil) on each new one. It stops at the first error, closing what
// it opened.
func openAll(ctx context.Context, n, par int, open func(ctx context.Context, i int) (session, error)) ([]session, error) {
	out := make([]session, n)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	var first error
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(par, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				s, err := open(ctx, i)
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					cancel()
					continue
				}
				out[i] = s
			}
		}()
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		first = ctx.Err()
	}
	if first != nil {
		closeAll(out)
		return nil, first
	}
	return out, nil
}

// closeAll closes every session that is not nil.
func closeAll(ss []session) {
	for _, s := range ss {
		if s != nil {
			s.Close()
		}
	}
}
