package testutil

import (
	"fmt"
	"testing"

	"github.com/packetd/packetd/client"
)

// Bystanders are a TCP and a UDP Go client in a room of their own,
// connected before a test misbehaves, that check afterwards that the server
// still serves them and still accepts new connections. Check must not run
// concurrently with itself.
type Bystanders struct {
	TCP, UDP *client.Client
	srv      *Server
	checks   int
}

// NewBystanders connects the bystanders.
func NewBystanders(t testing.TB, srv *Server) *Bystanders {
	t.Helper()
	b := &Bystanders{TCP: Dial(t, srv.TCPURL(), nil), UDP: Dial(t, srv.UDPURL(), nil), srv: srv}
	Join(t, b.TCP, "bystanders")
	Join(t, b.UDP, "bystanders")
	return b
}

// Check fails the test unless each bystander receives the other's emit and
// a new TCP connection gets a WELCOME.
func (b *Bystanders) Check(t testing.TB) {
	t.Helper()
	b.checks++
	for _, pair := range [][2]*client.Client{{b.TCP, b.UDP}, {b.UDP, b.TCP}} {
		from, to := pair[0], pair[1]
		select {
		case <-from.Done():
			t.Fatalf("bystander %s was disconnected: %v", from.SessionID(), from.Err())
		default:
		}
		event := fmt.Sprintf("check %d from %s", b.checks, from.SessionID())
		Emit(t, from, client.Emit{Rooms: []string{"bystanders"}, Event: event})
		if m := Recv(t, to); m.Event != event {
			t.Fatalf("bystander %s: got event %q, want %q", to.SessionID(), m.Event, event)
		}
	}
	c := DialTCP(t, b.srv)
	c.Hello(0)
	_ = c.Close()
}
