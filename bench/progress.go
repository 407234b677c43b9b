package bench

import (
	"context"
	"io"
	"strconv"
	"time"
)

// AppendProgress appends iv's progress line for transport, iperf3-like,
// with a trailing newline:
//
//	[tcp]  3.00-4.00 s  1.23 M msg/s  630 Mbit/s  p99 0.81 ms  lost 0
//
// Rates are of deliveries; lost is IntervalStats.Lost (the losses the
// interval's deliveries revealed; the last interval's adds those only the
// end reveals, so the lines add up to the run's); p99 is "-" for an
// interval without samples.
func AppendProgress(b []byte, transport string, iv IntervalStats) []byte {
	b = append(b, '[')
	b = append(b, transport...)
	b = append(b, "]  "...)
	b = strconv.AppendFloat(b, iv.Start, 'f', 2, 64)
	b = append(b, '-')
	b = strconv.AppendFloat(b, iv.End, 'f', 2, 64)
	b = append(b, " s  "...)
	var pps float64
	if secs := iv.Seconds(); secs > 0 {
		pps = float64(iv.ReceivedPackets) / secs
	}
	b = append(b, siValue(pps)...)
	b = append(b, " msg/s  "...)
	b = append(b, bitRate(iv.BitsPerSecond)...)
	b = append(b, "  p99 "...)
	if iv.ReceivedPackets > 0 {
		b = append(b, formatMillis(iv.P99/1e3)...)
		b = append(b, " ms"...)
	} else {
		b = append(b, '-')
	}
	b = append(b, "  lost "...)
	b = strconv.AppendInt(b, iv.Lost, 10)
	return append(b, '\n')
}

// WriteProgress writes iv's progress line (AppendProgress) to w.
func WriteProgress(w io.Writer, transport string, iv IntervalStats) error {
	_, err := w.Write(AppendProgress(nil, transport, iv))
	return err
}

// RunProgress closes r's intervals as they end (Tick, a little after each
// boundary, so that receivers have queued what arrived before it) and
// writes a progress line for each to w (nil: none), until ctx is done. Run
// it in a goroutine owned by the scenario; after cancelling it, Finish
// returns the last intervals, to be written with WriteProgress.
func (r *Recorder) RunProgress(ctx context.Context, w io.Writer) {
	grace := min(r.cfg.Interval/100, 10*time.Millisecond)
	next, ok := r.nextBoundary()
	if !ok {
		return
	}
	t := time.NewTimer(time.Until(next.Add(grace)))
	defer t.Stop()
	var line []byte
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, iv := range r.Tick(time.Now()) {
			if w != nil {
				line = AppendProgress(line[:0], r.cfg.Transport, iv)
				w.Write(line) // progress is best effort
			}
		}
		if next, ok = r.nextBoundary(); !ok {
			return // finished
		}
		t.Reset(time.Until(next.Add(grace)))
	}
}
