package deliver

import (
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mmsghdr is struct mmsghdr from sendmmsg(2).
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
	_   [4]byte
}

// gsoCmsg is a control message setting UDP_SEGMENT, the size of the
// datagrams the kernel cuts one send into.
type gsoCmsg struct {
	hdr unix.Cmsghdr
	seg uint16
	_   [6]byte
}

// sysBatch sends a flush's messages with sendmmsg(2), straight on gnet's
// socket. (Go's x/net WriteBatch would need the fd in Go's own poller,
// which measured far slower beside gnet's.)
type sysBatch struct {
	hdrs  []mmsghdr
	iovs  []unix.Iovec
	cmsgs []gsoCmsg
}

const maxBatch = 1024 // UIO_MAXIOV, the kernel's cap on vlen

// send sends msgs, all on the same socket, and returns how many datagrams
// the kernel took, how many of those in GSO runs, and how many were lost.
func (s *sysBatch) send(d *datagrams, msgs []dgMsg) (sent, segs, lost int) {
	fd := msgs[0].fd
	for len(msgs) > 0 {
		n := min(len(msgs), maxBatch)
		s.build(d, msgs[:n])
		done := 0
		for done < n {
			r, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd),
				uintptr(unsafe.Pointer(&s.hdrs[done])), uintptr(n-done), unix.MSG_DONTWAIT, 0, 0)
			switch {
			case errno == unix.EINTR:
			case errno == unix.EAGAIN:
				// Socket buffer full: the rest of this chunk is lost.
				for _, m := range msgs[done:n] {
					lost += int(m.hi - m.lo)
				}
				done = n
			case errno != 0:
				// The first message failed (an unreachable address, or
				// a GSO send the kernel or the device refused).
				m := msgs[done]
				if m.seg > 0 {
					if errno == unix.EIO {
						gso.Store(gsoOff) // the device cannot checksum: no GSO
					}
					k := s.sendEach(d, m)
					sent += k
					lost += int(m.hi-m.lo) - k
				} else {
					lost++
				}
				done++
			default:
				for _, m := range msgs[done : done+int(r)] {
					sent += int(m.hi - m.lo)
					if m.seg > 0 {
						segs += int(m.hi - m.lo)
					}
				}
				done += int(r)
			}
		}
		msgs = msgs[n:]
	}
	return sent, segs, lost
}

// build prepares the headers of msgs for one sendmmsg call.
func (s *sysBatch) build(d *datagrams, msgs []dgMsg) {
	s.hdrs, s.iovs, s.cmsgs = s.hdrs[:0], s.iovs[:0], s.cmsgs[:0]
	for _, m := range msgs {
		for _, i := range d.order[m.lo:m.hi] {
			s.iovs = append(s.iovs, iovec(d.bufs[i]))
		}
		if m.seg > 0 {
			c := gsoCmsg{seg: m.seg}
			c.hdr.Level = unix.SOL_UDP
			c.hdr.Type = unix.UDP_SEGMENT
			c.hdr.SetLen(unix.CmsgLen(2))
			s.cmsgs = append(s.cmsgs, c)
		}
	}
	// Pointers are taken once the slices have stopped growing.
	iov, cm := 0, 0
	for _, m := range msgs {
		h := mmsghdr{}
		sa := &d.addrs[d.order[m.lo]]
		h.hdr.Name = (*byte)(unsafe.Pointer(&sa.raw))
		h.hdr.Namelen = sa.len
		h.hdr.Iov = &s.iovs[iov]
		h.hdr.SetIovlen(int(m.hi - m.lo))
		iov += int(m.hi - m.lo)
		if m.seg > 0 {
			h.hdr.Control = (*byte)(unsafe.Pointer(&s.cmsgs[cm]))
			h.hdr.SetControllen(unix.CmsgSpace(2))
			cm++
		}
		s.hdrs = append(s.hdrs, h)
	}
}

// sendEach sends the datagrams of a refused GSO run one by one and returns
// how many the kernel took.
func (s *sysBatch) sendEach(d *datagrams, m dgMsg) (sent int) {
	for _, i := range d.order[m.lo:m.hi] {
		if SendTo(m.fd, &d.addrs[i], d.bufs[i]) == nil {
			sent++
		}
	}
	return sent
}

func iovec(b []byte) unix.Iovec {
	iov := unix.Iovec{}
	if len(b) > 0 {
		iov.Base = &b[0]
	}
	iov.SetLen(len(b))
	return iov
}

func rawPtr[T any](p *T) unsafe.Pointer { return unsafe.Pointer(p) }

// SendTo sends one datagram at once, outside any batch: for rare messages
// from goroutines that own no Outbox (a BYE to a connection being kicked).
func SendTo(fd int, sa *Sockaddr, b []byte) error {
	if len(b) == 0 {
		return nil
	}
	_, _, errno := unix.Syscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)),
		unix.MSG_DONTWAIT, uintptr(unsafe.Pointer(&sa.raw)), uintptr(sa.len))
	if errno != 0 {
		return errno
	}
	return nil
}

// UDP GSO: whether the kernel has it is learnt from the first socket
// asked; SetGSO can turn it off (to compare, or for a kernel that
// misbehaves).
const (
	gsoUnknown int32 = iota
	gsoOn
	gsoOff
)

var gso atomic.Int32

func gsoEnabled(fd int) bool {
	switch gso.Load() {
	case gsoOn:
		return true
	case gsoOff:
		return false
	}
	state := gsoOff
	if _, err := unix.GetsockoptInt(fd, unix.SOL_UDP, unix.UDP_SEGMENT); err == nil {
		state = gsoOn
	}
	gso.CompareAndSwap(gsoUnknown, state)
	return gso.Load() == gsoOn
}

// SetGSO turns UDP generic segmentation offload off, or back on where the
// kernel has it. It affects the whole process.
func SetGSO(on bool) {
	if on {
		gso.Store(gsoUnknown)
	} else {
		gso.Store(gsoOff)
	}
}
