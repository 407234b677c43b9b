package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/packetd/packetd/bench/impair"
	"github.com/packetd/packetd/codec"
)

// env is one transport's run: its server, its proxy, its sessions.
type env struct {
	cfg       *Config
	transport string
	run       uint32 // the run id in every payload
	room      []byte // the scenario's room, unique to the run
	srv       *target
	direct    *dialer // to the server
	impaired  *dialer // through the proxy; direct without impairment
	udpProxy  *impair.UDP
	tcpProxy  *impair.TCP
	im        Impairment // what impair turns on
	spec      *ImpairmentSpec
	keepAlive time.Duration

	mu       sync.Mutex // guards the fields below
	sessions []session
	problems map[string]int // errors of receivers and senders, by text
	start    ProcStat       // the server's use when the measurement started
	started  bool
}

// runTransport runs the scenario over one transport.
func runTransport(ctx context.Context, c *Config, transport string) (*Result, error) {
	e := &env{cfg: c, transport: transport, run: rand.Uint32() | 1, problems: map[string]int{}}
	e.room = fmt.Appendf(nil, "packetbench-%08x", e.run)
	total := c.Warmup + c.Duration
	e.keepAlive = min(max(2*total+time.Minute, time.Minute), time.Hour)
	defer e.close()
	if err := e.setup(ctx); err != nil {
		return nil, err
	}
	var res *Result
	var err error
	switch c.Scenario {
	case ScenarioFanout:
		res, err = e.fanout(ctx)
	case ScenarioRTT:
		res, err = e.rtt(ctx)
	case ScenarioIngest:
		res, err = e.ingest(ctx)
	case ScenarioConns:
		res, err = e.conns(ctx)
	}
	if res == nil {
		return nil, err
	}
	res.Impairment = e.spec
	e.closeSessions()
	if counters := e.srv.stop(); counters != nil {
		res.Retransmits += counters["Retransmits"]
		e.noteServer(counters)
	}
	e.reportProblems()
	return res, err
}

// setup checks the limits, starts or names the server, and starts the
// proxy.
func (e *env) setup(ctx context.Context) error {
	c := e.cfg
	need := c.sessions(e.transport) + fdReserve
	if e.transport == "tcp" {
		need += 2 * c.impaired() // the proxy's two sockets per connection
	} else {
		need += c.impaired() // the proxy's upstream socket per flow
	}
	if err := checkFDs(need); err != nil {
		return err
	}
	srv, err := startServer(ctx, c, e.transport)
	if err != nil {
		return err
	}
	e.srv = srv
	e.direct = &dialer{transport: e.transport, addr: srv.addr, timeout: 10 * time.Second}
	e.impaired = e.direct
	im := c.Impair
	if e.transport == "tcp" {
		if im.Loss+im.Duplicate+im.Reorder > 0 && im.Active() {
			c.note("[tcp] --loss, --duplicate and --reorder do not apply to a TCP byte stream (the kernel recovers them below a user-space proxy); only --delay, --jitter and --rate do")
		}
		im = im.ForTCP()
	}
	if !im.Active() {
		return nil
	}
	// The proxy starts clean: sessions open and join without loss, and
	// impair turns the impairment on for the measured traffic.
	var addr string
	if e.transport == "tcp" {
		o := im.TCPOptions(c.Seed, c.impaired())
		o.Up, o.Down = impair.TCPConfig{}, impair.TCPConfig{}
		px, err := impair.NewTCP("127.0.0.1:0", srv.addr, o)
		if err != nil {
			return fmt.Errorf("bench: impairment proxy: %w", err)
		}
		e.tcpProxy, addr = px, px.Addr().String()
	} else {
		o := im.UDPOptions(c.Seed, c.impaired())
		o.Up, o.Down = impair.Config{}, impair.Config{}
		px, err := impair.NewUDP("127.0.0.1:0", srv.addr, o)
		if err != nil {
			return fmt.Errorf("bench: impairment proxy: %w", err)
		}
		e.udpProxy, addr = px, px.Addr().String()
	}
	e.im = im
	e.spec = im.Spec(c.Seed)
	d := *e.direct
	d.addr = addr
	e.impaired = &d
	return nil
}

// impair turns the impairment on.
func (e *env) impair() error {
	var err error
	switch {
	case e.udpProxy != nil:
		err = e.udpProxy.SetOptions(e.im.UDPOptions(e.cfg.Seed, e.cfg.impaired()))
	case e.tcpProxy != nil:
		err = e.tcpProxy.SetOptions(e.im.TCPOptions(e.cfg.Seed, e.cfg.impaired()))
	}
	if err != nil {
		return fmt.Errorf("bench: impairment proxy: %w", err)
	}
	return nil
}

// close releases everything the run holds, whatever happened.
func (e *env) close() {
	e.closeSessions()
	if e.udpProxy != nil {
		e.udpProxy.Close()
	}
	if e.tcpProxy != nil {
		e.tcpProxy.Close()
	}
	if e.srv != nil {
		e.srv.stop()
	}
}

// closeSessions says BYE on every session and closes it.
func (e *env) closeSessions() {
	e.mu.Lock()
	ss := e.sessions
	e.sessions = nil
	e.mu.Unlock()
	for _, s := range ss {
		bye := s.appendPacket(nil, codec.Header{Type: codec.TypeBye}, nil)
		_ = s.setDeadline(time.Now().Add(100 * time.Millisecond))
		_ = s.send(bye)
		if _, udp := s.(*udpSession); udp {
			_ = s.send(bye) // a datagram may be lost (PROTOCOL.md 4.9)
		}
		s.Close()
	}
}

// hello returns the HELLO of a session; receivers of a --persist run open
// persistent sessions that expire soon after the run.
func (e *env) hello(receiver bool, i int) codec.Hello {
	h := codec.Hello{KeepAlive: uint32(e.keepAlive / time.Second), Inflight: 1000}
	if receiver && e.cfg.Persist {
		h.ClientID = fmt.Appendf(nil, "packetbench-%08x-%s-%d", e.run, e.transport, i)
		h.Persist = true
		h.Expiry = 5
	}
	return h
}

// role says what the sessions open opens are for.
type role struct {
	receiver bool // they measure: large buffers, persistent with --persist
	member   bool // they join the run's room
	readBuf  int  // TCP read buffer
}

// open opens n sessions through d for role r.
func (e *env) open(ctx context.Context, d *dialer, n int, r role) ([]session, error) {
	dd := *d
	dd.readBuf = r.readBuf
	dd.sockBuf = 256 << 10
	if r.receiver {
		dd.gro = e.cfg.UDPGRO
		dd.sockBuf = 4 << 20
		if n > 100 {
			dd.sockBuf = 1 << 20
		}
	}
	ss, err := openAll(ctx, n, 128, func(ctx context.Context, i int) (session, error) {
		s, err := dd.dial(ctx, e.hello(r.receiver, i))
		if err != nil {
			return nil, err
		}
		if r.member {
			if err := join(ctx, s, e.room); err != nil {
				s.Close()
				return nil, fmt.Errorf("bench: joining room %s: %w", e.room, err)
			}
		}
		return s, nil
	})
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	e.sessions = append(e.sessions, ss...)
	e.mu.Unlock()
	return ss, nil
}

// checkSize fails if a message of the run's size cannot reach UDP
// members: MESSAGEs over the server's max_datagram are not sent to them.
func (e *env) checkSize(s session, emit codec.Emit) error {
	if e.transport != "udp" {
		return nil
	}
	limit := s.info().maxDatagram
	if limit == 0 {
		limit = codec.DefaultMaxDatagram
	}
	fits := func(size int) bool {
		emit.Data = AppendPayload(nil, Payload{}, size)
		msg := codec.Message{Rooms: emit.Rooms, From: make([]byte, 17), Data: emit.Data}
		return codec.SessionIDLen+codec.PacketLen(&emit) <= limit && codec.PacketLen(&msg) <= limit
	}
	if fits(e.cfg.Size) {
		return nil
	}
	most := PayloadMin
	for fits(most + 1) {
		most++
	}
	return configError("-s %d: a UDP message of this size does not fit the server's max_datagram (%d bytes): at most -s %d, or raise the server's -max-datagram",
		e.cfg.Size, limit, most)
}

// newRecorder starts the measurement's Recorder: the measurement starts
// after the warmup.
func (e *env) newRecorder(publishers, subscribers int) *Recorder {
	c := e.cfg
	return NewRecorder(RecorderConfig{
		Transport:   e.transport,
		Scenario:    c.Scenario,
		QoS:         c.QoS,
		Size:        c.Size,
		Clients:     c.Clients,
		Publishers:  publishers,
		Subscribers: subscribers,
		Run:         e.run,
		Start:       time.Now().Add(c.Warmup),
		Interval:    c.Interval,
	})
}

// problem counts an error of a sender or receiver, reported at the end.
func (e *env) problem(who string, err error) {
	e.mu.Lock()
	e.problems[who+": "+err.Error()]++
	e.mu.Unlock()
}

func (e *env) reportProblems() {
	e.mu.Lock()
	defer e.mu.Unlock()
	keys := make([]string, 0, len(e.problems))
	for k := range e.problems {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		e.cfg.note("[%s] %d x %s", e.transport, e.problems[k], k)
	}
}

// noteServer reports what the server dropped, if anything.
func (e *env) noteServer(counters map[string]int64) {
	var parts []string
	for _, k := range []string{"UDPRecvDrops", "DropSlowConsumer", "DropInboxFull", "DatagramsDropped", "DropAmplification",
		"DropTooLargeForUDP", "QueueDrops", "DeliveryTimeouts", "DroppedEmits"} {
		if v := counters[k]; v > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, v))
		}
	}
	if len(parts) > 0 {
		e.cfg.note("[%s] the server counted: %s", e.transport, strings.Join(parts, ", "))
	}
}

// sampleStart reads the server's resource use as the measurement starts,
// and resets its peak RSS so that the peak is the measurement's.
func (e *env) sampleStart() {
	if e.srv.pid == 0 {
		return
	}
	st, err := ReadProcStat(e.srv.pid)
	if err != nil {
		return
	}
	_ = ResetPeakRSS(e.srv.pid)
	e.mu.Lock()
	e.start, e.started = st, true
	e.mu.Unlock()
}

// serverStats returns the server's use since sampleStart.
func (e *env) serverStats() ServerStats {
	e.mu.Lock()
	st0, ok := e.start, e.started
	e.mu.Unlock()
	if !ok {
		return ServerStats{}
	}
	st, err := ReadProcStat(e.srv.pid)
	if err != nil {
		return ServerStats{}
	}
	return ServerStats{CPUSeconds: (st.CPU - st0.CPU).Seconds(), PeakRSSBytes: st.PeakRSS}
}
