package impair

import (
	"errors"
	"fmt"
	"net"
	"testing"
	"time"
)

// BenchmarkUDP measures datagrams per second from one client through a
// proxy to a server, a window of datagrams at a time, so a delay bounds the
// rate: compare the cpu-ns/op metric (the process's CPU time per datagram,
// client and server included) across configs. "direct" is the same traffic
// without the proxy. Allocations include the client's and the server's,
// which make none.
func BenchmarkUDP(b *testing.B) {
	configs := []struct {
		name string
		cfg  *Config // nil: no proxy
	}{
		{"direct", nil},
		{"clean", &Config{}},
		{"delay=1ms", &Config{Delay: time.Millisecond}},
		{"delay=1ms+jitter=1ms", &Config{Delay: time.Millisecond, Jitter: time.Millisecond}},
	}
	for _, bc := range configs {
		for _, size := range []int{64, 1200} {
			b.Run(fmt.Sprintf("%s/%dB", bc.name, size), func(b *testing.B) {
				benchmarkUDP(b, bc.cfg, size)
			})
		}
	}
}

func benchmarkUDP(b *testing.B, cfg *Config, size int) {
	const window = 1024
	srv, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	bufferSockets(srv)
	windows := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for n := 1; ; n++ {
			if _, err := srv.Read(buf); errors.Is(err, net.ErrClosed) {
				return
			}
			if n%window == 0 {
				windows <- struct{}{}
			}
		}
	}()
	defer func() { srv.Close(); <-done }()

	to := srv.LocalAddr().(*net.UDPAddr)
	if cfg != nil {
		c := *cfg
		c.QueueLimit = 16 << 20 // a window of delayed datagrams must fit
		px, err := NewUDP("127.0.0.1:0", to.String(), Options{Up: c, MaxDatagram: 2048})
		if err != nil {
			b.Fatal(err)
		}
		defer px.Close()
		to = px.Addr()
	}
	conn, err := net.DialUDP("udp", nil, to)
	if err != nil {
		b.Fatal(err)
	}
	bufferSockets(conn)
	defer conn.Close()

	msg := make([]byte, size)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	start, cpu := time.Now(), cpuTime()
	n := 0
	for b.Loop() {
		if _, err := conn.Write(msg); err != nil {
			b.Fatal(err)
		}
		if n++; n%window == 0 {
			select {
			case <-windows:
			case <-time.After(10 * time.Second):
				b.Fatalf("window %d lost", n/window)
			}
		}
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "datagrams/s")
	if c := cpuTime(); c > 0 {
		b.ReportMetric(float64(c-cpu)/float64(n), "cpu-ns/op")
	}
}
