package bench

import (
	"context"
	"sync"
	"time"

	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/broker"
)

// traffic is the measured phase of fanout, rtt and ingest: senders
// publish, receivers count, then the run drains.
type traffic struct {
	rec       *Recorder
	senders   []*sender
	receivers []*receiver // one per session
	measuring []*receiver // those that measure
	closed    bool        // rtt closed loop: each sender waits for its echo
}

// add adds a receiver; one that measures expects every measured message
// of the senders from.
func (t *traffic) add(r *receiver, from []*sender) {
	t.receivers = append(t.receivers, r)
	if r.local != nil {
		r.from = from
		t.measuring = append(t.measuring, r)
	}
}

// expected returns the deliveries the measuring receivers expect now.
func (t *traffic) expected() (total int64) {
	for _, r := range t.measuring {
		for _, s := range r.from {
			total += s.measured.Load()
		}
	}
	return total
}

// delivered returns the measured first copies the receivers got.
func (t *traffic) delivered() (total int64) {
	for _, r := range t.measuring {
		total += r.got.Load()
	}
	return total
}

// plan returns when and how fast the senders send.
func (e *env) plan(t *traffic) *sendPlan {
	c := e.cfg
	p := &sendPlan{
		start:   t.rec.Config().Start.Add(-c.Warmup),
		measure: t.rec.Config().Start,
		count:   c.Messages,
		rate:    c.Rate,
		closed:  t.closed && c.Rate == 0,
		batch:   32,
		timeout: time.Second + 2*(c.Impair.Delay+c.Impair.Jitter),
	}
	p.end = p.measure.Add(c.Duration)
	p.precise = c.Rate >= 200 && len(t.senders) <= 64
	if e.transport != "udp" && len(t.senders) > 0 {
		s := t.senders[0]
		p.batch = max(1, (32<<10)/(len(s.prefix)+len(s.suffix)+PayloadLen(c.Size)))
		if c.Rate == 0 && !t.closed && c.QoS == 0 {
			fan := int64(len(t.measuring))
			p.ahead = &backlog{t: t, fan: fan, moved: time.Now(),
				limit: min(max(16*int64(p.batch)*fan, 64<<10), 2<<20)}
		}
	}
	if c.Rate > 0 {
		gap := time.Duration(float64(time.Second) / c.Rate)
		for i, s := range t.senders { // spread the senders over one gap
			s.phase = gap * time.Duration(i) / time.Duration(len(t.senders))
		}
	}
	return p
}

// run runs the measured phase and returns the Result.
func (e *env) runTraffic(ctx context.Context, t *traffic) (*Result, error) {
	c := e.cfg
	if err := e.impair(); err != nil {
		return nil, err
	}
	var rwg sync.WaitGroup
	for _, r := range t.receivers {
		who := "a publisher"
		if r.local != nil {
			who = "a receiver"
		}
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			if err := r.run(); err != nil {
				e.problem(who+" stopped", err)
			}
		}()
	}
	stopPing := e.keepPinging()
	defer stopPing()

	plan := e.plan(t)
	pctx, pcancel := context.WithCancel(context.Background())
	var pwg sync.WaitGroup
	pwg.Add(2)
	go func() {
		defer pwg.Done()
		t.rec.RunProgress(pctx, c.Progress)
	}()
	go func() {
		defer pwg.Done()
		sleepUntil(pctx, plan.measure.UnixNano(), false)
		if pctx.Err() == nil {
			e.sampleStart()
		}
	}()

	// At a rate the senders send late what was scheduled before the end,
	// for a while.
	sctx, scancel := context.WithDeadline(ctx, plan.end)
	if plan.rate > 0 {
		sctx, scancel = context.WithDeadline(ctx, plan.end.Add(lateSends))
	}
	var swg sync.WaitGroup
	for _, s := range t.senders {
		swg.Add(1)
		go func() {
			defer swg.Done()
			if err := s.run(sctx, plan); err != nil && !s.stopped(sctx) {
				e.problem("a publisher stopped", err)
			}
		}()
	}
	swg.Wait()
	scancel()
	// Sending ended at the end of -t, or later if messages went out late;
	// with -n when the last was sent; when interrupted, now.
	sendEnd := time.Now()
	if ctx.Err() == nil && (plan.count == 0 || sendEnd.After(plan.end)) {
		sendEnd = plan.end
		for _, s := range t.senders {
			if l := time.Unix(0, s.lastSent.Load()); l.After(sendEnd) {
				sendEnd = l
			}
		}
	}
	if plan.rate > 0 && ctx.Err() == nil {
		e.noteUnsent(t)
	}
	t.rec.SendEnd(sendEnd)
	// The progress lines stop with the sending: the intervals of the drain
	// are closed by Finish, up to the last delivery, so that no interval
	// outlasts the measurement.
	pcancel()
	pwg.Wait()

	e.drain(ctx, t)
	server := e.serverStats()
	for _, r := range t.receivers {
		r.closing.Store(true)
		_ = r.sess.setDeadline(time.Now())
	}
	rwg.Wait()
	for _, s := range t.senders {
		if s.win != nil {
			resends, _ := s.win.counts()
			t.rec.AddRetransmits(resends)
		}
	}
	t.rec.Expect(t.expected())
	// The measurement ends with the last delivery: what was sent in time
	// and arrived after (queued in socket buffers and the server, or
	// retransmitted) counts over the time it took to arrive.
	end := sendEnd
	for _, r := range t.measuring {
		if l := time.Unix(0, r.last.Load()); l.After(end) {
			end = l
		}
	}
	for _, iv := range t.rec.Finish(end) {
		if c.Progress != nil {
			_ = WriteProgress(c.Progress, e.transport, iv)
		}
	}
	if n := t.rec.Clamped(); n > 0 {
		e.cfg.note("[%s] %d latencies were above 60 s, the histogram's range, and count as 60 s: the percentiles at the top are at least what they say", e.transport, n)
	}
	res := t.rec.Result()
	res.Server = server
	return &res, nil
}

// lateSends is how long after the end of -t senders at a fixed rate may
// still send what they were scheduled to send before it.
const lateSends = time.Second

// noteUnsent notes the messages the senders' schedules held that were not
// sent: they count as neither sent nor lost, and the run did not
// complete as asked.
func (e *env) noteUnsent(t *traffic) {
	var due, unsent int64
	for _, s := range t.senders {
		due += s.due
		unsent += max(s.due-s.measured.Load(), 0)
	}
	if unsent == 0 {
		return
	}
	e.mu.Lock()
	e.unsent = unsent
	e.mu.Unlock()
	e.cfg.note("[%s] %d of the %d messages -r scheduled were not sent, even %v late: the senders fell behind (the server, a full QoS 1 window, or this machine could not keep up); they count as neither sent nor lost",
		e.transport, unsent, due, lateSends)
}

// stopped reports whether a sender's error came from the run ending.
func (s *sender) stopped(ctx context.Context) bool { return ctx.Err() != nil }

// drain waits, after the last message was sent, for what is still on its
// way: until every receiver has every message it expects and every QoS 1
// EMIT is acknowledged, or nothing has moved for a while. After an
// interrupt it waits a second at most.
func (e *env) drain(ctx context.Context, t *traffic) {
	c := e.cfg
	quiet := 500*time.Millisecond + 4*(c.Impair.Delay+c.Impair.Jitter)
	limit := 30 * time.Second
	switch {
	case c.QoS == 1:
		// The server retransmits over UDP after its timeout, doubling with
		// each retransmission: wait out the longest gap it may leave.
		quiet += 5*time.Second + e.longestRetryGap()
		limit = max(2*time.Minute, 3*quiet)
	case e.transport != "udp" && c.Impair.Loss > 0:
		// TCP retransmits a segment lost in the kernel after its RTO,
		// doubling it each time the retransmission is lost too: 0.2 +
		// 0.4 + ... s; 10 s covers five losses of one segment in a row.
		quiet, limit = 10*time.Second+quiet, 2*time.Minute
	}
	if ctx.Err() != nil {
		quiet, limit = 200*time.Millisecond, time.Second
	}
	dctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	var wg sync.WaitGroup
	for _, s := range t.senders {
		if s.win != nil {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := s.settle(dctx); err != nil {
					e.problem("a publisher stopped", err)
				}
			}()
		}
	}
	defer wg.Wait()
	defer cancel()
	want := t.expected()
	progress := func() int64 {
		n := t.delivered()
		for _, s := range t.senders {
			if s.win != nil {
				_, acked := s.win.counts()
				n += acked
			}
		}
		return n
	}
	last, moved := progress(), time.Now()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		settled := t.delivered() >= want
		for _, s := range t.senders {
			if s.win != nil && !s.win.empty() {
				settled = false
			}
		}
		if settled {
			return
		}
		if n := progress(); n != last {
			last, moved = n, time.Now()
		} else if time.Since(moved) > quiet {
			if ctx.Err() == nil {
				e.cfg.note("[%s] the drain stopped after %v without a delivery: %d of the %d expected deliveries had not arrived (counted lost)",
					e.transport, quiet.Round(100*time.Millisecond), want-t.delivered(), want)
			}
			return
		}
		select {
		case <-tick.C:
		case <-dctx.Done():
			if ctx.Err() == nil {
				e.cfg.note("[%s] the drain stopped at its limit of %v: %d of the %d expected deliveries had not arrived (counted lost)",
					e.transport, limit, want-t.delivered(), want)
			}
			return
		case <-ctx.Done():
			if limit > time.Second { // interrupted while draining: stop soon
				quiet, limit = 200*time.Millisecond, time.Second
				cancelAfter := time.AfterFunc(time.Second, cancel)
				defer cancelAfter.Stop()
			}
			ctx = context.Background()
		}
	}
}

// longestRetryGap returns the longest time the server may wait between
// two retransmissions of a QoS 1 MESSAGE: its first timeout (randomised
// up to 1.5 times) doubled for each retransmission up to -max-retries,
// at most the broker's cap. For a server packetbench did not spawn, the
// cap.
func (e *env) longestRetryGap() time.Duration {
	if e.cfg.external() {
		return broker.MaxBackoff
	}
	sc, err := checkServerFlags(e.cfg.Spawn.Flags)
	if err != nil {
		return broker.MaxBackoff
	}
	first := sc.Broker.RetryTimeout
	if first == 0 {
		first = time.Second
	}
	retries := sc.Broker.MaxRetries
	if retries == 0 {
		retries = 4
	}
	gap := first * 3 / 2 << min(retries-1, 16)
	return min(gap, max(broker.MaxBackoff, first))
}

// keepPinging sends a PING on every session each half keepalive, for
// runs longer than that; it returns the function that stops it. The
// keepalive is the shortest the server granted: a server may clamp what
// the HELLOs asked for (its -max-keepalive).
func (e *env) keepPinging() func() {
	every := e.keepAlive
	e.mu.Lock()
	for _, s := range e.sessions {
		if k := s.info().keepAlive; k > 0 && k < every {
			every = k
		}
	}
	e.mu.Unlock()
	every /= 2
	total := e.cfg.Warmup + e.cfg.Duration + time.Minute
	if total < every {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			e.mu.Lock()
			ss := append([]session(nil), e.sessions...)
			e.mu.Unlock()
			for _, s := range ss {
				_ = s.send(s.appendPacket(nil, codec.Header{Type: codec.TypePing, ID: pingID}, nil))
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}
