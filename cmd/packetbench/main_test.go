package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/packetd/packetd/bench"
)

// TestMain lets the test binary be the server child that packetbench
// spawns: it re-executes itself as "<binary> server ...".
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "server" {
		os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// packetbench runs the command and returns its exit status and output.
func packetbench(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestHelp(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"--help"}, []string{"Usage:", "Examples:", "packetbench fanout -c 100", "--loss P", "--server-flag"}},
		{[]string{"-h"}, []string{"Scenarios:"}},
		{[]string{"fanout", "--help"}, []string{"packetbench fanout:", "Examples:", "All flags: packetbench --help"}},
		{[]string{"help", "rtt"}, []string{"round trip", "-r 10k"}},
		{[]string{"help", "conns"}, []string{"memory"}},
		{[]string{"impair", "--help"}, []string{"--listen"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := packetbench(t, tt.args...)
			if code != 0 {
				t.Fatalf("got exit %d, want 0; stderr: %s", code, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stdout+stderr, w) {
					t.Errorf("output lacks %q", w)
				}
			}
		})
	}
}

func TestBadCommandLines(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "no scenario"},
		{[]string{"flood"}, `unknown scenario "flood"`},
		{[]string{"fanout", "extra"}, `unexpected argument "extra"`},
		{[]string{"fanout", "-s", "10"}, "-s 10: a payload is at least 24 bytes"},
		{[]string{"fanout", "-c", "many"}, `invalid value "many" for flag -c`},
		{[]string{"fanout", "-t", "soon"}, "is not a duration"},
		{[]string{"fanout", "--loss", "150%"}, "is not a percentage"},
		{[]string{"fanout", "--loss", "5"}, "give a percentage (5%) or a fraction"},
		{[]string{"fanout", "--rate", "10"}, "give a rate with a unit"},
		{[]string{"fanout", "--transport", "quic"}, `transport "quic"`},
		{[]string{"fanout", "--qos", "2"}, "--qos 2"},
		{[]string{"fanout", "--server", "192.0.2.1:7070"}, "not a loopback address"},
		{[]string{"fanout", "--report", "r.txt"}, "FILE.html"},
		{[]string{"fanout", "--json", "--csv"}, "cannot both write to standard output"},
		{[]string{"fanout", "--nagle", "--transport", "udp"}, "--nagle: no TCP"},
		{[]string{"conns", "--nagle"}, "conns sends no messages"},
		{[]string{"rtt", "--tls-ca", "ca.pem"}, "--tls-ca: no tls in --transport tcp"},
		{[]string{"rtt", "--tls-insecure", "--transport", "tcp,udp"}, "--tls-insecure: no tls"},
		{[]string{"rtt", "--transport", "tls", "--server", "127.0.0.1:7070"}, "add --tls-server"},
		{[]string{"rtt", "--transport", "tcp,tls", "--tls-server", "127.0.0.1:7443"}, "--transport tcp with --tls-server: add --server"},
		{[]string{"rtt", "--transport", "tls", "--tls-server", "127.0.0.1:7443", "--tls-ca", "ca.pem", "--tls-insecure"}, "not both"},
		{[]string{"rtt", "--transport", "tls", "--tls-ca", "ca.pem"}, "are for --tls-server"},
		{[]string{"fanout", "--transport", "tcp,tls,tls"}, "transport tls given twice"},
		{[]string{"fanout", "--transport", "tcp,dtls"}, `transport "dtls"`},
		{[]string{"impair", "--target", "192.0.2.1:7070"}, "not a loopback address"},
		{[]string{"impair", "--loss", "2"}, "give a percentage"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, stderr := packetbench(t, tt.args...)
			if code != 2 {
				t.Errorf("got exit %d, want 2", code)
			}
			help := "packetbench --help"
			if len(tt.args) > 0 && tt.args[0] == "impair" {
				help = "packetbench help impair"
			}
			if !strings.Contains(stderr, tt.want) || !strings.Contains(stderr, help) {
				t.Errorf("got stderr %q, want %q and a pointer to %s", stderr, tt.want, help)
			}
		})
	}
}

// TestFlagsDocumented checks that --help lists every scenario flag, under
// one of its names.
func TestFlagsDocumented(t *testing.T) {
	fs := newFlagSet(&options{}, nil)
	byValue := map[flag.Value][]string{}
	var order []flag.Value
	fs.VisitAll(func(f *flag.Flag) {
		if _, ok := byValue[f.Value]; !ok {
			order = append(order, f.Value)
		}
		byValue[f.Value] = append(byValue[f.Value], f.Name)
	})
	for _, v := range order {
		names := byValue[v]
		found := false
		for _, n := range names {
			dash := "--"
			if len(n) == 1 {
				dash = "-"
			}
			if strings.Contains(usageText, "  "+dash+n+" ") || strings.Contains(usageText, ", "+dash+n+" ") || strings.Contains(usageText, "  "+dash+n+"\n") {
				found = true
			}
		}
		if !found {
			t.Errorf("flag %v is not in --help", names)
		}
	}
}

func TestUnreachableServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	for _, tr := range []string{"tcp", "udp"} {
		code, _, stderr := packetbench(t, "rtt", "--server", addr, "--transport", tr)
		if want := "no packetd at " + tr + " " + addr; code != 1 || !strings.Contains(stderr, want) {
			t.Errorf("%s: got exit %d, stderr %q, want 1 and %q", tr, code, stderr, want)
		}
	}
	code, _, stderr := packetbench(t, "rtt", "--transport", "tls", "--tls-server", addr)
	if want := "no packetd at tls " + addr; code != 1 || !strings.Contains(stderr, want) {
		t.Errorf("tls: got exit %d, stderr %q, want 1 and %q", code, stderr, want)
	}
}

// TestRunOutputs runs a small fan-out against a spawned server (this
// binary) and checks each output.
func TestRunOutputs(t *testing.T) {
	dir := t.TempDir()
	jsonFile := filepath.Join(dir, "out.json")
	html := filepath.Join(dir, "report.html")
	csv := filepath.Join(dir, "out.csv")
	code, stdout, stderr := packetbench(t, "fanout", "-c", "3", "-n", "50", "-r", "500", "-i", "100ms",
		"--transport", "tcp,udp", "-J", jsonFile, "--csv", csv, "--report", html)
	if code != 0 {
		t.Fatalf("got exit %d; stderr: %s", code, stderr)
	}
	stdout0 := stdout
	for _, w := range []string{"TCP", "UDP", "received msgs", "150"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("table lacks %q:\n%s", w, stdout)
		}
	}
	if !strings.Contains(stderr, "[tcp]") || !strings.Contains(stderr, "[udp]") {
		t.Errorf("no progress lines on stderr:\n%s", stderr)
	}
	b, err := os.ReadFile(jsonFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc bench.Document
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("--json: %v", err)
	}
	if len(doc.Results) != 2 || doc.Results[1].Received.Packets != 150 || !slices.Contains(doc.Packetbench.Args, "fanout") {
		t.Errorf("got document %+v, want 2 results, the UDP one with 150 deliveries, and the args", doc)
	}
	if b, _ := os.ReadFile(html); !bytes.Contains(b, []byte("<svg")) {
		t.Errorf("--report: no SVG in %s", html)
	}
	if b, _ := os.ReadFile(csv); bytes.Count(b, []byte("\n")) != 3 {
		t.Errorf("--csv: got %q, want a header and 2 rows", b)
	}

	// --json alone: the document on stdout, the table on stderr.
	code, stdout, stderr = packetbench(t, "rtt", "-n", "20", "-r", "200", "-q", "--json")
	if code != 0 {
		t.Fatalf("got exit %d; stderr: %s", code, stderr)
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Errorf("--json on stdout: %v", err)
	}
	if !strings.Contains(stderr, "latency p50") {
		t.Errorf("the table is not on stderr: %q", stderr)
	}

	// report renders the saved fan-out again: the same table, the files.
	html2, cdf, tput := filepath.Join(dir, "again.html"), filepath.Join(dir, "cdf.svg"), filepath.Join(dir, "tput.svg")
	code, again, stderr := packetbench(t, "report", jsonFile, "--report", html2, "--svg-latency", cdf, "--svg-throughput", tput)
	if code != 0 {
		t.Fatalf("report: got exit %d; stderr: %s", code, stderr)
	}
	if again != stdout0 {
		t.Errorf("report: got table\n%s\nwant the run's\n%s", again, stdout0)
	}
	for _, f := range []string{html2, cdf, tput} {
		if b, _ := os.ReadFile(f); !bytes.Contains(b, []byte("<svg")) {
			t.Errorf("report: no SVG in %s", f)
		}
	}
	code, _, stderr = packetbench(t, "report", csv)
	if want := "not a packetbench --json document"; code != 1 || !strings.Contains(stderr, want) {
		t.Errorf("report of a CSV: got exit %d, stderr %q, want 1 and %q", code, stderr, want)
	}
}

func TestFixOptional(t *testing.T) {
	words := map[string]bool{"fanout": true}
	tests := []struct{ in, want []string }{
		{[]string{"--json", "out.json", "fanout"}, []string{"--json=out.json", "fanout"}},
		{[]string{"-J", "fanout"}, []string{"-J", "fanout"}},
		{[]string{"fanout", "-J"}, []string{"fanout", "-J"}},
		{[]string{"fanout", "--csv", "-q"}, []string{"fanout", "--csv", "-q"}},
		{[]string{"fanout", "--csv", "x.csv", "-q"}, []string{"fanout", "--csv=x.csv", "-q"}},
	}
	for _, tt := range tests {
		if got := fixOptional(tt.in, words); !slices.Equal(got, tt.want) {
			t.Errorf("fixOptional(%q): got %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestFlagValues(t *testing.T) {
	var n int64
	var f float64
	var d time.Duration
	var p float64
	var bw int
	tests := []struct {
		v    interface{ Set(string) error }
		in   string
		ok   bool
		want func() bool
	}{
		{countValue{&n}, "100k", true, func() bool { return n == 100_000 }},
		{countValue{&n}, "2M", true, func() bool { return n == 2_000_000 }},
		{countValue{&n}, "1.5", false, nil},
		{rateValue{&f}, "10k", true, func() bool { return f == 10_000 }},
		{rateValue{&f}, "2.5", true, func() bool { return f == 2.5 }},
		{durationValue{&d}, "30", true, func() bool { return d == 30*time.Second }},
		{durationValue{&d}, "250ms", true, func() bool { return d == 250*time.Millisecond }},
		{percentValue{&p}, "5%", true, func() bool { return p == 0.05 }},
		{percentValue{&p}, "0.2", true, func() bool { return p == 0.2 }},
		{percentValue{&p}, "20", false, nil},
		{bandwidthValue{&bw}, "10mbit", true, func() bool { return bw == 1_250_000 }},
		{bandwidthValue{&bw}, "1gbit", true, func() bool { return bw == 125_000_000 }},
		{bandwidthValue{&bw}, "100kbps", true, func() bool { return bw == 100_000 }},
		{bandwidthValue{&bw}, "fast", false, nil},
	}
	for _, tt := range tests {
		err := tt.v.Set(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("%T.Set(%q): got error %v, want ok %v", tt.v, tt.in, err, tt.ok)
			continue
		}
		if tt.ok && !tt.want() {
			t.Errorf("%T.Set(%q): wrong value", tt.v, tt.in)
		}
	}
}
