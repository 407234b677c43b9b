package bench

import (
	"context"
	"errors"
	"sync"
	"time"
)

// conns: open -c idle sessions, hold them for -t, and report what they
// cost the server: its RSS before and after, per session. The Result's
// sent and received packets are the HELLOs and WELCOMEs, its rates are
// sessions opened per second, its duration the time they took to open,
// and its latency that of a handshake (HELLO to WELCOME, and over UDP the
// PING that validates the address).
func (e *env) conns(ctx context.Context) (*Result, error) {
	c := e.cfg
	if err := e.impair(); err != nil { // the handshakes are what conns measures
		return nil, err
	}
	var before ProcStat
	if e.srv.pid != 0 {
		before, _ = ReadProcStat(e.srv.pid)
		_ = ResetPeakRSS(e.srv.pid)
	}
	rec := NewRecorder(RecorderConfig{Transport: e.transport, Scenario: c.Scenario, QoS: c.QoS,
		Size: c.Size, Clients: c.Clients, Interval: c.Interval, Run: e.run})
	d := *e.impaired
	d.readBuf, d.sockBuf = 512, 0
	var mu sync.Mutex // guards local and the sessions' slice
	local := rec.NewLocal()
	ss := make([]session, 0, c.Clients)
	start := time.Now()
	_, err := openAll(ctx, c.Clients, 128, func(ctx context.Context, i int) (session, error) {
		t0 := time.Now()
		s, err := d.dial(ctx, e.hello(false, i))
		if err != nil {
			return nil, err
		}
		t1 := time.Now()
		mu.Lock()
		local.Record(t1.UnixNano(), int64(t1.Sub(t0)), 0)
		ss = append(ss, s)
		mu.Unlock()
		return noClose{s}, nil
	})
	opened := time.Now()
	e.mu.Lock()
	e.sessions = append(e.sessions, ss...)
	e.mu.Unlock()
	rec.AddSent(int64(len(ss)), 0)
	rec.Expect(int64(c.Clients))
	if err != nil && !errors.Is(err, context.Canceled) {
		return nil, err
	}
	for _, iv := range rec.Finish(opened) {
		if c.Progress != nil {
			_ = WriteProgress(c.Progress, e.transport, iv)
		}
	}
	if err == nil {
		c.note("[%s] %d sessions open in %.2f s; holding them for %v", e.transport, len(ss), opened.Sub(start).Seconds(), c.Duration)
		stop := e.keepPinging()
		sleepUntil(ctx, opened.Add(c.Duration).UnixNano(), false)
		stop()
	}
	res := rec.Result()
	res.Publishers, res.Subscribers = 0, 0
	if e.srv.pid != 0 {
		if after, err := ReadProcStat(e.srv.pid); err == nil {
			res.Server = ServerStats{
				CPUSeconds:     (after.CPU - before.CPU).Seconds(),
				PeakRSSBytes:   after.PeakRSS,
				RSSBeforeBytes: before.RSS,
				RSSAfterBytes:  after.RSS,
				Sessions:       int64(len(ss)),
			}
			if len(ss) > 0 {
				res.Server.RSSPerSessionBytes = (after.RSS - before.RSS) / int64(len(ss))
			}
			if res.Server.RSSPerSessionBytes <= 0 {
				c.note("[%s] the server's RSS did not grow (%d KiB before, %d KiB after): it reused memory that earlier sessions freed; a fresh server (the default) measures sessions alone",
					e.transport, before.RSS>>10, after.RSS>>10)
			}
		}
	}
	return &res, ctx.Err()
}

// noClose keeps openAll from closing a session conns has taken: conns
// keeps what opened before an interrupt.
type noClose struct{ session }

func (noClose) Close() error { return nil }
