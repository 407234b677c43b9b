package deliver

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// mmsghdr is struct mmsghdr from sendmmsg(2).
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
	_   [4]byte
}

// sysBatch sends a batch with sendmmsg(2): up to maxBatch datagrams per
// system call, straight on gnet's socket. (Go's x/net WriteBatch would need
// the fd in Go's own poller, which measured far slower beside gnet's.)
type sysBatch struct {
	hdrs []mmsghdr
	iovs []unix.Iovec
}

const maxBatch = 1024 // UIO_MAXIOV, the kernel's cap on vlen

func (s *sysBatch) send(fd int, addrs []Sockaddr, bufs [][]byte) (sent int) {
	for len(bufs) > 0 {
		n := min(len(bufs), maxBatch)
		s.hdrs = s.hdrs[:0]
		s.iovs = s.iovs[:0]
		for i := range n {
			iov := unix.Iovec{}
			if len(bufs[i]) > 0 {
				iov.Base = &bufs[i][0]
			}
			iov.SetLen(len(bufs[i]))
			s.iovs = append(s.iovs, iov)
		}
		for i := range n {
			h := mmsghdr{}
			h.hdr.Name = (*byte)(unsafe.Pointer(&addrs[i].raw))
			h.hdr.Namelen = addrs[i].len
			h.hdr.Iov = &s.iovs[i]
			h.hdr.Iovlen = 1
			s.hdrs = append(s.hdrs, h)
		}
		done := 0
		for done < n {
			r, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd),
				uintptr(unsafe.Pointer(&s.hdrs[done])), uintptr(n-done), unix.MSG_DONTWAIT, 0, 0)
			if errno == unix.EINTR {
				continue
			}
			if errno != 0 {
				if errno == unix.EAGAIN {
					break // socket buffer full: the rest of this chunk is lost
				}
				done++ // this datagram failed (e.g. unreachable address); go on with the next
				continue
			}
			sent += int(r)
			done += int(r)
		}
		bufs, addrs = bufs[n:], addrs[n:]
	}
	return sent
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
