package impair_test

import (
	"fmt"
	"log"
	"net"
	"time"

	"github.com/packetd/packetd/bench/impair"
)

// A proxy that loses 30 % of client datagrams and delays both directions
// by 20 ms. With a fixed seed, the same datagrams are lost on every run.
func Example() {
	server, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		log.Fatal(err)
	}
	defer server.Close()

	px, err := impair.NewUDP("127.0.0.1:0", server.LocalAddr().String(), impair.Options{
		Up:   impair.Config{Loss: 0.3, Delay: 20 * time.Millisecond},
		Down: impair.Config{Delay: 20 * time.Millisecond},
		Seed: 6,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer px.Close()

	client, err := net.DialUDP("udp", nil, px.Addr())
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	for i := range 10 {
		client.Write([]byte{byte(i)})
	}

	// Wait until the proxy has sent or dropped all ten.
	for s := px.Stats().Up; s.Sent+s.Lost < 10; s = px.Stats().Up {
		time.Sleep(time.Millisecond)
	}
	buf := make([]byte, 16)
	var got []byte
	for range px.Stats().Up.Sent {
		n, _ := server.Read(buf)
		got = append(got, buf[:n]...)
	}
	s := px.Stats().Up
	fmt.Println("server received", got)
	fmt.Printf("received %d, lost %d, sent %d\n", s.Received, s.Lost, s.Sent)
	// Output:
	// server received [0 1 2 4 6 7 8]
	// received 10, lost 3, sent 7
}
