package deliver

import (
	"net/netip"

	"golang.org/x/sys/unix"

	"github.com/packetd/packetd/internal/stats"
)

// Sockaddr is a UDP peer address in the kernel's binary form, kept by value
// so a batch never points into memory that a session may replace.
type Sockaddr struct {
	raw unix.RawSockaddrInet6 // also holds a RawSockaddrInet4
	len uint32
}

// SockaddrOf converts an address for a socket of the given family: v6 for an
// AF_INET6 socket (which reaches IPv4 peers at IPv4-mapped addresses), else
// AF_INET (ap must then be an IPv4 or IPv4-mapped address).
func SockaddrOf(ap netip.AddrPort, v6 bool) Sockaddr {
	var sa Sockaddr
	addr := ap.Addr()
	port := ap.Port()
	if v6 {
		sa.raw.Family = unix.AF_INET6
		sa.raw.Port = htons(port)
		sa.raw.Addr = addr.As16() // IPv4 peers as ::ffff:a.b.c.d
		sa.len = unix.SizeofSockaddrInet6
		return sa
	}
	p := (*unix.RawSockaddrInet4)(rawPtr(&sa.raw))
	p.Family = unix.AF_INET
	p.Port = htons(port)
	p.Addr = addr.Unmap().As4()
	sa.len = unix.SizeofSockaddrInet4
	return sa
}

// htons returns port in network byte order as the kernel reads the field.
func htons(port uint16) uint16 {
	b := [2]byte{byte(port >> 8), byte(port)}
	return *(*uint16)(rawPtr(&b))
}

// datagrams is the pass's batch of UDP sends.
type datagrams struct {
	fds   []int
	addrs []Sockaddr
	bufs  [][]byte
	stats *stats.Stats
	sys   sysBatch
}

// Datagram queues one datagram to sa on socket fd, sent at Flush. b must
// stay valid until then (a frame from the arena, or the pass's input).
func (o *Outbox) Datagram(fd int, sa *Sockaddr, b []byte) {
	o.dg.fds = append(o.dg.fds, fd)
	o.dg.addrs = append(o.dg.addrs, *sa)
	o.dg.bufs = append(o.dg.bufs, b)
}

func (d *datagrams) flush() {
	if len(d.bufs) == 0 {
		return
	}
	// Consecutive datagrams on the same socket go out in one system call.
	for lo := 0; lo < len(d.bufs); {
		hi := lo + 1
		for hi < len(d.bufs) && d.fds[hi] == d.fds[lo] {
			hi++
		}
		sent := d.sys.send(d.fds[lo], d.addrs[lo:hi], d.bufs[lo:hi])
		if d.stats != nil {
			d.stats.DatagramsSent.Add(uint64(sent))
			d.stats.DatagramsDropped.Add(uint64(hi - lo - sent))
		}
		lo = hi
	}
	clear(d.bufs)
	d.fds, d.addrs, d.bufs = d.fds[:0], d.addrs[:0], d.bufs[:0]
}
