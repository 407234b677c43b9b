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

// BenchmarkQoS1 measures QoS 1 throughput: one publisher, 100 persistent
// subscribers over TCP acknowledging every message, 64-byte payloads.
// store=bolt writes every message and the subscribers' progress to the
// data directory with fsync before the publisher's ACK; store=memory keeps
// them in memory. window is how many EMITs the publisher keeps
// unacknowledged: with 1 every message waits for its own fsync, with 1000
// many share one (group commit). One op is one message published; the
// publisher waits for all ACKs and the subscribers for all messages.
func BenchmarkQoS1(b *testing.B) {
	for _, st := range []string{"memory", "bolt"} {
		for _, window := range []int{1, 1000} {
			b.Run(fmt.Sprintf("store=%s/window=%d", st, window), func(b *testing.B) {
				benchQoS1(b, st == "bolt", window, 100)
			})
		}
	}
}

func benchQoS1(b *testing.B, bolt bool, window, subs int) {
	srv := testutil.Start(b, func(c *server.Config) {
		c.DisableUDP = true
		if bolt {
			c.DataDir = b.TempDir()
		}
		c.Broker.QueueMessages = 1 << 20
		c.Broker.QueueBytes = 1 << 30
		c.Broker.Inflight = 1000
	})
	addr := srv.TCPAddr().String()
	readers := make([]*qosSub, subs)
	for i := range readers {
		readers[i] = dialQoSSub(b, addr, fmt.Sprintf("sub-%d", i))
	}
	pub := rawDial(b, addr)
	emit := func(buf []byte, id uint32) []byte {
		return codec.AppendFrame(buf, codec.Header{Type: codec.TypeEmit, Flags: codec.FlagQoS1, ID: id},
			&codec.Emit{Rooms: [][]byte{[]byte("bench")}, Data: append([]byte{0xc4, 64}, make([]byte, 64)...)})
	}
	n := b.N
	var wg sync.WaitGroup
	wg.Add(subs)
	for _, r := range readers {
		go func() {
			defer wg.Done()
			r.consume(b, n)
		}()
	}
	acks := make(chan struct{}, window)
	ackDone := make(chan struct{})
	go func() { // the publisher's ACKs: each frees a place in the window
		defer close(ackDone)
		var prefix [4]byte
		for range n {
			if _, err := io.ReadFull(pub.br, prefix[:]); err != nil {
				b.Error(err)
				return
			}
			if _, err := pub.br.Discard(int(binary.BigEndian.Uint32(prefix[:]))); err != nil {
				b.Error(err)
				return
			}
			<-acks
		}
	}()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var buf []byte
	for id := 1; id <= n; {
		buf = buf[:0]
		for ; id <= n && len(buf) < 16<<10; id++ {
			select {
			case acks <- struct{}{}:
			default:
				if len(buf) > 0 {
					goto write // send what we have before waiting for the window
				}
				acks <- struct{}{}
			}
			buf = emit(buf, uint32(id))
		}
	write:
		if _, err := pub.c.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	<-ackDone
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(n)/el.Seconds(), "msgs/s")
	b.ReportMetric(float64(n)*float64(subs)/el.Seconds(), "deliveries/s")
}

// qosSub is a raw persistent subscriber that acknowledges every QoS 1
// MESSAGE, writing its ACKs once per read.
type qosSub struct {
	c  net.Conn
	br *bufio.Reader
}

func dialQoSSub(tb testing.TB, addr, id string) *qosSub {
	tb.Helper()
	r := rawDial(tb, addr)
	_ = r // rawDial said HELLO anonymously: use a fresh connection for the persistent one
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	s := &qosSub{c: c, br: bufio.NewReaderSize(c, 256<<10)}
	raw := &rawConn{c: c, br: s.br}
	raw.write(tb, codec.Header{Type: codec.TypeHello, ID: 1}, &codec.Hello{ClientID: []byte(id), Persist: true, Inflight: 1000})
	raw.expect(tb, codec.TypeWelcome)
	raw.join(tb, "bench")
	return s
}

func (s *qosSub) consume(tb testing.TB, n int) {
	var prefix [4]byte
	var acks []byte
	hdr := make([]byte, codec.HeaderLen)
	for got := 0; got < n; {
		if _, err := io.ReadFull(s.br, prefix[:]); err != nil {
			tb.Error(err)
			return
		}
		size := int(binary.BigEndian.Uint32(prefix[:]))
		if _, err := io.ReadFull(s.br, hdr); err != nil {
			tb.Error(err)
			return
		}
		if _, err := s.br.Discard(size - codec.HeaderLen); err != nil {
			tb.Error(err)
			return
		}
		if codec.Type(hdr[1]) != codec.TypeMessage {
			continue
		}
		got++
		acks = codec.AppendFrame(acks, codec.Header{Type: codec.TypeAck, ID: binary.BigEndian.Uint32(hdr[4:])}, nil)
		if s.br.Buffered() == 0 || got == n {
			if _, err := s.c.Write(acks); err != nil {
				tb.Error(err)
				return
			}
			acks = acks[:0]
		}
	}
}
