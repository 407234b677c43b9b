package impair_test

import (
	"fmt"
	"io"
	"log"
	"net"
	"time"

	"github.com/packetd/packetd/bench/impair"
)

// A proxy that delays each direction by 20 ms in front of an echo server,
// so a round trip through it takes at least 40 ms.
func ExampleNewTCP() {
	server, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer server.Close()
	go func() {
		c, err := server.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c) // echo
	}()

	px, err := impair.NewTCP("127.0.0.1:0", server.Addr().String(), impair.TCPOptions{
		Up:   impair.TCPConfig{Delay: 20 * time.Millisecond},
		Down: impair.TCPConfig{Delay: 20 * time.Millisecond},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer px.Close()

	client, err := net.Dial("tcp", px.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	start := time.Now()
	client.Write([]byte("ping"))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(client, buf); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s, at least 40 ms later: %v\n", buf, time.Since(start) >= 40*time.Millisecond)
	// Output: ping, at least 40 ms later: true
}
