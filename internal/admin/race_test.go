package admin_test

import (
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"

	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/testutil"
)

// TestAdminUnderTraffic scrapes, lists and disconnects while sessions
// join, leave, emit and end over both transports: under -race this checks
// that the admin API's reads are safe beside the event loops.
func TestAdminUnderTraffic(t *testing.T) {
	t.Parallel()
	srv, base := start(t, nil)
	const peers = 8
	var wg sync.WaitGroup
	ids := make(chan string, 4*peers)
	for i := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := range 5 {
				room := fmt.Sprintf("r%d", (i+round)%3)
				emit := &codec.Emit{Rooms: [][]byte{[]byte(room)}, Event: []byte("e")}
				// After the HELLO the session may be disconnected at any
				// moment: write without waiting for answers, ignore errors.
				if i%2 == 0 {
					c := testutil.DialTCP(t, srv)
					ids <- string(c.Hello(0).SessionID)
					_, _ = c.TCPConn.Write(testutil.Frame(codec.Header{Type: codec.TypeJoin, ID: 1}, testutil.Rooms(room)))
					for j := range uint32(10) {
						_, _ = c.TCPConn.Write(testutil.Frame(codec.Header{Type: codec.TypeEmit, ID: j + 2}, emit))
					}
					_ = c.Close()
				} else {
					u := testutil.ListenUDP(t, srv)
					ids <- string(u.Hello(1, 0, codec.MinHelloDatagram).SessionID)
					to := srv.UDPAddr().(*net.UDPAddr)
					_, _ = u.WriteToUDP(testutil.Datagram(u.Key, codec.Header{Type: codec.TypeJoin, ID: 2}, testutil.Rooms(room)), to)
					_, _ = u.WriteToUDP(testutil.Datagram(u.Key, codec.Header{Type: codec.TypeEmit, ID: 3}, emit), to)
					_, _ = u.WriteToUDP(testutil.Datagram(u.Key, codec.Header{Type: codec.TypeBye}, &codec.Error{}), to)
				}
			}
		}()
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for _, path := range []string{"/metrics", "/api/sessions", "/api/rooms", "/api/sessions?room=r1"} {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if code, body := get(t, base+path); code != http.StatusOK {
					t.Errorf("GET %s: got status %d: %s", path, code, body)
					return
				}
			}
		}()
	}
	readers.Add(1)
	go func() {
		defer readers.Done()
		for {
			select {
			case <-stop:
				return
			case id := <-ids:
				if code, _ := do(t, http.MethodDelete, base+"/api/sessions/"+id); code != http.StatusOK && code != http.StatusNotFound {
					t.Errorf("DELETE %s: got status %d, want 200 or 404", id, code)
				}
			}
		}
	}()
	wg.Wait()
	close(stop)
	readers.Wait()
}
