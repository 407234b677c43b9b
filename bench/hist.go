package bench

import (
	"math/bits"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Latency histogram geometry: nanoseconds up to 60 s, 3 significant
// figures. Values outside are clamped to the range.
const (
	histLowest  = 1
	histHighest = int64(60 * time.Second)
	histDigits  = 3
)

// The counts layout hdrhistogram uses for that geometry: a unit of 1 ns,
// 2,048 sub-buckets per bucket (the power of two above 2*10^3), 26 buckets
// (2,048 << 25 is the first power of two above 60 s), the lower half of
// every bucket but the first shared with the one before. TestHistIndex
// checks these against the library.
const (
	histHalfMag = 10               // log2 of half the sub-buckets
	histHalf    = 1 << histHalfMag // 1,024
	histBuckets = 26
	histLen     = (histBuckets + 1) * histHalf // 27,648 counts
)

// histIndex returns the index of v (0 <= v <= histHighest) in
// hdrhistogram's counts.
func histIndex(v int64) int {
	b := bits.Len64(uint64(v)|(2*histHalf-1)) - (histHalfMag + 1)
	return (b+1)<<histHalfMag + int(v>>b) - histHalf
}

// histValue returns the lowest value of index i: recorded in a Histogram
// of the geometry above, it counts at index i.
func histValue(i int) int64 {
	if i < 2*histHalf {
		return int64(i)
	}
	return int64(i&(histHalf-1)+histHalf) << (i>>histHalfMag - 1)
}

func newHist() *hdrhistogram.Histogram {
	return hdrhistogram.New(histLowest, histHighest, histDigits)
}

// A localHist is a Local's share of the latency histogram since it last
// handed its counts to the Recorder: hdrhistogram's counts, in pages of
// 256 allocated on first use (latencies cluster: a receiver typically
// touches a few dozen pages, 1 KiB each, where a Histogram is 216 KiB).
const (
	histPageShift = 8
	histPageLen   = 1 << histPageShift
	histPages     = histLen / histPageLen
)

type localHist struct {
	pages   [histPages]*[histPageLen]uint32
	lo, hi  int    // the lowest and highest index counted; lo > hi: none
	n       uint32 // values counted: no count can overflow before it does
	packets int64  // deliveries
	bytes   int64  // their payload bytes
	lost    int64  // the change in the flows' sequence gaps they made
}

// add counts v, 0 <= v <= histHighest. The caller makes sure that n is
// below math.MaxUint32.
func (h *localHist) add(v int64) {
	i := histIndex(v)
	p := h.pages[i>>histPageShift]
	if p == nil {
		p = new([histPageLen]uint32)
		h.pages[i>>histPageShift] = p
	}
	p[i&(histPageLen-1)]++
	h.lo = min(h.lo, i)
	h.hi = max(h.hi, i)
	h.n++
}

// empty reports whether h holds nothing since the last moveTo.
func (h *localHist) empty() bool { return h.n == 0 && h.packets == 0 && h.lost == 0 }

// moveTo records h's counts into a and b and clears them (not packets,
// bytes and lost, which the caller moves).
func (h *localHist) moveTo(a, b *hdrhistogram.Histogram) {
	if h.lo <= h.hi {
		for pg := h.lo >> histPageShift; pg <= h.hi>>histPageShift; pg++ {
			p := h.pages[pg]
			if p == nil {
				continue
			}
			for j, c := range p {
				if c == 0 {
					continue
				}
				v := histValue(pg<<histPageShift + j)
				_ = a.RecordValues(v, int64(c)) // in range, so never fails
				_ = b.RecordValues(v, int64(c))
				p[j] = 0
			}
		}
	}
	h.lo, h.hi, h.n = histLen, -1, 0
}
