package bench

import (
	"context"
	"sync"
	"syscall"
	"time"
)

// sleepUntil sleeps until t (unix nanoseconds) or ctx's end.
func sleepUntil(ctx context.Context, t int64, precise bool) {
	p := pacer{precise: precise}
	p.sleepUntil(ctx, t)
	p.stop()
}

// pacer sleeps until given times, reusing one timer. Go's timers wake up
// to a millisecond late on Linux; a precise pacer ends each sleep with
// nanosleep(2), which wakes within the thread's timer slack.
type pacer struct {
	precise bool
	timer   *time.Timer
}

func (p *pacer) sleepUntil(ctx context.Context, t int64) {
	const slack = 10 * time.Microsecond
	for ctx.Err() == nil {
		d := time.Duration(t - time.Now().UnixNano())
		switch {
		case d <= 0:
			return
		case !p.precise || d > 3*time.Millisecond:
			if p.precise {
				d -= 2 * time.Millisecond
			}
			if p.timer == nil {
				p.timer = time.NewTimer(d)
			} else {
				p.timer.Reset(d)
			}
			select {
			case <-p.timer.C:
			case <-ctx.Done():
			}
		default:
			if d > 2*slack {
				d -= slack
			}
			ts := syscall.NsecToTimespec(int64(d))
			_ = syscall.Nanosleep(&ts, nil)
		}
	}
}

func (p *pacer) stop() {
	if p.timer != nil {
		p.timer.Stop()
	}
}

// backlog bounds the deliveries on their way when TCP publishers flood:
// without it a publisher fills the kernel's socket buffers (megabytes,
// seconds of fan-out to many subscribers), the latency measured is the
// time spent in them, and a short measurement counts the warmup's
// backlog. Publishers wait while more than limit deliveries are
// outstanding; what stays outstanding for a while (dropped by the server
// for a slow consumer) is written off, so that a loss cannot stall them.
type backlog struct {
	t     *traffic
	fan   int64 // receivers per message
	limit int64 // deliveries outstanding

	mu    sync.Mutex // guards the fields below
	lost  int64      // deliveries written off
	seen  int64      // deliveries at the last look
	moved time.Time  // when they last changed
}

// outstanding returns the deliveries sent and neither received nor
// written off.
func (b *backlog) outstandingLocked() int64 {
	var sent, got int64
	for _, s := range b.t.senders {
		sent += s.total.Load()
	}
	for _, r := range b.t.measuring {
		got += r.all.Load()
	}
	if got != b.seen {
		b.seen, b.moved = got, time.Now()
	}
	return sent*b.fan - got - b.lost
}

// wait blocks while too much is outstanding.
func (b *backlog) wait(ctx context.Context) {
	for ctx.Err() == nil {
		b.mu.Lock()
		n := b.outstandingLocked()
		if n <= b.limit {
			b.mu.Unlock()
			return
		}
		if time.Since(b.moved) > 50*time.Millisecond {
			b.lost += n // nothing arrives: it will not
			b.moved = time.Now()
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		time.Sleep(100 * time.Microsecond)
	}
}
