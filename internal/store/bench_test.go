package store

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// benchKeep is how many messages the benchmarks keep: each batch deletes
// the messages put benchKeep Seqs earlier, so the file stays at the steady
// size of a broker whose subscribers keep up.
const benchKeep = 1000

func benchMessage(seq uint64, frame []byte, recipients []uint32) *Message {
	return &Message{Seq: seq, Frame: frame, Recipients: recipients, Time: time.Now().UnixNano()}
}

// BenchmarkCommit commits batches of 1, 10 and 100 messages (128 bytes, 100
// recipients each) one after the other, waiting for each to be durable:
// one transaction per batch.
func BenchmarkCommit(b *testing.B) {
	frame, recipients := make([]byte, 128), seqRecipients(100)
	for _, noSync := range []bool{false, true} {
		for _, n := range []int{1, 10, 100} {
			name := fmt.Sprintf("fsync/msgs=%d", n)
			if noSync {
				name = fmt.Sprintf("nosync/msgs=%d", n)
			}
			b.Run(name, func(b *testing.B) {
				s, err := OpenBolt(Config{Dir: b.TempDir(), NoSync: noSync})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				var batch Batch
				seq := uint64(0)
				done := make(chan error, 1)
				callback := func(err error) { done <- err }
				b.ReportAllocs()
				start := time.Now()
				for b.Loop() {
					batch.Reset()
					for range n {
						seq++
						batch.PutMessage(benchMessage(seq, frame, recipients))
						if seq > benchKeep {
							batch.DeleteMessage(seq - benchKeep)
						}
					}
					s.Commit(&batch, callback)
					if err := <-done; err != nil {
						b.Fatal(err)
					}
				}
				b.SetBytes(int64(batch.Size()))
				b.ReportMetric(float64(seq)/time.Since(start).Seconds(), "msgs/s")
			})
		}
	}
}

// BenchmarkGroupCommit has N goroutines each commit one message at a time
// and wait for it to be durable (fsync on). goroutines=1 is one fsync per
// message; with more, batches committed during an fsync share the next.
func BenchmarkGroupCommit(b *testing.B) {
	frame, recipients := make([]byte, 128), seqRecipients(100)
	for _, g := range []int{1, 10, 100, 1000} {
		b.Run(fmt.Sprintf("goroutines=%d", g), func(b *testing.B) {
			s, err := OpenBolt(Config{Dir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			var next atomic.Uint64
			var wg sync.WaitGroup
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for range g {
				wg.Go(func() {
					var batch Batch
					done := make(chan error, 1)
					callback := func(err error) { done <- err }
					for {
						seq := next.Add(1)
						if seq > uint64(b.N) {
							return
						}
						batch.Reset()
						batch.PutMessage(benchMessage(seq, frame, recipients))
						if seq > benchKeep {
							batch.DeleteMessage(seq - benchKeep)
						}
						s.Commit(&batch, callback)
						if err := <-done; err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			st := s.Stats()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
			b.ReportMetric(float64(st.Batches)/float64(st.Transactions), "msgs/tx")
		})
	}
}
