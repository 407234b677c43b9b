package bench

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/packetd/packetd/bench/impair"
)

// The scenarios.
const (
	ScenarioFanout = "fanout" // -p publishers to a room of -c subscribers
	ScenarioRTT    = "rtt"    // -c clients, each echoing to itself through the server
	ScenarioIngest = "ingest" // -c devices sending to a room that -sinks subscribers read
	ScenarioConns  = "conns"  // -c idle sessions held open
)

// Scenarios lists the scenario names in the order the usage shows them.
var Scenarios = []string{ScenarioFanout, ScenarioRTT, ScenarioIngest, ScenarioConns}

// Config is one packetbench run. Zero values mean the documented defaults;
// Run validates it.
type Config struct {
	Scenario   string
	Transports []string // "tcp", "tls" and/or "udp", run one after the other; default tcp

	Clients    int           // -c: subscribers (fanout, default 10), clients (rtt, 1), devices (ingest, 100), sessions (conns, 1000)
	Publishers int           // -p: fanout publishers; default 1
	Sinks      int           // ingest subscribers; default 1
	Messages   int64         // -n: measured messages per sender; 0: until Duration
	Duration   time.Duration // -t: measured time; default 10 s (with Messages, a cap of 5 min)
	Size       int           // -s: payload bytes, at least PayloadMin; default 64
	Rate       float64       // -r: messages/s per sender; 0: as fast as possible (rtt: closed loop); ingest default 10
	Interval   time.Duration // -i: progress and series interval; default 1 s
	QoS        int           // 0 or 1
	Window     int           // QoS 1 EMITs a publisher keeps unacknowledged, 1-1000; default 100 over TCP and TLS, 20 over UDP (windowFor)
	Persist    bool          // receivers open persistent sessions (the server stores their QoS 1 messages)
	Warmup     time.Duration // traffic before the measurement starts, not measured
	// UDPGRO makes UDP receivers turn on UDP_GRO: the datagrams of one of
	// the server's GSO runs arrive in one read. Fewer reads here; and over
	// loopback, where a receiver's kernel work is done in the sender's
	// send call, the server's sends no longer pay for splitting the runs.
	// Off by default, as a device reads one datagram at a time.
	UDPGRO bool
	// Nagle leaves Nagle's algorithm on in the clients' TCP sockets
	// (TCP_NODELAY off), as many embedded stacks do: a small write waits
	// while an earlier one is unacknowledged, and the peer may delay its
	// ACK (docs/LAYER4.md).
	Nagle bool

	Server      string      // host:port of a running packetd's TCP and UDP; "" (and no TLSServer) spawns one per transport
	TLSServer   string      // host:port of that packetd's TLS (-tls-addr), for the tls transport
	TLSCA       string      // PEM file of the CA that verifies TLSServer's certificate; "": the system's roots
	TLSInsecure bool        // do not verify TLSServer's certificate
	ServerPID   int         // the external server's pid, for its CPU and memory
	Spawn       SpawnConfig // how to spawn; ServerFlags are appended to Spawn.Flags
	AllowRemote bool        // allow a target that is not a loopback address

	Impair Impairment // put an impairment proxy in front of the server
	Seed   int64      // the impairment's seed; 0 picks one (reported)

	// Progress receives the per-interval lines; Notes what a user should
	// know about the run (what the server dropped, errors of clients that
	// stopped). nil: none.
	Progress, Notes io.Writer
}

// Impairment is what a proxy between the measured clients and the server
// does to their traffic, in each direction: UDP datagrams are lost,
// duplicated, reordered, delayed and rate limited (bench/impair.UDP); a TCP
// byte stream is delayed, jittered and rate limited (impair.TCP), and its
// packets are lost in the kernel (impair.KernelLoss, which needs
// CAP_NET_ADMIN): TCP recovers loss below what a user-space proxy sees.
type Impairment struct {
	Loss               float64       // probability, 0-1 (TCP: below 1)
	Duplicate, Reorder float64       // probabilities, 0-1 (UDP only)
	Delay, Jitter      time.Duration // added per datagram or chunk
	Rate               int           // bytes/s per connection or flow, 0: unlimited
}

// Active reports whether i impairs anything.
func (i Impairment) Active() bool { return i != Impairment{} }

// ForTCP returns what of i applies to a byte stream (Loss in the kernel).
func (i Impairment) ForTCP() Impairment {
	return Impairment{Loss: i.Loss, Delay: i.Delay, Jitter: i.Jitter, Rate: i.Rate}
}

// UDPOptions returns the UDP proxy's options for i, both directions alike.
func (i Impairment) UDPOptions(seed int64, flows int) impair.Options {
	c := impair.Config{Loss: i.Loss, Duplicate: i.Duplicate, Reorder: i.Reorder,
		Delay: i.Delay, Jitter: i.Jitter, Rate: i.Rate}
	if i.Rate > 0 || i.Delay > 0 {
		// Hold what the link's delay carries: the bandwidth-delay product.
		c.QueueLimit = max(impair.DefaultQueueLimit, int(float64(max(i.Rate, 100<<20))*(i.Delay+i.Jitter).Seconds()))
	}
	return impair.Options{Up: c, Down: c, Seed: seed, MaxFlows: flows + 16, MaxDatagram: 4096}
}

// TCPOptions returns the TCP proxy's options for i, both directions alike.
func (i Impairment) TCPOptions(seed int64, conns int) impair.TCPOptions {
	c := impair.TCPConfig{Delay: i.Delay, Jitter: i.Jitter, Rate: i.Rate}
	if i.Rate > 0 || i.Delay > 0 {
		c.QueueLimit = max(impair.DefaultQueueLimit, int(float64(max(i.Rate, 100<<20))*(i.Delay+i.Jitter).Seconds()))
	}
	return impair.TCPOptions{Up: c, Down: c, Seed: seed, MaxConns: conns + 16}
}

// Spec returns how a Result records i.
func (i Impairment) Spec(seed int64) *ImpairmentSpec {
	return &ImpairmentSpec{
		LossPercent:       100 * i.Loss,
		DelayMs:           float64(i.Delay) / 1e6,
		JitterMs:          float64(i.Jitter) / 1e6,
		ReorderPercent:    100 * i.Reorder,
		DuplicatePercent:  100 * i.Duplicate,
		RateBitsPerSecond: 8 * float64(i.Rate),
		Seed:              seed,
	}
}

// ErrConfig is wrapped by every error about an invalid Config.
var ErrConfig = errors.New("bench: invalid configuration")

func configError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
}

// Validate checks c and fills in the defaults. A setting that does not
// apply to the run (-p outside fanout, --window at QoS 0, a payload size
// for conns, --server-flag with --server ...) is an error, not ignored:
// the defaults it fills in are only those that apply, so that Validate
// accepts what it returned.
func (c *Config) Validate() error {
	switch c.Scenario {
	case ScenarioFanout, ScenarioRTT, ScenarioIngest, ScenarioConns:
	case "":
		return configError("no scenario: choose one of %s", strings.Join(Scenarios, ", "))
	default:
		return configError("unknown scenario %q: choose one of %s", c.Scenario, strings.Join(Scenarios, ", "))
	}
	if len(c.Transports) == 0 {
		c.Transports = []string{"tcp"}
	}
	seen := map[string]bool{}
	for _, t := range c.Transports {
		if t != "tcp" && t != "tls" && t != "udp" {
			return configError("transport %q: use tcp, tls, udp or a list of them (tcp,tls,udp)", t)
		}
		if seen[t] {
			return configError("transport %s given twice", t)
		}
		seen[t] = true
	}
	defaults := map[string]int{ScenarioFanout: 10, ScenarioRTT: 1, ScenarioIngest: 100, ScenarioConns: 1000}
	switch {
	case c.Clients < 0:
		return configError("-c %d: must be at least 1", c.Clients)
	case c.Clients == 0:
		c.Clients = defaults[c.Scenario]
	}
	if c.Publishers < 0 || c.Sinks < 0 {
		return configError("-p and --sinks must be at least 1")
	}
	switch c.Scenario {
	case ScenarioFanout:
		c.Publishers = max(c.Publishers, 1)
	case ScenarioIngest:
		c.Sinks = max(c.Sinks, 1)
	}
	if c.Messages < 0 {
		return configError("-n %d: must be positive", c.Messages)
	}
	switch {
	case c.Duration < 0:
		return configError("-t %v: must be positive", c.Duration)
	case c.Duration == 0 && c.Messages > 0:
		c.Duration = 5 * time.Minute
	case c.Duration == 0:
		c.Duration = 10 * time.Second
	}
	switch {
	case c.Scenario == ScenarioConns:
	case c.Size == 0:
		c.Size = DefaultPayloadSize
	case c.Size < PayloadMin:
		return configError("-s %d: a payload is at least %d bytes (publisher, sequence number, send time, run id)", c.Size, PayloadMin)
	case c.Size > 1<<20-256:
		return configError("-s %d: over the server's frame limit (1 MiB)", c.Size)
	}
	if c.Rate < 0 {
		return configError("-r %v: must be positive (0: as fast as possible)", c.Rate)
	}
	if c.Rate == 0 && c.Scenario == ScenarioIngest {
		c.Rate = 10
	}
	if c.Interval < 0 {
		return configError("-i %v: must be positive", c.Interval)
	}
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.Interval < 10*time.Millisecond {
		return configError("-i %v: at least 10ms", c.Interval)
	}
	if c.QoS != 0 && c.QoS != 1 {
		return configError("--qos %d: 0 (at most once) or 1 (at least once)", c.QoS)
	}
	switch {
	case c.QoS == 0, c.Window == 0: // 0: windowFor's default
	case c.Window < 1 || c.Window > 1000:
		return configError("--window %d: 1 to 1000 (the server remembers 1024 EMIT ids)", c.Window)
	}
	if c.Warmup < 0 {
		return configError("--warmup %v: must be positive", c.Warmup)
	}
	if c.ServerPID != 0 && !c.external() {
		return configError("--server-pid needs --server")
	}
	if err := c.checkTLS(seen); err != nil {
		return err
	}
	if !c.external() {
		if _, err := checkServerFlags(c.Spawn.Flags); err != nil {
			return err
		}
	}
	im := c.Impair
	for _, p := range []struct {
		name string
		v    float64
	}{{"loss", im.Loss}, {"duplicate", im.Duplicate}, {"reorder", im.Reorder}} {
		if !(p.v >= 0 && p.v <= 1) {
			return configError("--%s %v: a fraction from 0 to 1 (or 0%% to 100%%)", p.name, p.v)
		}
	}
	if im.Delay < 0 || im.Jitter < 0 || im.Rate < 0 {
		return configError("--delay, --jitter and --rate must be positive")
	}
	if err := c.checkApplies(seen["udp"]); err != nil {
		return err
	}
	if c.Seed == 0 && im.Active() {
		c.Seed = rand.Int64N(1<<31) + 1
	}
	return nil
}

// checkApplies refuses settings that would do nothing in this run.
func (c *Config) checkApplies(udp bool) error {
	senders := map[string]string{
		ScenarioRTT:    "rtt's senders are its -c clients",
		ScenarioIngest: "ingest's senders are its -c devices",
		ScenarioConns:  "conns sends no messages",
	}
	if c.Publishers != 0 && c.Scenario != ScenarioFanout {
		return configError("-p %d: only fanout has publishers; %s", c.Publishers, senders[c.Scenario])
	}
	if c.Sinks != 0 && c.Scenario != ScenarioIngest {
		return configError("--sinks %d: only ingest has sinks", c.Sinks)
	}
	if c.Scenario == ScenarioConns {
		// conns opens idle sessions and holds them: no messages.
		for _, f := range []struct {
			set  bool
			flag string
		}{
			{c.Messages != 0, fmt.Sprintf("-n %d", c.Messages)},
			{c.Rate != 0, fmt.Sprintf("-r %v", c.Rate)},
			{c.Size != 0, fmt.Sprintf("-s %d", c.Size)},
			{c.QoS != 0, fmt.Sprintf("--qos %d", c.QoS)},
			{c.Window != 0, fmt.Sprintf("--window %d", c.Window)},
			{c.Warmup != 0, fmt.Sprintf("--warmup %v", c.Warmup)},
			{c.Persist, "--persist"},
			{c.UDPGRO, "--udp-gro"},
			{c.Nagle, "--nagle"},
		} {
			if f.set {
				return configError("%s: conns sends no messages (it opens -c sessions and holds them for -t)", f.flag)
			}
		}
	}
	if c.Window != 0 && c.QoS != 1 {
		return configError("--window %d: the window holds QoS 1 EMITs; add --qos 1", c.Window)
	}
	if c.Nagle && !c.stream() {
		return configError("--nagle: no TCP or TLS in --transport %s", strings.Join(c.Transports, ","))
	}
	if c.UDPGRO && !udp {
		return configError("--udp-gro: no UDP in --transport %s", strings.Join(c.Transports, ","))
	}
	if im := c.Impair; !udp {
		for _, f := range []struct {
			v    float64
			flag string
		}{{im.Duplicate, "--duplicate"}, {im.Reorder, "--reorder"}} {
			if f.v > 0 {
				return configError("%s %g%%: applies to UDP only (TCP hides duplicates and reordering from the application); over TCP --loss, --delay, --jitter and --rate do", f.flag, 100*f.v)
			}
		}
	}
	if c.Impair.Loss >= 1 && c.stream() {
		return configError("--loss 100%%: a TCP connection cannot be opened through a path that loses everything; at most 99.9999%% over TCP")
	}
	if c.Seed != 0 && !c.Impair.Active() {
		return configError("--seed %d: the seed is the impairment's; add an impairment flag (--loss, --delay ...)", c.Seed)
	}
	if c.external() && len(c.Spawn.Flags) > 0 {
		return configError("--server-flag %s: with --server no server is spawned; set packetd's flags where it runs", c.Spawn.Flags[0])
	}
	if c.AllowRemote && !c.external() {
		return configError("--allow-remote: it allows a --server that is not on this machine; without --server the spawned server is local")
	}
	return nil
}

// external reports whether the run loads a running packetd (--server,
// --tls-server) rather than spawning one.
func (c *Config) external() bool { return c.Server != "" || c.TLSServer != "" }

// windowFor returns the QoS 1 publisher window over transport: --window,
// or by default 100 over a stream and 20 over UDP, where a window much
// above what the server's receive socket holds in ACKs under a flood
// makes it drop ACKs and retransmit needlessly (docs/PACKETBENCH.md).
func (c *Config) windowFor(transport string) int {
	switch {
	case c.Window != 0:
		return c.Window
	case transport == "udp":
		return 20
	}
	return 100
}

// stream reports whether the run has a TCP byte stream: tcp or tls.
func (c *Config) stream() bool {
	return slices.Contains(c.Transports, "tcp") || slices.Contains(c.Transports, "tls")
}

// checkTLS checks the TLS settings against the transports: an external
// server needs an address for each transport asked for, and the TLS flags
// need the tls transport (and, but for the spawned server's own
// certificate, an external one).
func (c *Config) checkTLS(transports map[string]bool) error {
	tl := transports["tls"]
	switch {
	case !tl && c.TLSServer != "":
		return configError("--tls-server %s: no tls in --transport %s", c.TLSServer, strings.Join(c.Transports, ","))
	case !tl && c.TLSCA != "":
		return configError("--tls-ca: no tls in --transport %s", strings.Join(c.Transports, ","))
	case !tl && c.TLSInsecure:
		return configError("--tls-insecure: no tls in --transport %s", strings.Join(c.Transports, ","))
	case c.TLSCA != "" && c.TLSInsecure:
		return configError("--tls-ca and --tls-insecure: verify with the CA, or do not verify; not both")
	case tl && c.external() && c.TLSServer == "":
		return configError("--transport tls with --server: add --tls-server HOST:PORT, the TLS address of that packetd (its -tls-addr); --server names its TCP and UDP")
	case tl && !c.external() && (c.TLSCA != "" || c.TLSInsecure):
		return configError("--tls-ca and --tls-insecure are for --tls-server: the spawned server's certificate comes from a CA packetbench makes for the run and trusts")
	}
	for _, t := range c.Transports {
		if t != "tls" && c.external() && c.Server == "" {
			return configError("--transport %s with --tls-server: add --server HOST:PORT, that packetd's TCP and UDP address", t)
		}
	}
	if tl && !c.external() {
		for _, f := range []string{"tls-addr", "tls-cert", "tls-key", "tls-client-ca"} {
			if hasFlag(c.Spawn.Flags, f) {
				return configError("--server-flag=-%s: packetbench gives the spawned server its TLS address and a certificate of its own for --transport tls", f)
			}
		}
	}
	return nil
}

// Run runs the scenario over each transport in turn and returns one
// Result per transport. It checks every transport's constraints first
// (descriptors, the server's limits for -s), so that nothing runs when
// one of them cannot. If ctx ends (Ctrl-C), the transport under way
// stops, reports what it measured so far, and Run returns the results
// with ctx's error. A run that finished but not as asked (clients the
// server disconnected, messages a fixed rate scheduled that were not
// sent) returns every result with an error wrapping ErrIncomplete. Other
// errors end the run; the results of the transports that finished come
// with them.
func Run(ctx context.Context, cfg Config) ([]Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := preflight(ctx, &cfg); err != nil {
		return nil, err
	}
	var out []Result
	var short []string
	for _, t := range cfg.Transports {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		res, why, err := runTransport(ctx, &cfg, t)
		if res != nil {
			out = append(out, *res)
		}
		if err != nil {
			return out, err
		}
		if why != "" {
			short = append(short, fmt.Sprintf("[%s] %s", t, why))
		}
	}
	if err := ctx.Err(); err != nil {
		return out, err
	}
	if len(short) > 0 {
		return out, fmt.Errorf("%w: %s", ErrIncomplete, strings.Join(short, "; "))
	}
	return out, nil
}

// ErrIncomplete is wrapped by Run's error when the run finished but not
// as asked: clients stopped before the end (an ERROR or BYE from the
// server, a failed write), a fixed rate's messages were not all sent, or
// the spawned server failed on its way out (it crashed, or did not stop).
// The results report what happened; the notes say more.
var ErrIncomplete = errors.New("bench: the run did not complete as asked")

// CheckLoopback refuses a target address (host:port) that is not on this
// machine: packetbench loads another machine only with --allow-remote.
func CheckLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return configError("%q: want host:port (%v)", addr, err)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if !ip.IsLoopback() {
			return configError("%s is not a loopback address: loading another machine needs --allow-remote", addr)
		}
		return nil
	}
	ips, err := net.LookupIP(host)
	if err != nil {
		return fmt.Errorf("bench: %s: %w", addr, err)
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return configError("%s resolves to %v, not a loopback address: loading another machine needs --allow-remote", addr, ip)
		}
	}
	return nil
}

// fdReserve is what a run needs beyond one descriptor per session:
// listeners, the spawned server's pipes, the runtime's own.
const fdReserve = 64

// checkFDs fails clearly if need file descriptors exceed the soft limit.
// (Go raises the soft limit to the hard one at startup.)
func checkFDs(need int) error {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return nil // cannot tell: let the dials fail
	}
	if uint64(need) > rl.Cur {
		return fmt.Errorf("%w: need %d file descriptors, limit is %d: lower -c, or raise the limit (ulimit -n %d; the hard limit is %d)",
			ErrConfig, need, rl.Cur, need, rl.Max)
	}
	return nil
}

// note writes one line to the notes writer.
func (c *Config) note(format string, args ...any) {
	if c.Notes != nil {
		fmt.Fprintf(c.Notes, "packetbench: "+format+"\n", args...)
	}
}

// target is the server of one transport's run.
type target struct {
	addr    string // host:port of the transport
	pid     int    // 0: unknown
	spawned *Spawned
	tmp     string      // a data directory to remove
	certDir string      // the spawned server's TLS certificate and key, to remove
	tls     *tls.Config // the clients' TLS ("tls" transport)
}

// startServer spawns a server for transport, or names the external one.
func startServer(ctx context.Context, c *Config, transport string) (*target, error) {
	if c.external() { // preflight checked it
		t := &target{addr: c.Server, pid: c.ServerPID}
		if transport == "tls" {
			t.addr = c.TLSServer
			var err error
			if t.tls, err = c.externalTLS(); err != nil {
				return nil, err
			}
		}
		return t, nil
	}
	sc := c.Spawn
	t := &target{}
	if transport == "tls" {
		dir, err := os.MkdirTemp("", "packetbench-tls-")
		if err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		t.certDir = dir
		p, err := throwawayPKI(dir, c.Warmup+c.Duration+time.Hour)
		if err == nil {
			t.tls, err = clientTLS("127.0.0.1:0", p.roots, false)
		}
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		sc.Flags = append(sc.Flags[:len(sc.Flags):len(sc.Flags)], "-tls-addr=127.0.0.1:0", "-tls-cert="+p.certFile, "-tls-key="+p.keyFile)
	}
	if c.Persist && !hasFlag(sc.Flags, "data-dir") {
		dir, err := os.MkdirTemp("", "packetbench-data-")
		if err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		t.tmp = dir
		sc.Flags = append(sc.Flags[:len(sc.Flags):len(sc.Flags)], "-data-dir="+dir)
	}
	if need := 2*c.sessions(transport) + fdReserve; !hasFlag(sc.Flags, "max-sessions") && need > 100_000 {
		sc.Flags = append(sc.Flags[:len(sc.Flags):len(sc.Flags)], fmt.Sprintf("-max-sessions=%d", need))
	}
	s, err := Spawn(ctx, sc)
	if err != nil {
		t.removeDirs()
		return nil, err
	}
	t.spawned, t.pid = s, s.PID
	switch transport {
	case "tcp":
		t.addr = s.TCP
	case "tls":
		t.addr = s.TLS
	case "udp":
		t.addr = s.UDP
	}
	if t.addr == "" {
		t.stop()
		return nil, fmt.Errorf("bench: the spawned server does not serve %s (a --server-flag turned it off?)", transport)
	}
	return t, nil
}

// hasFlag reports whether flags set the packetd flag name.
func hasFlag(flags []string, name string) bool {
	for _, f := range flags {
		f = strings.TrimLeft(f, "-")
		if f == name || strings.HasPrefix(f, name+"=") {
			return true
		}
	}
	return false
}

// stop stops a spawned server and returns its counters.
func (t *target) stop() (map[string]int64, error) {
	if t.spawned == nil {
		return nil, nil
	}
	stats, err := t.spawned.Stop()
	t.removeDirs()
	if err != nil {
		err = fmt.Errorf("the spawned server exited with %v%s", err, t.spawned.logTail())
	}
	return stats, err
}

// removeDirs removes the temporary directories of a spawned server.
func (t *target) removeDirs() {
	for _, d := range []string{t.tmp, t.certDir} {
		if d != "" {
			os.RemoveAll(d)
		}
	}
}

// externalTLS returns the clients' TLS configuration for --tls-server.
func (c *Config) externalTLS() (*tls.Config, error) {
	var roots *x509.CertPool
	if c.TLSCA != "" {
		var err error
		if roots, err = loadRoots(c.TLSCA); err != nil {
			return nil, err
		}
	}
	return clientTLS(c.TLSServer, roots, c.TLSInsecure)
}

// sessions returns how many sessions a run opens over one transport.
func (c *Config) sessions(transport string) int {
	switch c.Scenario {
	case ScenarioFanout:
		return c.Clients + c.Publishers
	case ScenarioIngest:
		return c.Clients + c.Sinks
	}
	return c.Clients
}

// impaired returns how many of a run's sessions go through the proxy.
func (c *Config) impaired() int {
	if !c.Impair.Active() {
		return 0
	}
	return c.Clients
}
