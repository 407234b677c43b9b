package server_test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/server"
	"github.com/packetd/packetd/internal/testutil"
)

// BenchmarkFanoutTLS is BenchmarkFanout with the subscribers on TLS (the
// publisher stays on plain TCP): the cost of terminating TLS in
// goroutines and splicing into the event loop. The subscribers decrypt in
// this process too, so on a small machine the figure is the server's and
// the clients' work together, as BenchmarkFanout's is. The publisher stays
// at most window messages ahead of the slowest subscriber: unpaced, it
// outruns the TLS copies and the server drops QoS 0 messages for slow
// consumers (as it should), which is not the throughput wanted here.
func BenchmarkFanoutTLS(b *testing.B) {
	for _, subs := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("subs=%d", subs), func(b *testing.B) {
			benchFanoutTLS(b, subs)
		})
	}
}

func benchFanoutTLS(b *testing.B, subs int) {
	ca := testutil.NewCA(b, "bench CA")
	certFile, keyFile := ca.Server(b, "bench")
	srv := testutil.Start(b, func(c *server.Config) {
		c.DisableUDP = true
		c.Broker.MaxSessions = subs + 10
		c.TLS.Addr = "127.0.0.1:0"
		c.TLS.CertFile, c.TLS.KeyFile = certFile, keyFile
	})
	cfg := &tls.Config{RootCAs: ca.Pool(), ClientSessionCache: tls.NewLRUClientSessionCache(1)}
	readers := make([]*rawConn, subs)
	for i := range readers {
		c, err := tls.Dial("tcp", srv.TLSAddr().String(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		r := &rawConn{c: c, br: bufio.NewReaderSize(c, 256<<10)}
		r.write(b, codec.Header{Type: codec.TypeHello, ID: 1}, &codec.Hello{})
		r.expect(b, codec.TypeWelcome)
		r.join(b, "bench")
		readers[i] = r
	}
	pub := rawDial(b, srv.TCPAddr().String())

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
	const window = 4096
	got := make([]atomic.Int64, subs)
	var wg sync.WaitGroup
	wg.Add(subs)
	for i, r := range readers {
		go func() {
			defer wg.Done()
			for k := 0; k < n; k += 64 {
				r.count(b, min(64, n-k))
				got[i].Store(int64(min(k+64, n)))
			}
		}()
	}
	slowest := func() int {
		m := n
		for i := range got {
			m = min(m, int(got[i].Load()))
		}
		return m
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(emit)))
	b.ResetTimer()
	start := time.Now()
	for sent := 0; sent < n; {
		for sent-slowest() > window {
			runtime.Gosched()
		}
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
