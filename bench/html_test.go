package bench

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
)

// xmlElements parses data as XML (strict: every tag closed, every entity
// known) and counts its elements by name; it also checks that polyline
// points lie inside the chart.
func xmlElements(t *testing.T, data []byte) map[string]int {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	count := map[string]int{}
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed: %v\n%s", err, data)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		count[se.Name.Local]++
		for _, a := range se.Attr {
			if se.Name.Local == "polyline" && a.Name.Local == "points" {
				checkPoints(t, a.Value)
			}
		}
	}
	return count
}

func checkPoints(t *testing.T, points string) {
	t.Helper()
	for _, p := range strings.Fields(points) {
		xs, ys, ok := strings.Cut(p, ",")
		x, err1 := strconv.ParseFloat(xs, 64)
		y, err2 := strconv.ParseFloat(ys, 64)
		if !ok || err1 != nil || err2 != nil {
			t.Errorf("bad point %q", p)
			continue
		}
		if x < chartLeft || x > chartRight || y < chartTop || y > chartBottom {
			t.Errorf("point %q outside the plot area", p)
		}
	}
}

// checkOffline fails if out refers to anything outside itself.
func checkOffline(t *testing.T, out string) {
	t.Helper()
	for _, bad := range []string{"<script", "src=", "href=", "url(", "@import", "<link", "<iframe", "<img", "https:", "//"} {
		if strings.Contains(out, bad) {
			t.Errorf("output contains %q: not self-contained", bad)
		}
	}
}

func TestWriteHTML(t *testing.T) {
	t.Parallel()
	doc := measDocument(t)
	doc.Packetbench.Args = append(doc.Packetbench.Args, "--note=<script>alert(1)</script> & co")
	var buf bytes.Buffer
	if err := WriteHTML(&buf, doc); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.HasPrefix(out, "<!DOCTYPE html>") {
		t.Errorf("no doctype")
	}
	checkOffline(t, out)
	n := xmlElements(t, buf.Bytes())
	tests := []struct {
		element string
		want    int
	}{
		{"html", 1}, {"head", 1}, {"style", 1}, {"title", 1 + 2 + 4}, // page, charts, series
		{"table", 1}, {"svg", 2}, {"polyline", 4}, {"h2", 3},
	}
	for _, tt := range tests {
		if got := n[tt.element]; got != tt.want {
			t.Errorf("%d <%s> elements, want %d", got, tt.element, tt.want)
		}
	}
	if got, want := n["tr"], 1+len(summaryRows(doc.Results)); got != want {
		t.Errorf("%d table rows, want %d", got, want)
	}
	for _, want := range []string{"TCP", "UDP", "latency p99.9", "12 (0.667 %)", "loss 2%", "v0.1.0-test",
		"&lt;script&gt;alert(1)&lt;/script&gt; &amp; co", "one-way latency (log scale)", "received msg/s"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

func TestWriteSVG(t *testing.T) {
	t.Parallel()
	doc := measDocument(t)
	rtt := measRun(t, "tcp", 1, 1, 50)
	rtt.Scenario = "rtt"
	tests := []struct {
		name         string
		write        func(io.Writer, []Result) error
		results      []Result
		wantPolyline int
		wantText     []string
	}{
		{"cdf", WriteSVGCDF, doc.Results, 2, []string{"TCP  p50", "UDP  p50", "99 %", "100 us", "1 ms", "one-way latency"}},
		{"cdf rtt", WriteSVGCDF, []Result{rtt}, 1, []string{"round-trip latency"}},
		{"cdf two of a transport", WriteSVGCDF, []Result{doc.Results[0], doc.Results[0]}, 2, []string{"TCP #1", "TCP #2"}},
		{"cdf empty", WriteSVGCDF, []Result{{Transport: "tcp"}}, 0, []string{"no latency samples"}},
		{"cdf none", WriteSVGCDF, nil, 0, []string{"no latency samples"}},
		{"throughput", WriteSVGThroughput, doc.Results, 2, []string{"TCP  600 msg/s", "time (s)", "received msg/s"}},
		{"throughput empty", WriteSVGThroughput, []Result{{Transport: "udp"}}, 0, []string{"no interval data"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			if err := tt.write(&buf, tt.results); err != nil {
				t.Fatal(err)
			}
			out := buf.String()
			if !strings.HasPrefix(out, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<svg xmlns="http://www.w3.org/2000/svg"`) {
				t.Errorf("not a standalone SVG file: %.80q", out)
			}
			checkOffline(t, strings.Replace(out, `xmlns="http://www.w3.org/2000/svg"`, "", 1))
			n := xmlElements(t, buf.Bytes())
			if n["svg"] != 1 || n["polyline"] != tt.wantPolyline {
				t.Errorf("%d <svg>, %d <polyline>, want 1 and %d", n["svg"], n["polyline"], tt.wantPolyline)
			}
			for _, s := range tt.wantText {
				if !strings.Contains(out, s) {
					t.Errorf("no %q in the chart", s)
				}
			}
		})
	}
}

func TestNiceStep(t *testing.T) {
	t.Parallel()
	tests := []struct {
		span float64
		n    int
		want float64
	}{
		{600, 5, 200}, {1, 5, 0.2}, {3, 8, 0.5}, {1e6, 5, 200000}, {0, 5, 1}, {7, 5, 2}, {9.5, 1, 10},
	}
	for _, tt := range tests {
		if got := niceStep(tt.span, tt.n); got != tt.want {
			t.Errorf("niceStep(%v, %d) = %v, want %v", tt.span, tt.n, got, tt.want)
		}
	}
}
