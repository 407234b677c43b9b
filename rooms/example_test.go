package rooms_test

import (
	"fmt"
	"slices"

	"github.com/packetd/packetd/rooms"
)

// session is what a server would register: a connection's id and the index
// of the event loop that owns it.
type session struct {
	id   string
	loop int
}

func (s *session) ID() string { return s.id }
func (s *session) Group() int { return s.loop }

func ExampleLocal() {
	sink := rooms.SinkFunc(func(origin any, group int, msg []byte, members []rooms.Member) {
		var ids []string
		for _, m := range members {
			ids = append(ids, m.ID())
		}
		slices.Sort(ids)
		fmt.Printf("loop %d: %s to %v\n", group, msg, ids)
	})
	adapter, err := rooms.NewLocal(rooms.Config{Sink: sink})
	if err != nil {
		panic(err)
	}
	cancel := adapter.Subscribe(func(e rooms.Event) {
		if e.Member == "" {
			fmt.Println(e.Kind, e.Room)
		} else {
			fmt.Println(e.Kind, e.Room, e.Member)
		}
	})
	for _, s := range []*session{{"alice", 0}, {"bob", 1}, {"carol", 0}} {
		if err := adapter.Add(s); err != nil {
			panic(err)
		}
	}
	cancel()
	for _, id := range []string{"alice", "bob", "carol"} {
		if err := adapter.Join(id, []byte("lobby")); err != nil {
			panic(err)
		}
	}

	// alice speaks in the lobby: everyone in it but alice hears it.
	n := adapter.Broadcast([]byte("hi"), rooms.BroadcastOptions{
		Rooms:  [][]byte{[]byte("lobby")},
		Except: [][]byte{[]byte("alice")},
	})
	fmt.Println(n, "recipients")
	// Output:
	// create-room alice
	// join-room alice alice
	// create-room bob
	// join-room bob bob
	// create-room carol
	// join-room carol carol
	// loop 0: hi to [carol]
	// loop 1: hi to [bob]
	// 2 recipients
}
