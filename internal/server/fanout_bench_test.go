package server_test

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/server"
	"github.com/packetd/packetd/internal/testutil"
)

// BenchmarkFanout measures one publisher broadcasting 64-byte payloads to
// a room of N TCP subscribers over loopback, all in this process: the
// server, a raw-socket publisher that writes EMITs in batches, and raw
// subscribers that count MESSAGE frames. One op is one published message;
// deliveries/s is the headline (DESIGN.md compares 100 and 1,000
// subscribers). allocs/op counts the whole process per message: it must
// not grow with N.
func BenchmarkFanout(b *testing.B) {
	for _, subs := range []int{1, 100, 1000} {
		for _, loops := range []int{1, 2} {
			b.Run(fmt.Sprintf("subs=%d/loops=%d", subs, loops), func(b *testing.B) {
				benchFanout(b, subs, loops)
			})
		}
	}
}

func benchFanout(b *testing.B, subs, loops int) {
	srv := testutil.Start(b, func(c *server.Config) {
		c.TCP.Loops = loops
		c.DisableUDP = true
		c.Broker.MaxSessions = subs + 10
	})
	addr := srv.TCPAddr().String()

	readers := make([]*rawConn, subs)
	for i := range readers {
		readers[i] = rawDial(b, addr)
		readers[i].join(b, "bench")
	}
	pub := rawDial(b, addr)

	emit := codec.AppendFrame(nil, codec.Header{Type: codec.TypeEmit}, &codec.Emit{
		Rooms: [][]byte{[]byte("bench")},
		Data:  append([]byte{0xc4, 64}, make([]byte, 64)...),
	})
	const batch = 64
	batchBuf := make([]byte, 0, batch*len(emit))
	for range batch {
		batchBuf = append(batchBuf, emit...)
	}

	n := b.N
	var wg sync.WaitGroup
	wg.Add(subs)
	for _, r := range readers {
		go func() {
			defer wg.Done()
			r.count(b, n)
		}()
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(emit)))
	b.ResetTimer()
	start := time.Now()
	for sent := 0; sent < n; {
		k := min(batch, n-sent)
		if _, err := pub.c.Write(batchBuf[:k*len(emit)]); err != nil {
			b.Fatal(err)
		}
		sent += k
	}
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(n)*float64(subs)/el.Seconds(), "deliveries/s")
	if d := srv.Stats.DropSlowConsumer.Load(); d > 0 {
		b.Logf("%d messages dropped for slow consumers", d)
	}
}

// rawConn is a minimal TCP client speaking codec directly.
type rawConn struct {
	c  net.Conn
	br *bufio.Reader
}

func rawDial(tb testing.TB, addr string) *rawConn {
	tb.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	r := &rawConn{c: c, br: bufio.NewReaderSize(c, 256<<10)}
	r.write(tb, codec.Header{Type: codec.TypeHello, ID: 1}, &codec.Hello{})
	r.expect(tb, codec.TypeWelcome)
	return r
}

func (r *rawConn) write(tb testing.TB, h codec.Header, body codec.Body) {
	tb.Helper()
	if _, err := r.c.Write(codec.AppendFrame(nil, h, body)); err != nil {
		tb.Fatal(err)
	}
}

func (r *rawConn) join(tb testing.TB, room string) {
	tb.Helper()
	r.write(tb, codec.Header{Type: codec.TypeJoin, ID: 2}, &codec.Rooms{Rooms: [][]byte{[]byte(room)}})
	r.expect(tb, codec.TypeAck)
}

func (r *rawConn) expect(tb testing.TB, t codec.Type) {
	tb.Helper()
	var prefix [4]byte
	if _, err := io.ReadFull(r.br, prefix[:]); err != nil {
		tb.Fatal(err)
	}
	pkt := make([]byte, binary.BigEndian.Uint32(prefix[:]))
	if _, err := io.ReadFull(r.br, pkt); err != nil {
		tb.Fatal(err)
	}
	if got := codec.Type(pkt[1]); got != t {
		tb.Fatalf("got %v, want %v", got, t)
	}
}

// count reads n MESSAGE frames, skipping over their bytes.
func (r *rawConn) count(tb testing.TB, n int) {
	var prefix [4]byte
	for i := 0; i < n; i++ {
		if _, err := io.ReadFull(r.br, prefix[:]); err != nil {
			tb.Error(err)
			return
		}
		if _, err := r.br.Discard(int(binary.BigEndian.Uint32(prefix[:]))); err != nil {
			tb.Error(err)
			return
		}
	}
}
