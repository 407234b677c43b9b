package broker

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		rto   time.Duration
		tries int
		want  time.Duration
	}{
		{200 * ms, 1, 200 * ms},
		{200 * ms, 2, 400 * ms},
		{200 * ms, 5, 3200 * ms},
		{200 * ms, 10, MaxBackoff}, // 102.4 s, capped
		{200 * ms, 40, MaxBackoff}, // would overflow uncapped
		{90 * time.Second, 3, 90 * time.Second},
	}
	for _, tt := range tests {
		if got := backoff(tt.rto, tt.tries); got != tt.want {
			t.Errorf("backoff(%v, %d) = %v, want %v", tt.rto, tt.tries, got, tt.want)
		}
	}
}
