package server_test

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/testutil"
)

// TestFloodDoesNotStarve floods the server from one address, over TCP
// (EMITs as fast as the socket takes them, to a room nobody is in) and
// over UDP (garbage datagrams and datagrams with unknown session ids, at
// 20,000 a second),
// and checks that while the flood goes on other clients are served:
// their PINGs are answered and a room's messages are delivered, over both
// transports. The flood must still be running when they finish.
func TestFloodDoesNotStarve(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, nil)

	flooder := testutil.DialTCP(t, srv)
	flooder.Hello(0)
	var batch []byte
	for i := range 256 {
		batch = codec.AppendFrame(batch, codec.Header{Type: codec.TypeEmit, ID: uint32(i)},
			&codec.Emit{Rooms: [][]byte{[]byte("void")}, Event: []byte("spam"), Data: make([]byte, 64)})
	}
	junk, err := net.DialUDP("udp", nil, srv.UDPAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer junk.Close()
	unknown := codec.AppendKey(nil, 0xdeadbeef)
	unknown = codec.AppendPacket(unknown, codec.Header{Type: codec.TypePing, ID: 1}, &codec.Ping{})

	stop := make(chan struct{})
	var tcpBytes, udpDatagrams atomic.Int64
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := flooder.TCPConn.Write(batch); err != nil {
				return
			}
			tcpBytes.Add(int64(len(batch)))
		}
	}()
	go func() {
		// Bad datagrams at 20,000 a second: every one read, checked and
		// dropped. (A UDP flood beyond what the host can read is dropped
		// by the kernel at the socket, before packetd sees it, and a
		// client's datagrams with it: clients retransmit, SECURITY.md.)
		defer wg.Done()
		garbage := []byte{0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0xfa, 0xf9, 0xf8, 1, 2, 3}
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for i := range 100 {
				d := garbage
				if i%2 == 1 {
					d = unknown
				}
				if _, err := junk.Write(d); err == nil {
					udpDatagrams.Add(1)
				}
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()

	// The others, served meanwhile.
	tcp := testutil.DialTCP(t, srv)
	tcp.Hello(0)
	tcp.Join(1, "room")
	udp := testutil.ListenUDP(t, srv)
	udp.Hello(1, 0, codec.MinHelloDatagram)
	udp.Join(2, "room")
	pub := testutil.DialTCP(t, srv)
	pub.Hello(0)
	for i := range 50 {
		tcp.Ping(uint32(100 + i))
		if before := udp.Ping(uint32(100 + i)); len(before) != 0 {
			t.Fatalf("UDP: got %v before the PONG", before[0].Type)
		}
		pub.Send(codec.Header{Type: codec.TypeEmit, ID: uint32(i + 1)}, &codec.Emit{Rooms: [][]byte{[]byte("room")}, Event: []byte("e")})
		tcp.ExpectType(codec.TypeMessage)
		udp.ExpectType(codec.TypeMessage)
	}
	tb, ud := tcpBytes.Load(), udpDatagrams.Load()
	if tb < int64(10*len(batch)) || ud < 500 {
		t.Fatalf("the flood sent %d TCP bytes and %d datagrams while the others were served: it was not a flood", tb, ud)
	}
	t.Logf("served 50 PINGs and 50 messages on each transport while one address flooded %d MiB of EMITs and %d bad datagrams", tb>>20, ud)
}
