package client_test

import (
	"context"
	"encoding/binary"
	"math"
	"net"
	"sync"
	"testing"

	"github.com/packetd/packetd/client"
	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/testutil"
)

// TestRequestIDs: the ids of JOIN, LEAVE, PING and QoS 0 EMIT count down
// from 4294967295 while QoS 1 EMIT numbers count up from 1, so that an ACK
// or ERROR, which carries only the id, cannot be taken for the answer to
// the other kind (clients before this test numbered both from the same
// low values, and an ACK went to a pending JOIN first).
func TestRequestIDs(t *testing.T) {
	t.Parallel()
	srv := testutil.Start(t, nil)
	type sent struct {
		typ codec.Type
		qos uint8
		id  uint32
	}
	var (
		mu   sync.Mutex // guards seen
		seen []sent
	)
	relay := testutil.NewUDPRelay(t, srv.UDPAddr().(*net.UDPAddr), func(d testutil.Direction, b []byte) bool {
		if d == testutil.ToServer && len(b) >= codec.KeyLen+codec.HeaderLen {
			h := b[codec.KeyLen:]
			mu.Lock()
			seen = append(seen, sent{codec.Type(h[1]), h[2] & 3, binary.BigEndian.Uint32(h[4:8])})
			mu.Unlock()
		}
		return false
	})
	c := dial(t, "udp://"+relay.Addr.String(), client.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testutil.Timeout)
	defer cancel()
	testutil.Join(t, c, "r")
	for i := range 3 {
		if err := c.EmitWait(ctx, client.Emit{Rooms: []string{"r"}, Data: i}); err != nil {
			t.Fatalf("EmitWait %d: %v", i, err)
		}
		testutil.Emit(t, c, client.Emit{Rooms: []string{"r"}, Data: i})
		if err := c.Ping(); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Leave(ctx, "r"); err != nil {
		t.Fatal(err)
	}

	mu.Lock()
	defer mu.Unlock()
	next, number := uint32(math.MaxUint32), uint32(1)
	for _, s := range seen {
		switch {
		case s.typ == codec.TypeHello:
		case s.typ == codec.TypeEmit && s.qos == 1:
			if s.id != number {
				t.Errorf("QoS 1 EMIT id %d, want %d", s.id, number)
			}
			number++
		default:
			if s.id != next {
				t.Errorf("%v id %d, want %d (request ids count down from 4294967295)", s.typ, s.id, next)
			}
			next--
		}
	}
	if number != 4 || next > math.MaxUint32-8 {
		t.Errorf("saw %d QoS 1 EMITs and %d requests, want 3 and at least 8", number-1, math.MaxUint32-next)
	}
}
