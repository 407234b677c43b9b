package impair

import (
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

// BenchmarkTCP measures a bulk transfer from one client through a proxy to
// a server that discards it, in writes of the given size: MB/s is the
// throughput, cpu-ns/op the process's CPU time per write, client and server
// included. "direct" is the same transfer without the proxy. Allocations
// include the client's and the server's, which make none.
func BenchmarkTCP(b *testing.B) {
	configs := []struct {
		name string
		cfg  *TCPConfig // nil: no proxy
	}{
		{"direct", nil},
		{"clean", &TCPConfig{}},
		{"delay=1ms", &TCPConfig{Delay: time.Millisecond, QueueLimit: 16 << 20}},
		{"delay=1ms+jitter=1ms", &TCPConfig{Delay: time.Millisecond, Jitter: time.Millisecond, QueueLimit: 16 << 20}},
	}
	for _, bc := range configs {
		for _, size := range []int{1 << 10, 64 << 10} {
			b.Run(fmt.Sprintf("%s/%dKiB", bc.name, size>>10), func(b *testing.B) {
				benchmarkTCP(b, bc.cfg, size)
			})
		}
	}
}

func benchmarkTCP(b *testing.B, cfg *TCPConfig, size int) {
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	done := make(chan int64, 1)
	go func() {
		c, err := ln.AcceptTCP()
		if err != nil {
			done <- 0
			return
		}
		defer c.Close()
		n, _ := io.Copy(io.Discard, c)
		done <- n
	}()

	to := ln.Addr().(*net.TCPAddr)
	if cfg != nil {
		px, err := NewTCP("127.0.0.1:0", to.String(), TCPOptions{Up: *cfg})
		if err != nil {
			b.Fatal(err)
		}
		defer px.Close()
		to = px.Addr()
	}
	conn, err := net.DialTCP("tcp", nil, to)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()

	msg := make([]byte, size)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	cpu := cpuTime()
	n := int64(0)
	for b.Loop() {
		if _, err := conn.Write(msg); err != nil {
			b.Fatal(err)
		}
		n++
	}
	conn.CloseWrite()
	if got := <-done; got != n*int64(size) {
		b.Fatalf("server received %d bytes, want %d", got, n*int64(size))
	}
	if c := cpuTime(); c > 0 {
		b.ReportMetric(float64(c-cpu)/float64(n), "cpu-ns/op")
	}
}
