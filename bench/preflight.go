package bench

import (
	"context"
	"crypto/tls"
	"strings"
	"time"

	"github.com/packetd/packetd/bench/impair"
	"github.com/packetd/packetd/codec"
)

// preflight checks what every transport of the run needs before anything
// runs, so that a run over tcp,udp does not spend its TCP pass to fail on
// UDP: the file descriptors, that the server serves the transport, and
// that a message of -s bytes fits what the server accepts over it. The
// spawned server's limits come from its flags; a --server's from the
// WELCOME of one session opened on each transport (which also finds an
// address where nothing listens).
func preflight(ctx context.Context, c *Config) error {
	for _, t := range c.Transports {
		if err := checkFDs(c.fds(t)); err != nil {
			return err
		}
	}
	if c.Impair.Loss > 0 && c.stream() {
		if err := impair.KernelLossAvailable(); err != nil {
			return configError("--loss over TCP drops packets in the kernel: %v", err)
		}
	}
	for _, a := range []string{c.Server, c.TLSServer} {
		if a != "" && !c.AllowRemote {
			if err := CheckLoopback(a); err != nil {
				return err
			}
		}
	}
	for _, t := range c.Transports {
		var limit int
		if !c.external() {
			sc, err := checkServerFlags(c.Spawn.Flags)
			if err != nil {
				return err
			}
			off, flag := sc.DisableTCP, "tcp"
			limit = sc.TCP.MaxFrame // TLS sessions are the TCP transport's
			switch t {
			case "udp":
				off, flag = sc.DisableUDP, "udp"
				limit = sc.UDP.MaxDatagram
			case "tls":
				off = false // the TLS listener feeds the TCP transport even with -tcp=off
			}
			if off {
				return configError("--server-flag=-%s=off: the spawned server would not serve %s, which --transport asks for", flag, strings.ToUpper(t))
			}
		} else {
			addr := c.Server
			var tc *tls.Config
			if t == "tls" {
				addr = c.TLSServer
				var err error
				if tc, err = c.externalTLS(); err != nil {
					return err
				}
			}
			info, err := probe(ctx, addr, t, tc)
			if err != nil {
				return err
			}
			limit = info.maxFrame
			if t == "udp" {
				limit = info.maxDatagram
			}
		}
		if err := c.checkSize(t, limit); err != nil {
			return err
		}
	}
	return nil
}

// fds returns the file descriptors a run over transport needs here. A
// spawned server inherits this process's limit, so it is sized too: it
// holds one descriptor per TCP or UDP session (about what this process
// needs), and three per TLS session (the client's socket and the two
// ends of the socket pair into the TCP event loop).
func (c *Config) fds(transport string) int {
	need := c.sessions(transport) + fdReserve
	switch transport {
	case "udp":
		return need + c.impaired() // the proxy's upstream socket per flow
	case "tls":
		need += 2 * c.impaired() // the proxy's two sockets per connection
		if !c.external() {
			need = max(need, 3*c.sessions(transport)+fdReserve)
		}
		return need
	}
	return need + 2*c.impaired() // the proxy's two sockets per connection
}

// probe opens one session with the server over transport and returns what
// its WELCOME announced.
func probe(ctx context.Context, addr, transport string, tc *tls.Config) (welcomeInfo, error) {
	d := &dialer{transport: transport, addr: addr, tls: tc, timeout: 10 * time.Second}
	s, err := d.dial(ctx, codec.Hello{})
	if err != nil {
		return welcomeInfo{}, err
	}
	info := *s.info()
	sayBye(s)
	return info, nil
}

// checkSize fails if a message of -s bytes does not fit limit over
// transport: the server's max_frame (TCP: a larger EMIT ends the
// connection, a larger MESSAGE is refused with ERROR 205) or its
// max_datagram (UDP: a larger MESSAGE is not sent). A limit of 0 is the
// protocol's default.
func (c *Config) checkSize(transport string, limit int) error {
	if c.Scenario == ScenarioConns {
		return nil // no messages
	}
	name, flag, what := "max_frame", "-max-frame", strings.ToUpper(transport)
	if transport == "udp" {
		name, flag, what = "max_datagram", "-max-datagram", "UDP"
		if limit == 0 {
			limit = codec.DefaultMaxDatagram
		}
	} else if limit == 0 {
		limit = codec.DefaultMaxFrame
	}
	data := make([]byte, PayloadLen(c.Size)) // only its length counts
	fits := func(size int) bool {
		// The run's room ("packetbench-" and 8 hex digits), or in rtt the
		// session's own ("$" and 16); from is a session id.
		emit := codec.Emit{Rooms: [][]byte{make([]byte, 20)}, Data: data[:PayloadLen(size)]}
		if c.Scenario == ScenarioRTT {
			emit.Rooms[0], emit.Echo = emit.Rooms[0][:17], true
		}
		msg := codec.Message{Rooms: emit.Rooms, From: make([]byte, 17), Data: emit.Data}
		n := codec.PacketLen(&emit)
		if transport == "udp" {
			n += codec.KeyLen
		}
		return n <= limit && codec.PacketLen(&msg) <= limit
	}
	if fits(c.Size) {
		return nil
	}
	if !fits(PayloadMin) {
		return configError("-s %d: the server's %s (%d bytes) is too small for a measured %s message of even %d bytes: raise the server's %s",
			c.Size, name, limit, what, PayloadMin, flag)
	}
	lo, hi := PayloadMin, c.Size // fits(lo), !fits(hi)
	for hi-lo > 1 {
		if mid := (lo + hi) / 2; fits(mid) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return configError("-s %d: a %s message of this size does not fit the server's %s (%d bytes): at most -s %d, or raise the server's %s",
		c.Size, what, name, limit, lo, flag)
}
