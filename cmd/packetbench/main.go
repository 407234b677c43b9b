// Command packetbench load-tests a packetd server over TCP, TLS, UDP or
// all of them side by side, like iperf3 or nats bench: fan-out, round trips, ingest
// from many devices, and idle sessions, with an impairment proxy built in.
// Run `packetbench --help`; docs/PACKETBENCH.md is the guide.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/packetd/packetd/bench"
	"github.com/packetd/packetd/internal/buildinfo"
)

func main() {
	ctx, stop := notifyContext()
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// Exit statuses (packetbench --help lists them).
const (
	exitOK         = 0
	exitFailed     = 1 // the run failed, or did not complete as asked
	exitUsage      = 2 // a bad command line or configuration
	exitSignalBase = 128
)

// interrupt is the cause of the context's end when a signal stopped the
// run: the exit status is 128 plus the signal's number, as a shell's.
type interrupt struct{ sig syscall.Signal }

func (i interrupt) Error() string { return unix.SignalName(i.sig) }

// notifyContext returns a context that SIGINT or SIGTERM ends, with the
// signal as its cause.
func notifyContext() (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			cancel(interrupt{s.(syscall.Signal)})
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		close(done)
		cancel(nil)
	}
}

// run is the command; it returns the exit status: 0; 1 for a run that
// failed or did not complete as asked; 2 for a bad command line; 130
// (SIGINT) or 143 (SIGTERM) for a run a signal stopped, once it has
// reported.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var err error
	switch {
	case len(args) > 0 && args[0] == "server":
		// Hidden: the child packetbench spawns (bench.Spawn).
		err = bench.RunServer(ctx, args[1:], os.Stdin, stderr)
	case len(args) > 0 && args[0] == "impair":
		err = runImpair(ctx, args[1:], stdout, stderr)
	case len(args) > 0 && args[0] == "report":
		err = runReport(fixOptional(args[1:], nil), stdout, stderr)
	case len(args) > 0 && args[0] == "help":
		err = help(args[1:], stdout)
	default:
		err = runScenario(ctx, args, stdout, stderr)
	}
	var sig interrupt
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &sig):
		return exitSignalBase + int(sig.sig)
	case errors.Is(err, errUsage), errors.Is(err, bench.ErrConfig):
		msg := bench.ErrorText(err)
		for _, p := range []string{"usage: ", "invalid configuration: "} {
			msg = strings.TrimPrefix(msg, p)
		}
		fmt.Fprintln(stderr, "packetbench:", msg)
		if len(args) > 0 && (args[0] == "impair" || args[0] == "report") {
			fmt.Fprintf(stderr, "Run 'packetbench help %s' for usage.\n", args[0])
		} else {
			fmt.Fprintln(stderr, "Run 'packetbench --help' for usage.")
		}
		return exitUsage
	default:
		fmt.Fprintln(stderr, "packetbench:", bench.ErrorText(err))
		return exitFailed
	}
}

func help(args []string, w io.Writer) error {
	if len(args) == 0 {
		_, err := io.WriteString(w, usageText)
		return err
	}
	text, ok := scenarioHelp[args[0]]
	if !ok {
		return usageError("no help for %q: try fanout, rtt, ingest, conns, impair or report", args[0])
	}
	if args[0] != "impair" && args[0] != "report" { // they list their flags
		text += "\nAll flags: packetbench --help\n"
	}
	_, err := io.WriteString(w, text)
	return err
}

// options is the command line of a scenario run.
type options struct {
	cfg        bench.Config
	transports string
	serverFlag []string
	json, csv  string // "-" is standard output
	report     string
	quiet      bool
	version    bool
	cpuProfile string
}

// newFlagSet defines the scenario flags on o.
func newFlagSet(o *options, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("packetbench", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned, help printed by parse
	fs.Usage = func() {}
	c := &o.cfg
	register(fs, intValue{&c.Clients}, "clients", "c", "clients")
	register(fs, intValue{&c.Publishers}, "fanout publishers", "p", "publishers")
	register(fs, intValue{&c.Sinks}, "ingest subscribers", "sinks")
	register(fs, countValue{&c.Messages}, "messages per sender", "n", "messages")
	register(fs, durationValue{&c.Duration}, "measured time", "t", "time")
	register(fs, intValue{&c.Size}, "payload bytes", "s", "size")
	register(fs, rateValue{&c.Rate}, "messages/s per sender", "r")
	register(fs, durationValue{&c.Interval}, "progress interval", "i", "interval")
	register(fs, durationValue{&c.Warmup}, "warm-up time", "warmup")
	fs.IntVar(&c.QoS, "qos", 0, "0 or 1")
	register(fs, intValue{&c.Window}, "QoS 1 window", "window")
	fs.BoolVar(&c.Persist, "persist", false, "persistent receivers")
	fs.BoolVar(&c.UDPGRO, "udp-gro", false, "UDP receivers coalesce the server's GSO runs")
	fs.BoolVar(&c.Nagle, "nagle", false, "Nagle's algorithm on in the clients' TCP sockets")
	fs.StringVar(&o.transports, "transport", "tcp", "tcp, tls, udp or a list: tcp,tls,udp")
	fs.StringVar(&c.Server, "server", "", "a running packetd")
	fs.StringVar(&c.TLSServer, "tls-server", "", "the running packetd's TLS address")
	fs.StringVar(&c.TLSCA, "tls-ca", "", "CA file that verifies --tls-server")
	fs.BoolVar(&c.TLSInsecure, "tls-insecure", false, "do not verify --tls-server's certificate")
	fs.IntVar(&c.ServerPID, "server-pid", 0, "its pid")
	register(fs, listValue{&o.serverFlag}, "a packetd flag for the spawned server", "server-flag")
	fs.BoolVar(&c.AllowRemote, "allow-remote", false, "allow a remote server")
	register(fs, percentValue{&c.Impair.Loss}, "loss", "loss")
	register(fs, percentValue{&c.Impair.Duplicate}, "duplication", "duplicate")
	register(fs, percentValue{&c.Impair.Reorder}, "reordering", "reorder")
	register(fs, durationValue{&c.Impair.Delay}, "delay", "delay")
	register(fs, durationValue{&c.Impair.Jitter}, "jitter", "jitter")
	register(fs, bandwidthValue{&c.Impair.Rate}, "bandwidth", "rate")
	fs.Int64Var(&c.Seed, "seed", 0, "impairment seed")
	register(fs, outputValue{&o.json}, "JSON output", "J", "json")
	register(fs, outputValue{&o.csv}, "CSV output", "csv")
	fs.StringVar(&o.report, "report", "", "HTML report file")
	fs.BoolVar(&o.quiet, "q", false, "no progress lines")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress lines")
	fs.BoolVar(&o.version, "version", false, "print the version")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write packetbench's own CPU profile to this file")
	return fs
}

// parse reads a scenario command line: flags before and after the
// scenario name. Help goes to out.
func parse(args []string, out io.Writer) (*options, error) {
	o := &options{}
	fs := newFlagSet(o, out)
	words := map[string]bool{}
	for _, s := range bench.Scenarios {
		words[s] = true
	}
	args = fixOptional(args, words)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			io.WriteString(out, usageText)
		}
		return nil, flagError(err)
	}
	if fs.NArg() > 0 {
		o.cfg.Scenario = fs.Arg(0)
		if !words[o.cfg.Scenario] {
			return nil, usageError("unknown scenario %q: choose fanout, rtt, ingest or conns", o.cfg.Scenario)
		}
		rest := fs.Args()[1:]
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				help([]string{o.cfg.Scenario}, out)
			}
			return nil, flagError(err)
		}
		if fs.NArg() > 0 {
			return nil, usageError("unexpected argument %q after the scenario", fs.Arg(0))
		}
	}
	if o.version {
		return o, nil
	}
	if o.cfg.Scenario == "" {
		return nil, usageError("no scenario: choose fanout, rtt, ingest or conns")
	}
	o.cfg.Transports = strings.Split(o.transports, ",")
	o.cfg.Spawn.Flags = o.serverFlag
	if o.report != "" && !isHTML(o.report) {
		return nil, usageError("--report %s: the report is an HTML file, FILE.html", o.report)
	}
	if o.json == "-" && o.csv == "-" {
		return nil, usageError("--json and --csv cannot both write to standard output: give one a FILE")
	}
	if err := o.cfg.Validate(); err != nil {
		return nil, err
	}
	return o, nil
}

// flagError turns the flag package's error into a usage error.
func flagError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return usageError("%v", err)
}

func runScenario(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parse(args, stdout)
	if err != nil {
		return err
	}
	if o.version {
		fmt.Fprintln(stdout, "packetbench", buildinfo.Version())
		return nil
	}
	if !o.quiet {
		o.cfg.Progress = stderr
	}
	o.cfg.Notes = stderr
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	results, runErr := bench.Run(ctx, o.cfg)
	if errors.Is(runErr, context.Canceled) {
		var sig interrupt
		if !errors.As(context.Cause(ctx), &sig) {
			sig = interrupt{syscall.SIGINT}
		}
		fmt.Fprintf(stderr, "packetbench: interrupted by %v; reporting what was measured\n", sig)
		runErr = sig
	}
	if len(results) == 0 {
		return runErr
	}
	doc := bench.NewDocument(buildinfo.Version(), append([]string{"packetbench"}, args...), start)
	doc.Results = results
	if err := writeOutputs(o, doc, stdout, stderr); err != nil {
		return err
	}
	return runErr
}

// writeOutputs writes the table and the files the options ask for. The
// table goes to stdout, or to stderr when JSON or CSV go to stdout.
func writeOutputs(o *options, doc *bench.Document, stdout, stderr io.Writer) error {
	table := stdout
	if o.json == "-" || o.csv == "-" {
		table = stderr
	}
	if err := bench.WriteText(table, doc.Results); err != nil {
		return err
	}
	write := func(name string, fn func(w io.Writer) error) error {
		if name == "-" {
			return fn(stdout)
		}
		return writeFile(name, fn)
	}
	if err := write(o.json, func(w io.Writer) error { return bench.WriteJSON(w, doc) }); err != nil {
		return fmt.Errorf("--json: %w", err)
	}
	if err := write(o.csv, func(w io.Writer) error { return bench.WriteCSV(w, doc.Results) }); err != nil {
		return fmt.Errorf("--csv: %w", err)
	}
	if err := write(o.report, func(w io.Writer) error { return bench.WriteHTML(w, doc) }); err != nil {
		return fmt.Errorf("--report: %w", err)
	}
	return nil
}

// writeFile creates the file name (nothing if name is empty) and writes
// it with fn.
func writeFile(name string, fn func(w io.Writer) error) error {
	if name == "" {
		return nil
	}
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if err := fn(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// isHTML reports whether name is an HTML file's.
func isHTML(name string) bool { return strings.HasSuffix(strings.ToLower(name), ".html") }
