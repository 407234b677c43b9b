package rooms

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
)

// TestConcurrent runs joins, leaves, broadcasts, adds and removes from many
// goroutines at once (meant for -race), with a sink that sometimes removes a
// recipient and a subscriber that checks events of one room stay ordered,
// then checks the indexes agree.
func TestConcurrent(t *testing.T) {
	t.Parallel()
	const (
		workers = 8
		ops     = 3000
		ids     = 64
		rooms   = 12
	)
	var l *Local
	var delivered, removedBySink atomic.Int64
	l = newTestLocal(t, SinkFunc(func(_ any, group int, _ []byte, ms []Member) {
		for _, m := range ms {
			if m.Group() != group {
				t.Errorf("member %q of group %d delivered in group %d", m.ID(), m.Group(), group)
			}
			if rand.IntN(50) == 0 {
				l.Remove(m.ID())
				removedBySink.Add(1)
			}
		}
		delivered.Add(int64(len(ms)))
	}), 4)

	// A room's events must alternate create, (join|leave)*, delete, and
	// join/leave must keep its member count >= 0.
	var evMu sync.Mutex
	count := make(map[string]int)
	exists := make(map[string]bool)
	cancel := l.Subscribe(func(e Event) {
		evMu.Lock()
		defer evMu.Unlock()
		switch e.Kind {
		case CreateRoom:
			if exists[e.Room] {
				t.Errorf("create-room(%q) while it exists", e.Room)
			}
			exists[e.Room] = true
		case DeleteRoom:
			if !exists[e.Room] || count[e.Room] != 0 {
				t.Errorf("delete-room(%q) with exists=%v count=%d", e.Room, exists[e.Room], count[e.Room])
			}
			exists[e.Room] = false
		case JoinRoom:
			if !exists[e.Room] {
				t.Errorf("join-room(%q, %q) before create-room", e.Room, e.Member)
			}
			count[e.Room]++
		case LeaveRoom:
			if count[e.Room] == 0 {
				t.Errorf("leave-room(%q, %q) of an empty room", e.Room, e.Member)
			}
			count[e.Room]--
		}
	})
	defer cancel()

	room := func(r *rand.Rand) []byte {
		if r.IntN(8) == 0 {
			return fmt.Appendf(nil, "m%d", r.IntN(ids)) // someone's own room
		}
		return fmt.Appendf(nil, "r%d", r.IntN(rooms))
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 2))
			for range ops {
				id := fmt.Sprintf("m%d", r.IntN(ids))
				switch op := r.IntN(10); {
				case op < 2:
					_ = l.Add(&testMember{id: id, group: r.IntN(3)})
				case op < 4:
					_ = l.Join(id, room(r), room(r))
				case op < 5:
					if err := l.Leave(id, room(r), room(r)); err == ErrOwnRoom {
						continue
					}
				case op < 6:
					l.Remove(id)
				case op < 7:
					l.RoomsOf(id)
					l.Members(string(room(r)))
				default:
					l.Broadcast(nil, BroadcastOptions{
						Rooms:  [][]byte{room(r), room(r)}[:r.IntN(3)],
						Except: [][]byte{room(r)}[:r.IntN(2)],
					})
				}
			}
		})
	}
	wg.Wait()

	checkInvariants(t, l)
	evMu.Lock()
	defer evMu.Unlock()
	for name, ok := range exists {
		members := l.Members(name)
		if ok != (members != nil) || count[name] != len(members) {
			t.Errorf("room %q: events say exists=%v with %d members, Members = %q", name, ok, count[name], members)
		}
	}
	t.Logf("%d deliveries, %d removed by the sink", delivered.Load(), removedBySink.Load())
}
