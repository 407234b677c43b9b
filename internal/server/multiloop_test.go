package server_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/packetd/packetd/client"
	"github.com/packetd/packetd/internal/server"
	"github.com/packetd/packetd/internal/testutil"
)

// TestMultiLoop runs both transports with two event loops each, so
// broadcasts cross loops (TCP inboxes) and UDP sessions sit on different
// sockets: every client emits once and must receive every other client's
// message exactly once.
func TestMultiLoop(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, func(c *server.Config) { c.TCP.Loops, c.UDP.Loops = 2, 2 })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	const perTransport = 10
	var clients []*client.Client
	for _, url := range []string{"tcp://" + srv.TCPAddr().String(), "udp://" + srv.UDPAddr().String()} {
		for range perTransport {
			c, err := client.Dial(ctx, url, &client.Options{RetryTimeout: 200 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			if err := c.Join(ctx, "all"); err != nil {
				t.Fatal(err)
			}
			clients = append(clients, c)
		}
	}
	for i, c := range clients {
		if err := c.Emit(client.Emit{Rooms: []string{"all"}, Event: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range clients {
		seen := map[string]int{}
		for len(seen) < len(clients)-1 {
			select {
			case m := <-c.Messages():
				seen[m.Event]++
				if seen[m.Event] > 1 {
					t.Fatalf("client %d got event %s twice", i, m.Event)
				}
				if m.Event == fmt.Sprint(i) {
					t.Fatalf("client %d got its own message", i)
				}
			case <-ctx.Done():
				t.Fatalf("client %d got %d of %d messages", i, len(seen), len(clients)-1)
			}
		}
	}
}
