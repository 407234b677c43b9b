package server_test

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/deliver"
	"github.com/packetd/packetd/internal/server"
	"github.com/packetd/packetd/internal/testutil"
)

// BenchmarkFanoutUDP is BenchmarkFanout with UDP subscribers: a TCP
// publisher's MESSAGEs reach N UDP sessions through sendmmsg batches. UDP
// has no flow control, so the subscribers' socket buffers overflow when
// they fall behind: the benchmark reports what arrived (deliveries/s) and
// what did not (loss-%), after waiting for the stream to go quiet.
//
// gso=off sends every datagram on its own (one mmsghdr each), as before
// UDP GSO; it is there to compare.
func BenchmarkFanoutUDP(b *testing.B) {
	for _, gso := range []bool{true, false} {
		for _, subs := range []int{1, 100, 1000} {
			b.Run(fmt.Sprintf("gso=%s/subs=%d", map[bool]string{true: "on", false: "off"}[gso], subs), func(b *testing.B) {
				deliver.SetGSO(gso)
				defer deliver.SetGSO(true)
				benchFanoutUDP(b, subs)
			})
		}
	}
}

func benchFanoutUDP(b *testing.B, subs int) {
	srv := testutil.Start(b, func(c *server.Config) { c.Broker.MaxSessions = subs + 10 })

	conns := make([]*net.UDPConn, subs)
	for i := range conns {
		conns[i] = udpJoin(b, srv.UDPAddr().String(), "bench")
	}
	pub := rawDial(b, srv.TCPAddr().String())
	emit := codec.AppendFrame(nil, codec.Header{Type: codec.TypeEmit}, &codec.Emit{
		Rooms: [][]byte{[]byte("bench")},
		Data:  append([]byte{0xc4, 64}, make([]byte, 64)...),
	})
	const batch = 16
	batchBuf := make([]byte, 0, batch*len(emit))
	for range batch {
		batchBuf = append(batchBuf, emit...)
	}

	var got atomic.Int64
	var last atomic.Int64 // unix nanoseconds of the latest datagram
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 2048)
			for {
				if _, err := c.Read(buf); err != nil {
					return
				}
				got.Add(1)
				last.Store(time.Now().UnixNano())
			}
		}()
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for sent := 0; sent < b.N; {
		k := min(batch, b.N-sent)
		if _, err := pub.c.Write(batchBuf[:k*len(emit)]); err != nil {
			b.Fatal(err)
		}
		sent += k
	}
	want := int64(b.N) * int64(subs)
	for got.Load() < want {
		l := last.Load()
		if l != 0 && time.Since(time.Unix(0, l)) > 200*time.Millisecond {
			break // quiet: the rest was lost
		}
		time.Sleep(time.Millisecond)
	}
	el := time.Unix(0, max(last.Load(), start.UnixNano())).Sub(start)
	b.StopTimer()
	for _, c := range conns {
		c.Close()
	}
	wg.Wait()
	b.ReportMetric(float64(got.Load())/el.Seconds(), "deliveries/s")
	b.ReportMetric(100*float64(want-got.Load())/float64(want), "loss-%")
}

// udpJoin opens a UDP session with raw datagrams and joins room.
func udpJoin(tb testing.TB, addr, room string) *net.UDPConn {
	tb.Helper()
	raddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := net.DialUDP("udp", nil, raddr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	_ = c.SetReadBuffer(4 << 20)
	hello := codec.AppendPacket(codec.AppendKey(nil, 0), codec.Header{Type: codec.TypeHello, ID: 1}, &codec.Hello{Pad: 48})
	buf := make([]byte, 2048)
	var key uint64 // the datagram key the WELCOME gives (not the session id)
	for key == 0 {
		if _, err := c.Write(hello); err != nil {
			tb.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		n, err := c.Read(buf)
		if err != nil {
			continue
		}
		p, err := codec.ParsePacket(buf[:n])
		if err != nil || p.Type != codec.TypeWelcome {
			tb.Fatalf("expected WELCOME, got %v %v", p.Type, err)
		}
		var w codec.Welcome
		if err := codec.NewDecoder().Decode(p.Type, p.Body, &w); err != nil {
			tb.Fatal(err)
		}
		if w.Key == 0 {
			tb.Fatal("WELCOME over UDP without a datagram key")
		}
		key = w.Key
	}
	join := codec.AppendPacket(codec.AppendKey(nil, key), codec.Header{Type: codec.TypeJoin, ID: 2},
		&codec.Rooms{Rooms: [][]byte{[]byte(room)}})
	for {
		if _, err := c.Write(join); err != nil {
			tb.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		n, err := c.Read(buf)
		if err != nil {
			continue
		}
		p, err := codec.ParsePacket(buf[:n])
		if err == nil && p.Type == codec.TypeAck {
			break
		}
		if err == nil && p.Type == codec.TypeError {
			tb.Fatal("JOIN answered with ERROR") // retrying would spin forever
		}
	}
	_ = c.SetReadDeadline(time.Time{})
	return c
}
