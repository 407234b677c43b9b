package impair

import (
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// TestScheduler runs the scheduler goroutine on synctest's clock, so it can
// check exact send times.
func TestScheduler(t *testing.T) {
	ms := time.Millisecond
	type item struct {
		name  byte
		at    time.Duration // when it is scheduled
		after time.Duration // its due time, relative to at
	}
	tests := []struct {
		name  string
		items []item
		want  []sent // idx is the item's name
	}{
		{
			name:  "due order",
			items: []item{{'a', 0, 30 * ms}, {'b', 0, 10 * ms}, {'c', 0, 20 * ms}},
			want:  []sent{{'b', 10 * ms}, {'c', 20 * ms}, {'a', 30 * ms}},
		},
		{
			name:  "equal due times keep arrival order",
			items: []item{{'a', 0, 10 * ms}, {'b', 0, 10 * ms}, {'c', 0, 10 * ms}},
			want:  []sent{{'a', 10 * ms}, {'b', 10 * ms}, {'c', 10 * ms}},
		},
		{
			name:  "an earlier packet wakes a sleeping scheduler",
			items: []item{{'a', 0, 100 * ms}, {'b', ms, 5 * ms}},
			want:  []sent{{'b', 6 * ms}, {'a', 100 * ms}},
		},
		{
			name:  "already due",
			items: []item{{'a', 5 * ms, 0}, {'b', 7 * ms, -ms}},
			want:  []sent{{'a', 5 * ms}, {'b', 7 * ms}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				start := time.Now()
				clock := func() int64 { return int64(time.Since(start)) }
				var mu sync.Mutex
				var got []sent
				done := make(chan struct{})
				s := newScheduler(clock, func(pkt *packet) {
					mu.Lock()
					got = append(got, sent{int(pkt.buf[0]), time.Since(start)})
					mu.Unlock()
					pkt.free()
				}, done)
				exited := make(chan struct{})
				go func() { s.run(); close(exited) }()

				for _, it := range tt.items {
					time.Sleep(it.at - time.Since(start))
					pkt := newPacket(nil, []byte{it.name})
					pkt.due = int64(it.at + it.after)
					s.schedule(pkt)
				}
				time.Sleep(time.Second)
				synctest.Wait()
				mu.Lock()
				if !slices.Equal(got, tt.want) {
					t.Errorf("sent (name, time):\ngot  %v\nwant %v", got, tt.want)
				}
				mu.Unlock()
				close(done)
				<-exited
			})
		})
	}
}

// TestSchedulerDrops checks that closing done stops the scheduler and
// drops what it still holds.
func TestSchedulerDrops(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		done := make(chan struct{})
		s := newScheduler(func() int64 { return int64(time.Since(start)) }, func(pkt *packet) {
			t.Errorf("sent %q, want nothing sent", pkt.buf)
		}, done)
		exited := make(chan struct{})
		go func() { s.run(); close(exited) }()
		for i := range 10 {
			pkt := newPacket(nil, []byte{byte(i)})
			pkt.due = int64(time.Hour)
			s.schedule(pkt)
		}
		synctest.Wait()
		close(done)
		<-exited
		if got := s.len(); got != 0 {
			t.Errorf("packets left after stop: got %d, want 0", got)
		}
	})
}
