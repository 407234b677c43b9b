package broker

import (
	"testing"
	"time"
)

func TestBucket(t *testing.T) {
	const s = int64(time.Second)
	var b bucket
	for i := range 10 {
		if !b.take(1, 1, 10) {
			t.Fatalf("take %d of a burst of 10 refused", i+1)
		}
	}
	if b.take(1, 1, 10) {
		t.Fatal("the 11th take at once was allowed")
	}
	if !b.take(1+s/10, 1, 10) || b.take(1+s/10, 1, 10) {
		t.Error("a tenth of a second refills exactly one token")
	}
	if !b.take(5*s, 10, 10) || b.take(5*s, 1, 10) {
		t.Error("an idle bucket refills to its burst, not beyond")
	}
	if b.take(6*s, 11, 10) {
		t.Error("a take larger than the burst was allowed")
	}
	if !b.take(7*s, 2, 2) || b.take(7*s, 1, 2) {
		t.Error("a lowered rate lowers the burst at once")
	}
	var big bucket // the largest rate: no overflow
	if !big.take(1, MaxRate/2, MaxRate) || !big.take(1+s/2, MaxRate, MaxRate) || big.take(1+s/2, 1, MaxRate) {
		t.Error("the largest rate")
	}
}

func TestAllowAllocs(t *testing.T) {
	var l limits
	l.packetRate.Store(1000)
	l.byteRate.Store(1 << 20)
	s := &Session{}
	s.allow(&l, 100)
	if n := testing.AllocsPerRun(1000, func() { s.allow(&l, 100) }); n != 0 {
		t.Errorf("allow allocates %v times", n)
	}
}
