package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/packetd/packetd/bench"
	"github.com/packetd/packetd/bench/impair"
)

// runImpair is `packetbench impair`: the proxies on their own, until ctx
// ends, with a line of counters every interval. Help goes to stdout.
func runImpair(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var (
		im          bench.Impairment
		listen      string
		target      string
		transports  string
		seed        int64
		interval    = time.Second
		allowRemote bool
		maxFlows    = impair.DefaultMaxFlows
	)
	fs := flag.NewFlagSet("packetbench impair", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.StringVar(&listen, "listen", "127.0.0.1:7171", "address clients connect to (TCP and UDP)")
	fs.StringVar(&target, "target", "127.0.0.1:7070", "the server")
	fs.StringVar(&transports, "transport", "tcp,udp", "tcp, udp or tcp,udp")
	register(fs, percentValue{&im.Loss}, "loss", "loss")
	register(fs, percentValue{&im.Duplicate}, "duplication", "duplicate")
	register(fs, percentValue{&im.Reorder}, "reordering", "reorder")
	register(fs, durationValue{&im.Delay}, "delay", "delay")
	register(fs, durationValue{&im.Jitter}, "jitter", "jitter")
	register(fs, bandwidthValue{&im.Rate}, "bandwidth", "rate")
	fs.Int64Var(&seed, "seed", 1, "random seed")
	register(fs, durationValue{&interval}, "report interval", "i", "interval")
	fs.BoolVar(&allowRemote, "allow-remote", false, "allow a target that is not on this machine")
	register(fs, intValue{&maxFlows}, "flows and connections", "max-flows")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			help([]string{"impair"}, stdout)
		}
		return flagError(err)
	}
	if fs.NArg() > 0 {
		return usageError("impair: unexpected argument %q", fs.Arg(0))
	}
	if interval < 10*time.Millisecond {
		return usageError("impair: -i %v: at least 10ms", interval)
	}
	if maxFlows < 1 {
		return usageError("impair: --max-flows %d: at least 1", maxFlows)
	}
	if !allowRemote {
		if err := bench.CheckLoopback(target); err != nil {
			return err
		}
	}
	list := strings.Split(transports, ",")
	for _, t := range list {
		if t != "tcp" && t != "udp" {
			return usageError("impair: --transport %q: tcp, udp or tcp,udp", t)
		}
	}
	var udp *impair.UDP
	var tcp *impair.TCP
	for _, t := range list {
		var err error
		switch t {
		case "udp":
			o := im.UDPOptions(seed, maxFlows)
			o.MaxFlows = maxFlows
			udp, err = impair.NewUDP(listen, target, o)
		case "tcp":
			o := im.TCPOptions(seed, maxFlows)
			o.MaxConns = maxFlows
			tcp, err = impair.NewTCP(listen, target, o)
		}
		if err != nil {
			if udp != nil {
				udp.Close()
			}
			if errors.Is(err, impair.ErrConfig) {
				return usageError("%v", err)
			}
			return err
		}
	}
	if udp != nil {
		defer udp.Close()
		fmt.Fprintf(stderr, "packetbench impair: UDP %s -> %s: %s\n", udp.Addr(), target, describe(im, false))
	}
	var kernel *impair.KernelLoss
	if tcp != nil {
		defer tcp.Close()
		if im.Loss > 0 {
			var err error
			if kernel, err = newKernelLoss(tcp, im.Loss); err != nil {
				return err
			}
			defer kernel.Close()
		}
		fmt.Fprintf(stderr, "packetbench impair: TCP %s -> %s: %s\n", tcp.Addr(), target, describe(im, true))
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	start := time.Now()
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(stderr, "packetbench impair: stopped; totals:")
			report(stderr, time.Since(start), udp, tcp, kernel)
			return nil
		case <-tick.C:
			report(stderr, time.Since(start), udp, tcp, kernel)
		}
	}
}

// newKernelLoss drops TCP packets to and from the proxy's port in the
// kernel: the client side of its connections loses, TCP recovers.
func newKernelLoss(tcp *impair.TCP, loss float64) (*impair.KernelLoss, error) {
	if loss >= 1 {
		return nil, usageError("impair: --loss 100%%: a TCP connection cannot be opened through a path that loses everything; use --transport udp")
	}
	k, err := impair.NewKernelLoss(uint16(tcp.Addr().Port), loss)
	if err != nil {
		return nil, fmt.Errorf("--loss over TCP: %w", err)
	}
	return k, nil
}

// describe says what a proxy does.
func describe(im bench.Impairment, tcp bool) string {
	if tcp {
		im = im.ForTCP()
	}
	if !im.Active() {
		return "clean (no impairment)"
	}
	var p []string
	add := func(name string, v float64) {
		if v > 0 {
			p = append(p, fmt.Sprintf("%s %g%%", name, 100*v))
		}
	}
	add("loss", im.Loss)
	add("duplicate", im.Duplicate)
	add("reorder", im.Reorder)
	if im.Delay > 0 {
		p = append(p, "delay "+im.Delay.String())
	}
	if im.Jitter > 0 {
		p = append(p, "jitter "+im.Jitter.String())
	}
	if im.Rate > 0 {
		p = append(p, fmt.Sprintf("rate %g Mbit/s", float64(im.Rate)*8/1e6))
	}
	return strings.Join(p, ", ") + ", each direction"
}

// report prints the proxies' counters.
func report(w io.Writer, since time.Duration, udp *impair.UDP, tcp *impair.TCP, kernel *impair.KernelLoss) {
	at := fmt.Sprintf("%7.2f s", since.Seconds())
	if udp != nil {
		s := udp.Stats()
		for _, d := range []struct {
			name string
			st   impair.DirStats
		}{{"up  ", s.Up}, {"down", s.Down}} {
			fmt.Fprintf(w, "[udp %s] %s  received %d  sent %d  lost %d  duplicated %d  reordered %d  queue drops %d  flows %d  refused %d\n",
				d.name, at, d.st.Received, d.st.Sent, d.st.Lost, d.st.Duplicated, d.st.Reordered, d.st.QueueDrops, s.Flows, s.Refused)
		}
	}
	if tcp != nil {
		s := tcp.Stats()
		for _, d := range []struct {
			name string
			st   impair.TCPDirStats
		}{{"up  ", s.Up}, {"down", s.Down}} {
			fmt.Fprintf(w, "[tcp %s] %s  received %d B  sent %d B  queued %d B  stalls %d  conns %d  refused %d\n",
				d.name, at, d.st.Received, d.st.Sent, d.st.Queued, d.st.Stalls, s.Conns, s.Refused)
		}
	}
	if kernel != nil {
		if st, err := kernel.Stats(); err != nil {
			fmt.Fprintf(w, "[tcp loss] %s  %v\n", at, err)
		} else {
			fmt.Fprintf(w, "[tcp loss] %s  packets %d  dropped %d (both ways, in the kernel: nftables table %s)\n", at, st.Seen, st.Dropped, kernel.Table())
		}
	}
}
