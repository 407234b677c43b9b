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
//
// At Flush, datagrams to the same destination are gathered, in their order,
// into runs that one message with UDP generic segmentation offload carries
// (UDP_SEGMENT: the kernel cuts one buffer into datagrams of a given size):
// a fan-out that queued several messages for each subscriber costs one
// message per subscriber instead of one per datagram, where the kernel's
// per-message cost is most of the total (see ../../../shared/DESIGN.md, "UDP
// send path"). Datagrams to different destinations, and runs, go out
// together in sendmmsg(2) calls.
type datagrams struct {
	fds   []int
	addrs []Sockaddr
	bufs  [][]byte
	stats *stats.Stats
	sys   sysBatch

	// The flush's plan: msgs, each carrying order[lo:hi] (indices into
	// bufs), and the scratch used to group by destination.
	msgs   []dgMsg
	order  []int32
	dests  map[dest]int32 // destination -> its latest datagram
	next   []int32        // the next datagram to the same destination, or -1
	firsts []int32        // each destination's first datagram, in order
}

// dgMsg is one message of a sendmmsg call: one datagram, or a GSO run of
// datagrams to one destination, each seg bytes but the last (at most seg).
type dgMsg struct {
	fd     int
	lo, hi int32 // its datagrams: order[lo:hi]
	seg    uint16
}

type dest struct {
	fd int
	sa Sockaddr
}

const (
	// maxSegments is the kernel's cap on the datagrams of one GSO send
	// (UDP_MAX_SEGMENTS).
	maxSegments = 64
	// maxGSOBytes bounds a GSO send's payload (one IP packet's worth).
	maxGSOBytes = 65000
	// maxGSOSegment is the largest datagram sent with GSO: the kernel
	// refuses a segment larger than the path MTU allows, where a plain
	// send would fragment, so larger datagrams go out one by one.
	maxGSOSegment = 1232
)

// Datagram queues one datagram to sa on socket fd, sent at Flush. b must
// stay valid until then (a frame from the arena).
func (o *Outbox) Datagram(fd int, sa *Sockaddr, b []byte) {
	o.dg.fds = append(o.dg.fds, fd)
	o.dg.addrs = append(o.dg.addrs, *sa)
	o.dg.bufs = append(o.dg.bufs, b)
}

// Datagrams returns the number of datagrams queued for the next Flush.
func (o *Outbox) Datagrams() int { return len(o.dg.bufs) }

func (d *datagrams) flush() {
	if len(d.bufs) == 0 {
		return
	}
	d.plan()
	// Consecutive messages on the same socket go out in one system call.
	for lo := 0; lo < len(d.msgs); {
		hi := lo + 1
		for hi < len(d.msgs) && d.msgs[hi].fd == d.msgs[lo].fd {
			hi++
		}
		sent, segs, lost := d.sys.send(d, d.msgs[lo:hi])
		if d.stats != nil {
			d.stats.DatagramsSent.Add(uint64(sent))
			d.stats.GSOSegments.Add(uint64(segs))
			d.stats.DatagramsDropped.Add(uint64(lost))
		}
		lo = hi
	}
	clear(d.bufs)
	d.fds, d.addrs, d.bufs = d.fds[:0], d.addrs[:0], d.bufs[:0]
}

// plan fills msgs and order: GSO runs where a destination has several
// datagrams in a row of the same size, else one message per datagram.
func (d *datagrams) plan() {
	n := len(d.bufs)
	d.msgs, d.order = d.msgs[:0], d.order[:0]
	if n > 1 && gsoEnabled(d.fds[0]) {
		if d.dests == nil {
			d.dests = make(map[dest]int32)
		}
		clear(d.dests)
		d.firsts = d.firsts[:0]
		d.next = d.next[:0]
		for i := range n {
			d.next = append(d.next, -1)
			k := dest{d.fds[i], d.addrs[i]}
			if last, ok := d.dests[k]; ok {
				d.next[last] = int32(i)
			} else {
				d.firsts = append(d.firsts, int32(i))
			}
			d.dests[k] = int32(i)
		}
		if len(d.firsts) < n {
			for _, f := range d.firsts {
				d.planRuns(f)
			}
			return
		}
	}
	for i := range n {
		d.order = append(d.order, int32(i))
		d.msgs = append(d.msgs, dgMsg{fd: d.fds[i], lo: int32(i), hi: int32(i + 1)})
	}
}

// planRuns cuts the chain of datagrams to one destination, starting at i,
// into GSO runs.
func (d *datagrams) planRuns(i int32) {
	for i >= 0 {
		m := dgMsg{fd: d.fds[i], lo: int32(len(d.order))}
		seg := len(d.bufs[i])
		total := seg
		d.order = append(d.order, i)
		j := d.next[i]
		if seg > 0 && seg <= maxGSOSegment {
			for j >= 0 && len(d.order)-int(m.lo) < maxSegments {
				size := len(d.bufs[j])
				if size == 0 || size > seg || total+size > maxGSOBytes {
					break
				}
				total += size
				d.order = append(d.order, j)
				j = d.next[j]
				if size < seg {
					break // only the last segment may be shorter
				}
			}
		}
		m.hi = int32(len(d.order))
		if m.hi-m.lo > 1 {
			m.seg = uint16(seg)
		}
		d.msgs = append(d.msgs, m)
		i = j
	}
}
