package bench

import (
	"bytes"
	"fmt"
	"html"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// The HTML report and its charts are self-contained: inline CSS and SVG,
// no script, no external resource, and well-formed XML throughout (so that
// the SVG can be cut out as a file, and a test can parse the page).

// Chart geometry, in SVG user units.
const (
	chartW      = 720.0
	chartH      = 400.0
	chartLeft   = 70.0
	chartRight  = chartW - 20
	chartTop    = 20.0
	chartBottom = chartH - 55
)

// palette colors the series; TCP, UDP and TLS keep theirs whatever the
// order.
var palette = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"}

func seriesColor(results []Result, i int) string {
	switch results[i].Transport {
	case "tcp":
		return palette[0]
	case "udp":
		return palette[1]
	case "tls":
		return palette[2]
	}
	return palette[3+i%(len(palette)-3)]
}

// seriesLabel names result i: its transport, numbered when several results
// share one.
func seriesLabel(results []Result, i int) string {
	name := strings.ToUpper(results[i].Transport)
	n, k := 0, 0
	for j := range results {
		if results[j].Transport == results[i].Transport {
			n++
			if j < i {
				k++
			}
		}
	}
	if n > 1 {
		name += " #" + strconv.Itoa(k+1)
	}
	return name
}

var esc = html.EscapeString

// num formats an SVG coordinate.
func num(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// svgOpen starts an SVG element; standalone adds the namespace a .svg file
// needs (inline SVG in HTML does without).
func svgOpen(b *bytes.Buffer, standalone bool, title string) {
	if standalone {
		b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
		b.WriteString(`<svg xmlns="http://www.w3.org/2000/svg"`)
	} else {
		b.WriteString(`<svg`)
	}
	fmt.Fprintf(b, ` width="%s" height="%s" viewBox="0 0 %s %s" role="img" font-family="sans-serif" font-size="12">`,
		num(chartW), num(chartH), num(chartW), num(chartH))
	fmt.Fprintf(b, "\n<title>%s</title>\n", esc(title))
	fmt.Fprintf(b, `<rect x="0" y="0" width="%s" height="%s" fill="#fff"/>`+"\n", num(chartW), num(chartH))
}

func svgText(b *bytes.Buffer, x, y float64, anchor, text string) {
	fmt.Fprintf(b, `<text x="%s" y="%s" text-anchor="%s">%s</text>`+"\n", num(x), num(y), anchor, esc(text))
}

func svgLine(b *bytes.Buffer, x1, y1, x2, y2 float64, stroke, extra string) {
	fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s"%s/>`+"\n", num(x1), num(y1), num(x2), num(y2), stroke, extra)
}

// svgFrame draws the plot area's border and the axis titles.
func svgFrame(b *bytes.Buffer, xTitle, yTitle string) {
	fmt.Fprintf(b, `<rect x="%s" y="%s" width="%s" height="%s" fill="none" stroke="#444"/>`+"\n",
		num(chartLeft), num(chartTop), num(chartRight-chartLeft), num(chartBottom-chartTop))
	svgText(b, (chartLeft+chartRight)/2, chartH-12, "middle", xTitle)
	fmt.Fprintf(b, `<text x="16" y="%s" text-anchor="middle" transform="rotate(-90 16 %s)">%s</text>`+"\n",
		num((chartTop+chartBottom)/2), num((chartTop+chartBottom)/2), esc(yTitle))
}

func svgEmpty(b *bytes.Buffer, msg string) {
	svgText(b, (chartLeft+chartRight)/2, (chartTop+chartBottom)/2, "middle", msg)
}

// legendEntry is one line of a chart's legend.
type legendEntry struct{ color, text string }

func svgLegend(b *bytes.Buffer, x, y float64, entries []legendEntry) {
	if len(entries) == 0 {
		return
	}
	wide := 0
	for _, e := range entries {
		wide = max(wide, len(e.text))
	}
	fmt.Fprintf(b, `<rect x="%s" y="%s" width="%s" height="%s" fill="#fff" fill-opacity="0.85" stroke="#bbb"/>`+"\n",
		num(x), num(y), num(float64(wide)*7+44), num(float64(len(entries))*18+8))
	for i, e := range entries {
		ly := y + 16 + float64(i)*18
		svgLine(b, x+8, ly-4, x+30, ly-4, e.color, ` stroke-width="2.5"`)
		svgText(b, x+36, ly, "start", e.text)
	}
}

// latencyTitle is the latency axis' name: round trips in the rtt scenario.
func latencyTitle(results []Result) string {
	for i := range results {
		if results[i].Scenario != "rtt" {
			return "one-way latency (log scale)"
		}
	}
	if len(results) == 0 {
		return "latency (log scale)"
	}
	return "round-trip latency (log scale)"
}

// WriteSVGCDF writes the latency CDF of every result on one plot as a
// standalone SVG image: x log-scaled in us/ms/s, y 0-100 % of the samples
// at or below x, a legend with each transport's p50 and p99.
func WriteSVGCDF(w io.Writer, results []Result) error {
	var b bytes.Buffer
	svgCDF(&b, results, true)
	_, err := w.Write(b.Bytes())
	return err
}

func svgCDF(b *bytes.Buffer, results []Result, standalone bool) {
	svgOpen(b, standalone, "latency distribution")
	svgFrame(b, latencyTitle(results), "messages at or below (%)")
	lo, hi := math.Inf(1), math.Inf(-1)
	for i := range results {
		for _, p := range results[i].LatencyCDF {
			if p.US > 0 {
				lo, hi = min(lo, p.US), max(hi, p.US)
			}
		}
	}
	if lo > hi {
		svgEmpty(b, "no latency samples")
		b.WriteString("</svg>\n")
		return
	}
	dlo, dhi := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if dhi <= dlo {
		dhi = dlo + 1
	}
	xOf := func(us float64) float64 {
		l := math.Log10(min(max(us, math.Pow(10, dlo)), math.Pow(10, dhi)))
		return chartLeft + (l-dlo)/(dhi-dlo)*(chartRight-chartLeft)
	}
	yOf := func(pct float64) float64 {
		return chartBottom - pct/100*(chartBottom-chartTop)
	}
	// Grid: every 10 %, labelled every 20 %; decades labelled, 2 and 5 not.
	for p := 0.0; p <= 100; p += 10 {
		svgLine(b, chartLeft, yOf(p), chartRight, yOf(p), "#e5e5e5", "")
		if int(p)%20 == 0 {
			svgText(b, chartLeft-6, yOf(p)+4, "end", sigFig(p, 3)+" %")
		}
	}
	svgLine(b, chartLeft, yOf(99), chartRight, yOf(99), "#999", ` stroke-dasharray="4 3"`)
	svgText(b, chartRight-4, yOf(99)-4, "end", "99 %")
	for d := dlo; d <= dhi; d++ {
		v := math.Pow(10, d)
		svgLine(b, xOf(v), chartTop, xOf(v), chartBottom, "#ccc", "")
		svgText(b, xOf(v), chartBottom+16, "middle", formatMicros(v))
		if d < dhi {
			for _, m := range []float64{2, 5} {
				svgLine(b, xOf(m*v), chartTop, xOf(m*v), chartBottom, "#eee", "")
			}
		}
	}
	var legend []legendEntry
	for i := range results {
		r := &results[i]
		if len(r.LatencyCDF) == 0 {
			continue
		}
		color, label := seriesColor(results, i), seriesLabel(results, i)
		fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="2" points="`, color)
		prev := 0.0
		for _, p := range r.LatencyCDF {
			x := xOf(p.US)
			fmt.Fprintf(b, "%s,%s %s,%s ", num(x), num(yOf(prev)), num(x), num(yOf(p.Percent)))
			prev = p.Percent
		}
		fmt.Fprintf(b, `"><title>%s</title></polyline>`+"\n",
			esc(fmt.Sprintf("%s: p50 %s, p99 %s, max %s", label,
				formatMicros(r.Latency.P50), formatMicros(r.Latency.P99), formatMicros(r.Latency.Max))))
		legend = append(legend, legendEntry{color, fmt.Sprintf("%s  p50 %s  p99 %s", label,
			formatMicros(r.Latency.P50), formatMicros(r.Latency.P99))})
	}
	svgLegend(b, chartLeft+10, chartTop+10, legend)
	b.WriteString("</svg>\n")
}

// niceStep returns a round step (1, 2 or 5 times a power of ten) that cuts
// span into about n parts.
func niceStep(span float64, n int) float64 {
	if span <= 0 {
		return 1
	}
	raw := span / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5} {
		if m*mag >= raw {
			return m * mag
		}
	}
	return 10 * mag
}

// WriteSVGThroughput writes every result's received messages per second,
// interval by interval, on one plot as a standalone SVG image.
func WriteSVGThroughput(w io.Writer, results []Result) error {
	var b bytes.Buffer
	svgThroughput(&b, results, true)
	_, err := w.Write(b.Bytes())
	return err
}

func intervalRate(iv IntervalStats) float64 {
	if s := iv.Seconds(); s > 0 {
		return float64(iv.ReceivedPackets) / s
	}
	return 0
}

func svgThroughput(b *bytes.Buffer, results []Result, standalone bool) {
	svgOpen(b, standalone, "throughput over time")
	svgFrame(b, "time (s)", "received msg/s")
	tmax, ymax := 0.0, 0.0
	for i := range results {
		for _, iv := range results[i].Intervals {
			tmax = max(tmax, iv.End)
			ymax = max(ymax, intervalRate(iv))
		}
	}
	if tmax <= 0 {
		svgEmpty(b, "no interval data")
		b.WriteString("</svg>\n")
		return
	}
	ystep := niceStep(ymax, 5)
	ytop := math.Max(math.Ceil(ymax*1.05/ystep), 1) * ystep
	xstep := niceStep(tmax, 8)
	xend := math.Ceil(tmax/xstep) * xstep
	xOf := func(s float64) float64 { return chartLeft + s/xend*(chartRight-chartLeft) }
	yOf := func(v float64) float64 { return chartBottom - v/ytop*(chartBottom-chartTop) }
	for v := 0.0; v <= ytop+ystep/2; v += ystep {
		svgLine(b, chartLeft, yOf(v), chartRight, yOf(v), "#e5e5e5", "")
		svgText(b, chartLeft-6, yOf(v)+4, "end", siValue(v))
	}
	for s := 0.0; s <= xend+xstep/2; s += xstep {
		svgLine(b, xOf(s), chartTop, xOf(s), chartBottom, "#eee", "")
		svgText(b, xOf(s), chartBottom+16, "middle", sigFig(s, 3))
	}
	var legend []legendEntry
	for i := range results {
		r := &results[i]
		if len(r.Intervals) == 0 {
			continue
		}
		color, label := seriesColor(results, i), seriesLabel(results, i)
		fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="2" points="`, color)
		for _, iv := range r.Intervals {
			y := yOf(intervalRate(iv))
			fmt.Fprintf(b, "%s,%s %s,%s ", num(xOf(iv.Start)), num(y), num(xOf(iv.End)), num(y))
		}
		fmt.Fprintf(b, `"><title>%s</title></polyline>`+"\n",
			esc(fmt.Sprintf("%s: %s msg/s, %s received on average", label,
				siValue(r.Received.PacketsPerSecond), bitRate(r.Received.BitsPerSecond))))
		legend = append(legend, legendEntry{color, fmt.Sprintf("%s  %s msg/s  %s", label,
			siValue(r.Received.PacketsPerSecond), bitRate(r.Received.BitsPerSecond))})
	}
	svgLegend(b, chartLeft+10, chartBottom-10-float64(len(legend))*18-8, legend)
	b.WriteString("</svg>\n")
}

// htmlStyle is the report's whole stylesheet (no '<' or '&' in it: the page
// stays well-formed XML).
const htmlStyle = `body{font-family:system-ui,sans-serif;margin:2em auto;max-width:62em;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em}
table{border-collapse:collapse;font-variant-numeric:tabular-nums}
th,td{padding:.25em .9em;border-bottom:1px solid #ddd;text-align:right}
th:first-child,td:first-child{text-align:left;color:#555}
.swatch{display:inline-block;width:.8em;height:.8em;margin-right:.35em;vertical-align:baseline}
.meta{color:#555;font-size:.9em}
svg{max-width:100%;height:auto}
code{font-size:.9em}`

// WriteHTML writes doc as a self-contained HTML page: the run's
// description, the summary table, the latency CDF and the throughput over
// time, as inline SVG. It needs no script and no network.
func WriteHTML(w io.Writer, doc *Document) error {
	var b bytes.Buffer
	m := &doc.Packetbench
	b.WriteString("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n")
	b.WriteString("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n")
	b.WriteString("<title>packetbench report</title>\n<style>\n" + htmlStyle + "\n</style>\n</head>\n<body>\n")
	b.WriteString("<h1>packetbench report</h1>\n<p class=\"meta\">")
	fmt.Fprintf(&b, "packetbench %s, started %s<br/>host: %d CPUs, %s, %s",
		esc(m.Version), esc(m.Start.Format(time.RFC3339)), m.Host.CPUs, esc(m.Host.OS), esc(m.Host.Go))
	if len(m.Args) > 0 {
		fmt.Fprintf(&b, "<br/>command: <code>%s</code>", esc(strings.Join(m.Args, " ")))
	}
	b.WriteString("</p>\n")

	res := doc.Results
	b.WriteString("<h2>Summary</h2>\n<table>\n<thead><tr><th></th>")
	for i := range res {
		fmt.Fprintf(&b, `<th><span class="swatch" style="background:%s"></span>%s</th>`,
			seriesColor(res, i), esc(seriesLabel(res, i)))
	}
	b.WriteString("</tr></thead>\n<tbody>\n")
	for _, row := range summaryRows(res) {
		fmt.Fprintf(&b, "<tr><td>%s</td>", esc(row.label))
		for _, c := range row.cells {
			fmt.Fprintf(&b, "<td>%s</td>", esc(c))
		}
		b.WriteString("</tr>\n")
	}
	b.WriteString("</tbody>\n</table>\n")

	b.WriteString("<h2>Latency distribution</h2>\n")
	svgCDF(&b, res, false)
	b.WriteString("<h2>Throughput over time</h2>\n")
	svgThroughput(&b, res, false)
	b.WriteString("</body>\n</html>\n")
	_, err := w.Write(b.Bytes())
	return err
}
