package rooms

import (
	"fmt"
	"testing"
)

// fanout builds a Local over a counting sink with n members spread over 4
// groups, all in room "all"; members with even index are also in "even",
// odd ones in "odd", and every third in "third".
func fanout(tb testing.TB, n int) (*Local, *int) {
	tb.Helper()
	count := new(int)
	l := newTestLocal(tb, SinkFunc(func(_ any, _ int, _ []byte, ms []Member) { *count += len(ms) }), 0)
	for i := range n {
		id := fmt.Sprintf("session-%06d", i)
		mustAdd(tb, l, &testMember{id: id, group: i % 4})
		rooms := []string{"all"}
		if i%2 == 0 {
			rooms = append(rooms, "even")
		} else {
			rooms = append(rooms, "odd")
		}
		if i%3 == 0 {
			rooms = append(rooms, "third")
		}
		mustJoin(tb, l, id, rooms...)
	}
	return l, count
}

// fanoutCases are the broadcasts measured by TestBroadcastAllocs and
// BenchmarkBroadcast; the sender is the member with index 0.
var fanoutCases = []struct {
	name string
	opts BroadcastOptions
}{
	{"one room", BroadcastOptions{Rooms: names("all")}},
	{"one room except sender", BroadcastOptions{Rooms: names("all"), Except: names("session-000000")}},
	{"three overlapping rooms except sender", BroadcastOptions{Rooms: names("even", "odd", "third"), Except: names("session-000000")}},
	{"everyone except sender", BroadcastOptions{Except: names("session-000000")}},
}

func TestBroadcastAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under -race")
	}
	// Not parallel: AllocsPerRun counts the allocations of the whole process.
	l, count := fanout(t, 1000)
	msg := []byte("payload")
	for _, tc := range fanoutCases {
		t.Run(tc.name, func(t *testing.T) {
			// Not parallel: the subtests share l and count.
			*count = 0
			if n := l.Broadcast(msg, tc.opts); n != *count || n < 999 {
				t.Fatalf("got %d recipients (sink saw %d), want 999 or 1000", n, *count)
			}
			if got := testing.AllocsPerRun(100, func() { l.Broadcast(msg, tc.opts) }); got != 0 {
				t.Errorf("got %v allocs per broadcast, want 0", got)
			}
		})
	}
}
