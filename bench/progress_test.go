package bench

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func TestAppendProgress(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		transport string
		iv        IntervalStats
		want      string
	}{
		{
			name:      "design example",
			transport: "tcp",
			iv:        IntervalStats{Start: 3, End: 4, ReceivedPackets: 1_230_000, BitsPerSecond: 630e6, P50: 400, P99: 810},
			want:      "[tcp]  3.00-4.00 s  1.23 M msg/s  630 Mbit/s  p99 0.81 ms  lost 0\n",
		},
		{
			name:      "no samples",
			transport: "udp",
			iv:        IntervalStats{Start: 0, End: 1, SentPackets: 10, Lost: 3},
			want:      "[udp]  0.00-1.00 s  0 msg/s  0 bit/s  p99 -  lost 3\n",
		},
		{
			name:      "late arrivals that fill an earlier interval's gaps count back",
			transport: "udp",
			iv:        IntervalStats{Start: 1, End: 2, ReceivedPackets: 950, BitsPerSecond: 85_300, P99: 12_345, Lost: -2},
			want:      "[udp]  1.00-2.00 s  950 msg/s  85.3 kbit/s  p99 12.3 ms  lost -2\n",
		},
		{
			name:      "partial interval",
			transport: "tcp",
			iv:        IntervalStats{Start: 9, End: 9.5, ReceivedPackets: 500, BitsPerSecond: 2.5e9, P99: 1_500_000},
			want:      "[tcp]  9.00-9.50 s  1 k msg/s  2.5 Gbit/s  p99 1500 ms  lost 0\n",
		},
		{
			name:      "just below a unit, sub-microsecond p99",
			transport: "udp",
			iv:        IntervalStats{Start: 0, End: 1, ReceivedPackets: 999_700, BitsPerSecond: 999_600, P99: 0.512},
			want:      "[udp]  0.00-1.00 s  1 M msg/s  1 Mbit/s  p99 0.000512 ms  lost 0\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := string(AppendProgress(nil, tt.transport, tt.iv)); got != tt.want {
				t.Errorf("AppendProgress =\n%q\nwant\n%q", got, tt.want)
			}
			var buf bytes.Buffer
			if err := WriteProgress(&buf, tt.transport, tt.iv); err != nil || buf.String() != tt.want {
				t.Errorf("WriteProgress = %q, %v", buf.String(), err)
			}
		})
	}
}

func TestRunProgress(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		r := NewRecorder(RecorderConfig{Transport: "tcp"}) // starts now, 1 s intervals
		var buf bytes.Buffer
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() {
			r.RunProgress(ctx, &buf)
			close(done)
		}()
		l := r.NewLocal()
		for i := range 30 { // 10 per second for 3 s, 1 ms each
			now := time.Now().UnixNano()
			l.Observe(Payload{Seq: uint64(i + 1), Sent: now}, now+int64(time.Millisecond), 64)
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond) // past the 3 s tick
		cancel()
		<-done
		want := "" +
			"[tcp]  0.00-1.00 s  10 msg/s  5.12 kbit/s  p99 1 ms  lost 0\n" +
			"[tcp]  1.00-2.00 s  10 msg/s  5.12 kbit/s  p99 1 ms  lost 0\n" +
			"[tcp]  2.00-3.00 s  10 msg/s  5.12 kbit/s  p99 1 ms  lost 0\n"
		if got := buf.String(); got != want {
			t.Errorf("progress:\n%s\nwant:\n%s", got, want)
		}
		if ivs := r.Finish(time.Now()); len(ivs) != 0 {
			t.Errorf("Finish after the last tick closed %+v, want nothing (sliver under a tenth)", ivs)
		}
	})
}

func TestRunProgressStopsAfterFinish(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		r := NewRecorder(RecorderConfig{Transport: "udp", Interval: 100 * time.Millisecond})
		var buf bytes.Buffer
		done := make(chan struct{})
		go func() {
			r.RunProgress(t.Context(), &buf)
			close(done)
		}()
		time.Sleep(250 * time.Millisecond)
		r.Finish(time.Now())
		<-done // returns at its next tick without a cancel
		if got := strings.Count(buf.String(), "\n"); got != 2 {
			t.Errorf("%d progress lines, want 2:\n%s", got, buf.String())
		}
		r.RunProgress(t.Context(), nil) // returns at once
	})
}
