package client

import (
	"math"
	"slices"
	"testing"

	"github.com/packetd/packetd/codec"
)

// step is one arrival and what it must yield.
type step struct {
	seq  uint32
	kind arrival
	out  []uint32 // delivered, in order
}

func ids(ms []*Message) []uint32 {
	out := make([]uint32, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

func run(t *testing.T, in *inbound, steps []step) {
	t.Helper()
	for i, s := range steps {
		kind, ready := in.accept(s.seq, &Message{ID: s.seq, QoS: 1})
		if got := ids(ready); kind != s.kind || !slices.Equal(got, s.out) && len(got)+len(s.out) > 0 {
			t.Fatalf("step %d: accept(%d) = %v %v, want %v %v", i, s.seq, kind, got, s.kind, s.out)
		}
	}
}

func TestInbound(t *testing.T) {
	const top = math.MaxUint32
	tests := []struct {
		name  string
		next  uint32
		steps []step
	}{
		{"in order", 1, []step{{1, arrivalDelivered, []uint32{1}}, {2, arrivalDelivered, []uint32{2}}, {3, arrivalDelivered, []uint32{3}}}},
		{"reordered", 1, []step{
			{3, arrivalBuffered, nil}, {2, arrivalBuffered, nil}, {1, arrivalDelivered, []uint32{1, 2, 3}},
			{5, arrivalBuffered, nil}, {4, arrivalDelivered, []uint32{4, 5}},
		}},
		{"duplicates", 1, []step{
			{1, arrivalDelivered, []uint32{1}}, {1, arrivalDuplicate, nil},
			{3, arrivalBuffered, nil}, {3, arrivalDuplicate, nil},
			{2, arrivalDelivered, []uint32{2, 3}}, {2, arrivalDuplicate, nil}, {3, arrivalDuplicate, nil},
		}},
		{"window", 1, []step{
			{4, arrivalBuffered, nil}, {5, arrivalRefused, nil},
			{1, arrivalDelivered, []uint32{1}}, {5, arrivalBuffered, nil},
		}},
		{"wrap through 0", top - 1, []step{
			{0, arrivalBuffered, nil}, {top, arrivalBuffered, nil},
			{top - 1, arrivalDelivered, []uint32{top - 1, top, 0}},
			{1, arrivalDelivered, []uint32{1}}, {top, arrivalDuplicate, nil}, {0, arrivalDuplicate, nil},
		}},
		{"far behind", 1 << 20, []step{{1, arrivalDuplicate, nil}, {1<<20 - 1, arrivalDuplicate, nil}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &inbound{next: tt.next, window: 4, known: true}
			run(t, in, tt.steps)
		})
	}
}

func TestInboundWelcome(t *testing.T) {
	first := &codec.Welcome{SessionID: []byte("$a"), Epoch: 7, Inflight: 8}
	tests := []struct {
		name     string
		w        codec.Welcome
		next     uint32   // expected after the WELCOME
		released []uint32 // held messages handed over
	}{
		{"resumed, same epoch", codec.Welcome{SessionID: []byte("$a"), Epoch: 7, Resumed: true}, 3, nil},
		// Servers before fc9ba32 answered a retransmitted HELLO with
		// resumed=false, but the session id tells.
		{"same session id, same epoch", codec.Welcome{SessionID: []byte("$a"), Epoch: 7}, 3, nil},
		{"resumed, new epoch", codec.Welcome{SessionID: []byte("$a"), Epoch: 8, Resumed: true}, 1, []uint32{5, 6}},
		{"resumed, new epoch, next 9", codec.Welcome{SessionID: []byte("$a"), Epoch: 8, Resumed: true,
			Next: 9, HasNext: true}, 9, []uint32{5, 6}},
		// 0 follows 4294967295: a next that is present and 0 is number 0.
		{"resumed, new epoch, next 0", codec.Welcome{SessionID: []byte("$a"), Epoch: 8, Resumed: true,
			HasNext: true}, 0, []uint32{5, 6}},
		{"new session", codec.Welcome{SessionID: []byte("$b"), Epoch: 7}, 1, []uint32{5, 6}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var in inbound
			in.welcome(first)
			run(t, &in, []step{{1, arrivalDelivered, []uint32{1}}, {2, arrivalDelivered, []uint32{2}},
				{6, arrivalBuffered, nil}, {5, arrivalBuffered, nil}})
			released := ids(in.welcome(&tt.w))
			if in.next != tt.next || !slices.Equal(released, tt.released) && len(released)+len(tt.released) > 0 {
				t.Errorf("after WELCOME: next %d, released %v; want %d, %v", in.next, released, tt.next, tt.released)
			}
			if tt.next == 3 {
				run(t, &in, []step{{3, arrivalDelivered, []uint32{3}}, {4, arrivalDelivered, []uint32{4, 5, 6}}})
			}
		})
	}
}

// TestInboundFreshResume: a new Client resuming a session learns where
// the numbering stands from the first MESSAGE, and still delivers, once,
// older numbers that UDP reordered behind it.
// TestInboundWindowKept: the server resends what the last connection
// left unacknowledged even beyond a smaller window asked for this time.
func TestInboundWindowKept(t *testing.T) {
	var in inbound
	in.welcome(&codec.Welcome{SessionID: []byte("$a"), Epoch: 7, Inflight: 8})
	in.welcome(&codec.Welcome{SessionID: []byte("$a"), Epoch: 7, Inflight: 2, Resumed: true})
	run(t, &in, []step{{7, arrivalBuffered, nil}})
	in.welcome(&codec.Welcome{SessionID: []byte("$b"), Epoch: 7, Inflight: 2})
	if in.window != 2 {
		t.Errorf("new session: window %d, want 2", in.window)
	}
}

func TestInboundFreshResume(t *testing.T) {
	var in inbound
	in.welcome(&codec.Welcome{SessionID: []byte("$a"), Epoch: 7, Inflight: 4, Resumed: true})
	run(t, &in, []step{
		{42, arrivalDelivered, []uint32{42}},
		{40, arrivalLate, []uint32{40}},
		{41, arrivalLate, []uint32{41}},
		{40, arrivalDuplicate, nil},
		{42, arrivalDuplicate, nil},
		{43, arrivalDelivered, []uint32{43}},
		{45, arrivalBuffered, nil},
		{44, arrivalDelivered, []uint32{44, 45}},
		{46, arrivalDelivered, []uint32{46}},
		{47, arrivalDelivered, []uint32{47}},
		// Past start by more than a window: nothing older can come.
		{39, arrivalDuplicate, nil},
	})
	if in.late || in.below != nil {
		t.Errorf("late arrivals still expected after the window passed: %v", in.below)
	}
	var fresh inbound
	fresh.welcome(&codec.Welcome{SessionID: []byte("$a"), Epoch: 7})
	if fresh.next != 1 || fresh.learn {
		t.Errorf("new session: next = %d, learning %v; want 1, false", fresh.next, fresh.learn)
	}
	// A server that says next, 0 included, is taken at its word.
	var told inbound
	told.welcome(&codec.Welcome{SessionID: []byte("$a"), Epoch: 7, Resumed: true, HasNext: true})
	if told.next != 0 || told.learn {
		t.Errorf("resumed at next 0: next = %d, learning %v; want 0, false", told.next, told.learn)
	}
	run(t, &told, []step{{0, arrivalDelivered, []uint32{0}}, {1, arrivalDelivered, []uint32{1}}})
}
