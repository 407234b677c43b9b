package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/packetd/packetd/bench"
)

// runReport is `packetbench report FILE.json`: a saved --json document
// rendered again, as the text table (stdout, or stderr when the CSV goes
// to stdout) and, if asked, as the files a
// run writes (--csv, --report) and the HTML report's two plots as SVG
// files of their own.
func runReport(args []string, stdout, stderr io.Writer) error {
	var o options
	var svgLatency, svgThroughput string
	fs := flag.NewFlagSet("packetbench report", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	register(fs, outputValue{&o.csv}, "CSV output", "csv")
	fs.StringVar(&o.report, "report", "", "HTML report file")
	fs.StringVar(&svgLatency, "svg-latency", "", "latency CDF plot")
	fs.StringVar(&svgThroughput, "svg-throughput", "", "throughput plot")
	var in string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				help([]string{"report"}, stdout)
			}
			return flagError(err)
		}
		if fs.NArg() == 0 {
			break
		}
		if in != "" {
			return usageError("report: one FILE.json, not %q too", fs.Arg(0))
		}
		in, rest = fs.Arg(0), fs.Args()[1:]
	}
	if in == "" {
		return usageError("report: which FILE.json? (a run's --json output)")
	}
	if o.report != "" && !isHTML(o.report) {
		return usageError("report: --report %s: the report is an HTML file, FILE.html", o.report)
	}
	doc, err := readDocument(in)
	if err != nil {
		return err
	}
	if err := writeOutputs(&o, doc, stdout, stderr); err != nil {
		return err
	}
	for _, f := range []struct {
		flag, name string
		write      func(io.Writer, []bench.Result) error
	}{
		{"--svg-latency", svgLatency, bench.WriteSVGCDF},
		{"--svg-throughput", svgThroughput, bench.WriteSVGThroughput},
	} {
		if f.name == "" {
			continue
		}
		if err := writeFile(f.name, func(w io.Writer) error { return f.write(w, doc.Results) }); err != nil {
			return fmt.Errorf("%s: %w", f.flag, err)
		}
	}
	return nil
}

// readDocument reads a --json document; one without results is refused.
func readDocument(name string) (*bench.Document, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	var doc bench.Document
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: not a packetbench --json document: %v", name, err)
	}
	if len(doc.Results) == 0 {
		return nil, fmt.Errorf("%s: no results: not a packetbench --json document?", name)
	}
	return &doc, nil
}
