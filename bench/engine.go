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
	kernel    *impair.KernelLoss // TCP --loss, on the TCP proxy's port
	im        Impairment         // what impair turns on
	spec      *ImpairmentSpec
	seen0     uint64 // the proxy's packets and drops when impair turned it on
	dropped0  uint64
	keepAlive time.Duration

	mu           sync.Mutex // guards the fields below
	sessions     []session
	problems     map[string]int // errors of receivers and senders, by text
	unsent       int64          // messages a fixed rate scheduled that were not sent
	serverFailed bool           // the spawned server did not exit cleanly
	start        ProcStat       // the server's use when the measurement started
	started      bool
}

// runTransport runs the scenario over one transport. why, if not empty,
// says what kept the run from completing as asked; the notes say more.
func runTransport(ctx context.Context, c *Config, transport string) (res *Result, why string, err error) {
	e := &env{cfg: c, transport: transport, run: rand.Uint32() | 1, problems: map[string]int{}}
	e.room = fmt.Appendf(nil, "packetbench-%08x", e.run)
	total := c.Warmup + c.Duration
	e.keepAlive = min(max(2*total+time.Minute, time.Minute), time.Hour)
	defer e.close()
	if err := e.setup(ctx); err != nil {
		return nil, "", err
	}
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
		return nil, "", err
	}
	res.Impairment = e.spec
	if e.spec != nil {
		seen, dropped := e.impairStats()
		e.spec.Packets, e.spec.Dropped = seen-e.seen0, dropped-e.dropped0
	}
	e.closeSessions()
	counters, serr := e.srv.stop()
	if counters != nil {
		res.Retransmits += counters["Retransmits"]
		e.noteServer(counters)
	}
	if serr != nil {
		e.cfg.note("[%s] %v", e.transport, serr)
		e.mu.Lock()
		e.serverFailed = true
		e.mu.Unlock()
	}
	return res, e.reportProblems(), err
}

// setup starts or names the server, and starts the proxy (preflight
// checked the limits).
func (e *env) setup(ctx context.Context) error {
	c := e.cfg
	srv, err := startServer(ctx, c, e.transport)
	if err != nil {
		return err
	}
	e.srv = srv
	e.direct = &dialer{transport: e.transport, addr: srv.addr, tls: srv.tls, timeout: 10 * time.Second}
	e.impaired = e.direct
	if e.transport == "tls" && c.TLSInsecure {
		c.note("[tls] --tls-insecure: the server's certificate was not verified")
	}
	im := c.Impair
	stream := e.transport != "udp"
	if stream {
		if im.Duplicate+im.Reorder > 0 {
			c.note("[%s] --duplicate and --reorder do not apply to a TCP byte stream (TCP hides both from the application); --loss drops TCP packets in the kernel, --delay, --jitter and --rate apply in the proxy", e.transport)
		}
		im = im.ForTCP()
	}
	if !im.Active() {
		return nil
	}
	// The proxy starts clean: sessions open and join without loss, and
	// impair turns the impairment on for the measured traffic. Over TLS
	// the TCP proxy relays the encrypted bytes as they are; the clients
	// verify the server's name, not the proxy's address (dialer.tls).
	var addr string
	if stream {
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

// impair turns the impairment on. Over TCP, --loss installs a KernelLoss
// on the proxy's listening port: the segments between the measured
// clients and the proxy are lost in the kernel, both ways, and TCP
// recovers them as over a lossy network (the proxy's connections to the
// server are not impaired).
func (e *env) impair() error {
	var err error
	switch {
	case e.udpProxy != nil:
		e.seen0, e.dropped0 = e.impairStats()
		err = e.udpProxy.SetOptions(e.im.UDPOptions(e.cfg.Seed, e.cfg.impaired()))
	case e.tcpProxy != nil:
		err = e.tcpProxy.SetOptions(e.im.TCPOptions(e.cfg.Seed, e.cfg.impaired()))
		if err == nil && e.im.Loss > 0 {
			port := uint16(e.tcpProxy.Addr().Port)
			e.kernel, err = impair.NewKernelLoss(port, e.im.Loss)
			if err != nil {
				return fmt.Errorf("bench: --loss over TCP: %w", err)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("bench: impairment proxy: %w", err)
	}
	return nil
}

// impairStats returns the packets the impairment has seen, both ways, and
// those it dropped: the UDP proxy's datagrams (lost to --loss, or to its
// --rate queue's limit), or over TCP the IP packets of the KernelLoss (0,
// 0 for a TCP proxy without one).
func (e *env) impairStats() (seen, dropped uint64) {
	switch {
	case e.udpProxy != nil:
		st := e.udpProxy.Stats()
		return st.Up.Received + st.Down.Received, st.Up.Lost + st.Down.Lost + st.Up.QueueDrops + st.Down.QueueDrops
	case e.kernel != nil:
		st, err := e.kernel.Stats()
		if err != nil {
			e.cfg.note("[%s] the kernel loss counters: %v", e.transport, err)
			return 0, 0
		}
		return st.Seen, st.Dropped
	}
	return 0, 0
}

// close releases everything the run holds, whatever happened.
func (e *env) close() {
	if e.kernel != nil {
		if err := e.kernel.Close(); err != nil {
			e.cfg.note("[%s] removing the kernel loss rule (nftables table %s): %v", e.transport, e.kernel.Table(), err)
		}
	}
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
		sayBye(s)
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
	dd.nagle = e.cfg.Nagle
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

// newRecorder starts the measurement's Recorder. The senders start a
// moment later (startLead, so that the run's goroutines are under way and
// the first messages go out on time), and the measurement after the
// warmup.
func (e *env) newRecorder(publishers, subscribers int) *Recorder {
	c := e.cfg
	lead := startLead + time.Duration(publishers+subscribers)*2*time.Microsecond
	return NewRecorder(RecorderConfig{
		Transport:   e.transport,
		Scenario:    c.Scenario,
		QoS:         c.QoS,
		Size:        c.Size,
		Clients:     c.Clients,
		Publishers:  publishers,
		Subscribers: subscribers,
		Run:         e.run,
		Start:       time.Now().Add(lead + c.Warmup),
		Interval:    c.Interval,
	})
}

// startLead is the time between the Recorder's creation and the senders'
// start, plus 2 us per session.
const startLead = 10 * time.Millisecond

// problem counts an error of a sender or receiver, reported at the end.
func (e *env) problem(who string, err error) {
	e.mu.Lock()
	e.problems[who+": "+ErrorText(err)]++
	e.mu.Unlock()
}

// reportProblems notes the errors of the senders and receivers that
// stopped, and returns what kept the run from completing as asked ("" if
// nothing did).
func (e *env) reportProblems() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	keys := make([]string, 0, len(e.problems))
	stopped := 0
	for k, n := range e.problems {
		keys = append(keys, k)
		stopped += n
	}
	sort.Strings(keys)
	for _, k := range keys {
		e.cfg.note("[%s] %d x %s", e.transport, e.problems[k], k)
	}
	var why []string
	if stopped > 0 {
		why = append(why, fmt.Sprintf("%d client(s) stopped before the end", stopped))
	}
	if e.unsent > 0 {
		why = append(why, fmt.Sprintf("%d scheduled message(s) not sent", e.unsent))
	}
	if e.serverFailed {
		why = append(why, "the spawned server failed on its way out")
	}
	return strings.Join(why, ", ")
}

// ErrorText is err's text for people: without the "bench: " that starts
// this package's errors, and that wrapping repeats after each ": ".
func ErrorText(err error) string {
	const p = "bench: "
	s := err.Error()
	var b strings.Builder
	for {
		i := strings.Index(s, p)
		if i < 0 {
			break
		}
		word := i == 0 || s[i-1] == ' ' || s[i-1] == '\t' || s[i-1] == '\n'
		b.WriteString(s[:i])
		if !word {
			b.WriteString(p) // "packetbench: "
		}
		s = s[i+len(p):]
	}
	b.WriteString(s)
	return b.String()
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
