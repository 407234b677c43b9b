// Command packetbench load-tests a packetd server over TCP, UDP or both
// side by side, like iperf3 or nats bench: fan-out, round trips, ingest
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
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/packetd/packetd/bench"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the command; it returns the exit status: 0, 1 for a failed run,
// 2 for a bad command line.
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var err error
	switch {
	case len(args) > 0 && args[0] == "server":
		// Hidden: the child packetbench spawns (bench.Spawn).
		err = bench.RunServer(ctx, args[1:], os.Stdin, stderr)
	case len(args) > 0 && args[0] == "impair":
		err = runImpair(ctx, args[1:], stderr)
	case len(args) > 0 && args[0] == "help":
		err = help(args[1:], stdout)
	default:
		err = runScenario(ctx, args, stdout, stderr)
	}
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage), errors.Is(err, bench.ErrConfig):
		msg := err.Error()
		for _, p := range []string{"usage: ", "bench: ", "invalid configuration: "} {
			msg = strings.TrimPrefix(msg, p)
		}
		fmt.Fprintln(stderr, "packetbench:", msg)
		fmt.Fprintln(stderr, "Run 'packetbench --help' for usage.")
		return 2
	default:
		fmt.Fprintln(stderr, "packetbench:", strings.TrimPrefix(err.Error(), "bench: "))
		return 1
	}
}

func help(args []string, w io.Writer) error {
	if len(args) == 0 {
		_, err := io.WriteString(w, usageText)
		return err
	}
	text, ok := scenarioHelp[args[0]]
	if !ok {
		return usageError("no help for %q: try fanout, rtt, ingest, conns or impair", args[0])
	}
	_, err := io.WriteString(w, text+"\nAll flags: packetbench --help\n")
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
	fs.StringVar(&o.transports, "transport", "tcp", "tcp, udp or tcp,udp")
	fs.StringVar(&c.Server, "server", "", "a running packetd")
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
	if o.report != "" && !strings.HasSuffix(strings.ToLower(o.report), ".html") {
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
		fmt.Fprintln(stdout, "packetbench", version())
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
	interrupted := errors.Is(runErr, context.Canceled)
	if interrupted {
		fmt.Fprintln(stderr, "packetbench: interrupted; reporting what was measured")
		runErr = nil
	}
	if len(results) == 0 {
		return runErr
	}
	doc := bench.NewDocument(version(), append([]string{"packetbench"}, args...), start)
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
		if name == "" {
			return nil
		}
		if name == "-" {
			return fn(stdout)
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

// version is the module version, or "devel" plus the VCS revision.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	for _, s := range bi.Settings {
		switch {
		case s.Key == "vcs.revision" && len(s.Value) >= 12:
			v += "+" + s.Value[:12]
		case s.Key == "vcs.modified" && s.Value == "true":
			v += "-dirty"
		}
	}
	return v
}
