package server_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/packetd/packetd/client"
	"github.com/packetd/packetd/internal/server"
	"github.com/packetd/packetd/internal/testutil"
)

// TestFanout1000 puts 1,000 sessions (800 TCP, 200 UDP; 100 with -short) in
// one room and checks that every one receives exactly the messages a
// publisher emitted, in order, with the ids every other recipient saw, with
// one event loop per transport and with two.
func TestFanout1000(t *testing.T) {
	t.Parallel()
	for _, loops := range []int{1, 2} {
		t.Run(fmt.Sprintf("loops=%d", loops), func(t *testing.T) {
			t.Parallel()
			testFanout(t, loops)
		})
	}
}

func testFanout(t *testing.T, loops int) {
	nTCP, nUDP := 800, 200
	if testing.Short() {
		nTCP, nUDP = 80, 20
	}
	const msgs = 20
	srv := testutil.Start(t, func(c *server.Config) { c.TCP.Loops, c.UDP.Loops = loops, loops })

	start := time.Now()
	subs := make([]*client.Client, nTCP+nUDP)
	var wg sync.WaitGroup
	work := make(chan int)
	for range 32 {
		wg.Go(func() {
			for i := range work {
				url := srv.TCPURL()
				if i >= nTCP {
					url = srv.UDPURL()
				}
				c, err := testutil.DialErr(t, url, nil)
				if err != nil {
					t.Errorf("subscriber %d: %v", i, err)
					continue
				}
				ctx, cancel := context.WithTimeout(context.Background(), testutil.Timeout)
				err = c.Join(ctx, "fan")
				cancel()
				if err != nil {
					t.Errorf("subscriber %d: Join: %v", i, err)
					continue
				}
				subs[i] = c
			}
		})
	}
	for i := range subs {
		work <- i
	}
	close(work)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if got, want := len(srv.Adapter.Members("fan")), len(subs); got != want {
		t.Fatalf("Members(fan): got %d, want %d", got, want)
	}
	t.Logf("%d TCP + %d UDP sessions joined in %v", nTCP, nUDP, time.Since(start))

	start = time.Now()
	pub := testutil.Dial(t, srv.TCPURL(), nil)
	for i := range msgs {
		testutil.Emit(t, pub, client.Emit{Rooms: []string{"fan"}, Event: fmt.Sprint("m", i), Data: i})
	}
	ids := make([][msgs]uint32, len(subs))
	for i, c := range subs {
		wg.Go(func() {
			timer := time.NewTimer(testutil.Timeout)
			defer timer.Stop()
			for j := range msgs {
				select {
				case m := <-c.Messages():
					var got int
					if err := m.Decode(&got); err != nil || got != j || m.Event != fmt.Sprint("m", j) || m.From != pub.SessionID() {
						t.Errorf("subscriber %d: message %d: got event %q data %d from %s (err %v), want event m%d data %d from %s",
							i, j, m.Event, got, m.From, err, j, j, pub.SessionID())
						return
					}
					ids[i][j] = m.ID
				case <-timer.C:
					t.Errorf("subscriber %d (%s): got %d messages within %v, want %d", i, c.SessionID(), j, testutil.Timeout, msgs)
					return
				}
			}
		})
	}
	wg.Wait()
	t.Logf("%d messages to %d subscribers in %v", msgs, len(subs), time.Since(start))
	for i := range ids {
		if ids[i] != ids[0] {
			t.Errorf("subscriber %d: got message ids %v, subscriber 0 got %v", i, ids[i], ids[0])
			break
		}
	}
	if got, want := srv.Stats.Recipients.Load(), uint64(msgs*len(subs)); got != want {
		t.Errorf("Stats.Recipients: got %d, want %d", got, want)
	}
	// Nothing more may come: each subscriber got the publisher's messages in
	// order, so a duplicate would have shown up before the last one. For a
	// duplicate of the last, a round trip through the server gives it time
	// to arrive (best effort: client readers run on their own).
	testutil.Join(t, pub, "fan")
	for i, c := range subs {
		if n := len(c.Messages()); n != 0 {
			t.Errorf("subscriber %d: %d messages more than the %d emitted", i, n, msgs)
		}
	}
}
