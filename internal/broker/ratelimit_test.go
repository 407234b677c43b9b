package broker

import (
	"testing"
	"time"
)

func TestBucket(t *testing.T) {
	const s = int64(time.Second)
	b := newBucket(10, 0)
	for i := range 10 {
		if !b.take(0, 1) {
			t.Fatalf("take %d of a burst of 10 refused", i+1)
		}
	}
	if b.take(0, 1) {
		t.Fatal("the 11th take at once was allowed")
	}
	if !b.take(s/10, 1) || b.take(s/10, 1) {
		t.Error("a tenth of a second refills exactly one token")
	}
	if !b.take(5*s, 10) || b.take(5*s, 1) {
		t.Error("an idle bucket refills to its burst, not beyond")
	}
	if b.take(6*s, 11) {
		t.Error("a take larger than the burst was allowed")
	}
	unlimited := newBucket(0, 0)
	if !unlimited.take(0, 1<<40) {
		t.Error("rate 0 limited")
	}
	big := newBucket(MaxRate, 0) // the largest rate: no overflow
	if !big.take(s/2, MaxRate/2) || big.take(s/2, MaxRate/2+1) {
		t.Error("a large rate refused")
	}
}

func TestBucketAllocs(t *testing.T) {
	r := &rateLimit{packets: newBucket(1000, 0), bytes: newBucket(1<<20, 0)}
	var now int64
	if n := testing.AllocsPerRun(1000, func() { now += 1000; r.allow(now, 100) }); n != 0 {
		t.Errorf("allow allocates %v times", n)
	}
}
