package rooms

import (
	"fmt"
	"testing"
)

// BenchmarkBroadcast measures the adapter's side of a fan-out (the sink only
// counts) for each of fanoutCases and several room sizes.
func BenchmarkBroadcast(b *testing.B) {
	msg := make([]byte, 64)
	for _, tc := range fanoutCases {
		b.Run(tc.name, func(b *testing.B) {
			for _, n := range []int{1, 100, 1000, 10000} {
				b.Run(fmt.Sprint("recipients=", n), func(b *testing.B) {
					l, count := fanout(b, n)
					l.Broadcast(msg, tc.opts) // build the snapshots
					*count = 0
					b.ReportAllocs()
					b.SetBytes(int64(len(msg)))
					for b.Loop() {
						l.Broadcast(msg, tc.opts)
					}
					b.ReportMetric(float64(*count)/float64(b.N), "deliveries/op")
				})
			}
		})
	}
}

// BenchmarkBroadcastParallel broadcasts from all Ps at once to 16 rooms of
// about 60 members, to show lock contention.
func BenchmarkBroadcastParallel(b *testing.B) {
	l := newTestLocal(b, nopSink, 0)
	for i := range 1000 {
		id := fmt.Sprintf("session-%06d", i)
		mustAdd(b, l, &testMember{id: id, group: i % 4})
		mustJoin(b, l, id, fmt.Sprintf("room-%d", i%16))
	}
	opts := make([]BroadcastOptions, 16)
	for i := range opts {
		opts[i].Rooms = names(fmt.Sprintf("room-%d", i))
		l.Broadcast(nil, opts[i]) // build the snapshots
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			l.Broadcast(nil, opts[i%len(opts)])
			i++
		}
	})
}

// BenchmarkJoinLeave measures a join and a leave of one room with 1000
// members, including the snapshot rebuild the next broadcast pays.
func BenchmarkJoinLeave(b *testing.B) {
	l, _ := fanout(b, 1000)
	mustAdd(b, l, &testMember{id: "mover"})
	room := names("all")
	b.ReportAllocs()
	for b.Loop() {
		if err := l.Join("mover", room...); err != nil {
			b.Fatal(err)
		}
		l.Broadcast(nil, BroadcastOptions{Rooms: room})
		if err := l.Leave("mover", room...); err != nil {
			b.Fatal(err)
		}
	}
}
