package impair

import (
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// Chunks are read into pooled blocks; a block is shared by the chunks read
// into it one after another, so small reads do not take a block each.
const (
	tcpBlock = 32 << 10 // bytes in a block: the longest read
	minRead  = 2 << 10  // a reader moves to a new block when less is left
)

// rateQuantum is the most link time one chunk may take under Rate, so a
// slow link releases bytes every rateQuantum rather than a block at once.
const rateQuantum = 10 * time.Millisecond

// chunkLimit bounds the chunks a stream holds, so a sender that trickles
// bytes under a long delay cannot grow the queue's bookkeeping past its
// QueueLimit: reading stops at either limit.
func chunkLimit(queueLimit int) int { return max(64, queueLimit/256) }

// A block is a buffer that chunks are read into.
type block struct {
	buf  []byte // tcpBlock bytes
	refs int    // chunks queued in it, plus one while the reader fills it
}

var blocks = sync.Pool{New: func() any { return &block{buf: make([]byte, tcpBlock)} }}

// A chunk is what one read returned, or the end of the sender's stream: a
// FIN, or a reset.
type chunk struct {
	blk    *block // nil at the end
	off, n int    // the bytes are blk.buf[off : off+n]
	due    int64  // when to write it, in nanoseconds on the proxy's clock
	rst    bool   // the end is a reset: the read failed
}

// A stream is one direction of a connection: a reader goroutine that reads
// chunks from src into a bounded queue, stamping each with its due time,
// and a writer goroutine that writes them to dst in order, each at or after
// its due time. When the queue is full the reader stops reading, and the
// sender's TCP window closes behind it.
type stream struct {
	dir      dir
	conn     *tcpConn
	src, dst *net.TCPConn
	st       *tcpCounters
	more     chan struct{} // capacity 1: the reader queued a chunk; made by admit
	space    chan struct{} // capacity 1: the writer emptied some of a full queue, or SetOptions ran; made by admit

	mu      sync.Mutex // guards the fields below
	rng     rand.PCG
	q       chunkRing
	queued  int    // bytes in q
	busy    int64  // Rate: when the link finishes sending what it has
	last    int64  // due time of the latest chunk
	stalled bool   // the reader waits for space
	cur     *block // the block the reader fills, from off on
	off     int
}

func (s *stream) init(tc *tcpConn, d dir, src, dst *net.TCPConn, st *tcpCounters, seed int64) {
	s.dir, s.conn, s.src, s.dst, s.st = d, tc, src, dst, st
	seedPCG(&s.rng, seed, tc.index, d)
}

// read is the reader goroutine: it queues what src sends until src's FIN,
// an error, or the connection's end.
func (s *stream) read() {
	px := s.conn.px
	for {
		b, ok := s.reserve(px.config(s.dir))
		if !ok {
			return
		}
		n, err := s.src.Read(b)
		now := px.now()
		c := px.config(s.dir)
		s.mu.Lock()
		if n > 0 {
			s.pushLocked(c, n, now)
		}
		if err != nil {
			// The FIN, or the reset, follows the bytes.
			s.pushLocked(c, 0, now).rst = err != io.EOF
		}
		s.mu.Unlock()
		signal(s.more)
		if err != nil {
			return
		}
	}
}

// reserve waits until the queue has room and returns the buffer for the
// next read, or reports false if the connection is torn down first.
func (s *stream) reserve(c *TCPConfig) ([]byte, bool) {
	for {
		s.mu.Lock()
		room := c.QueueLimit - s.queued
		if room <= 0 || s.q.n >= chunkLimit(c.QueueLimit) {
			if !s.stalled {
				s.stalled = true
				s.st.stalls.Add(1)
			}
			s.mu.Unlock()
			select {
			case <-s.space:
			case <-s.conn.dead:
				return nil, false
			}
			c = s.conn.px.config(s.dir)
			continue
		}
		s.stalled = false
		if s.cur == nil || tcpBlock-s.off < minRead {
			if s.cur != nil {
				s.releaseLocked(s.cur)
			}
			s.cur = blocks.Get().(*block)
			s.cur.refs = 1
			s.off = 0
		}
		n := min(room, tcpBlock-s.off)
		if c.Rate > 0 {
			n = min(n, max(1, c.Rate/int(time.Second/rateQuantum)))
		}
		b := s.cur.buf[s.off : s.off+n]
		s.mu.Unlock()
		return b, true
	}
}

// pushLocked queues the n bytes just read into the current block at time
// now (n == 0: the end of the stream), and gives them their due time: after
// the bytes ahead of them have crossed the link at Rate, plus their own
// time on it, plus Delay and a jitter draw, but never before the chunk
// ahead of them. It returns the queued chunk.
func (s *stream) pushLocked(c *TCPConfig, n int, now int64) *chunk {
	u := float64(s.rng.Uint64()>>11) * 0x1p-53 // uniform in [0, 1), one draw per chunk
	due := now
	if c.Rate > 0 {
		due = max(due, s.busy) + int64(n)*1e9/int64(c.Rate)
		s.busy = due
	}
	due += int64(c.Delay) + int64(u*float64(c.Jitter))
	due = max(due, s.last) // a stream does not reorder
	s.last = due
	ch := chunk{due: due}
	if n > 0 {
		ch.blk, ch.off, ch.n = s.cur, s.off, n
		s.cur.refs++
		s.off += n
		s.queued += n
		s.st.received.Add(uint64(n))
		s.st.chunks.Add(1)
		s.st.queued.Add(int64(n))
	}
	s.q.push(ch)
	return s.q.at(s.q.n - 1)
}

// write is the writer goroutine: it writes each chunk to dst at its due
// time, then forwards the end of the stream: a FIN with CloseWrite, a
// reset by resetting the connection.
func (s *stream) write() {
	px := s.conn.px
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		s.mu.Lock()
		if s.q.n == 0 {
			s.mu.Unlock()
			select {
			case <-s.more:
				continue
			case <-s.conn.dead:
				return
			}
		}
		head := *s.q.at(0)
		s.mu.Unlock()
		if wait := head.due - px.now(); wait > 0 {
			timer.Reset(time.Duration(wait))
			select {
			case <-timer.C:
			case <-s.conn.dead:
				timer.Stop()
				return
			}
		}
		if head.rst {
			s.conn.reset(s.dir)
			return
		}
		if head.blk == nil {
			s.closeWrite()
			return
		}
		k, n := s.gather(head, px.now())
		if _, err := s.dst.Write(head.blk.buf[head.off : head.off+n]); err != nil {
			s.conn.reset(s.dir)
			return
		}
		s.mu.Lock()
		for range k {
			s.releaseLocked(s.q.pop().blk)
		}
		s.queued -= n
		wake := s.stalled
		s.mu.Unlock()
		s.st.sent.Add(uint64(n))
		s.st.queued.Add(-int64(n))
		if wake {
			signal(s.space)
		}
	}
}

// gather counts the chunks from the head that are due at now and follow
// one another in the head's block, so one write sends them all.
func (s *stream) gather(head chunk, now int64) (k, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, n = 1, head.n
	for ; k < s.q.n; k++ {
		c := s.q.at(k)
		if c.blk != head.blk || c.off != head.off+n || c.due > now {
			break
		}
		n += c.n
	}
	return k, n
}

// closeWrite forwards the sender's FIN.
func (s *stream) closeWrite() {
	s.mu.Lock()
	s.q.pop()
	s.mu.Unlock()
	if err := s.dst.CloseWrite(); err != nil {
		s.conn.reset(s.dir)
		return
	}
	s.st.closes.Add(1)
}

// releaseLocked drops a reference to b, and pools it if that was the last.
func (s *stream) releaseLocked(b *block) {
	if b.refs--; b.refs == 0 {
		blocks.Put(b)
	}
}

// drain releases everything the stream holds, once its goroutines have
// exited.
func (s *stream) drain() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.q.n > 0 {
		if c := s.q.pop(); c.blk != nil {
			s.releaseLocked(c.blk)
		}
	}
	if s.cur != nil {
		s.releaseLocked(s.cur)
		s.cur = nil
	}
	s.st.queued.Add(-int64(s.queued))
	s.queued = 0
}

// signal wakes the goroutine waiting on ch, if any, without blocking.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// A chunkRing is a first in, first out queue of chunks that grows by
// doubling and is then reused.
type chunkRing struct {
	buf     []chunk // len is a power of two
	head, n int
}

func (r *chunkRing) push(c chunk) {
	if r.n == len(r.buf) {
		r.grow()
	}
	r.buf[(r.head+r.n)&(len(r.buf)-1)] = c
	r.n++
}

// at returns the i-th chunk from the head; i < r.n.
func (r *chunkRing) at(i int) *chunk { return &r.buf[(r.head+i)&(len(r.buf)-1)] }

func (r *chunkRing) pop() chunk {
	c := r.buf[r.head]
	r.buf[r.head] = chunk{}
	r.head = (r.head + 1) & (len(r.buf) - 1)
	r.n--
	return c
}

func (r *chunkRing) grow() {
	b := make([]chunk, max(16, 2*len(r.buf)))
	for i := range r.n {
		b[i] = *r.at(i)
	}
	r.buf, r.head = b, 0
}
