package bench

import (
	"errors"
	"os"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	tests := []struct {
		name string
		stat string
		want time.Duration
	}{
		{"plain", "1234 (packetd) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 100 0 0", 3 * time.Second},
		{"name with spaces and parens", "1234 (a) b (c) R 1 1234 1234 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0 1 0 0", 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatCPU([]byte(tt.stat))
			if err != nil || got != tt.want {
				t.Errorf("got %v, %v, want %v", got, err, tt.want)
			}
		})
	}
	for _, bad := range []string{"", "1234 packetd S", "1 (x) S 1 2"} {
		if _, err := parseStatCPU([]byte(bad)); err == nil {
			t.Errorf("parseStatCPU(%q): got no error", bad)
		}
	}
}

func TestStatusKB(t *testing.T) {
	status := "Name:\tpacketd\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n"
	if got, want := statusKB([]byte(status), "VmHWM:"), int64(20480<<10); got != want {
		t.Errorf("VmHWM: got %d, want %d", got, want)
	}
	if got, want := statusKB([]byte(status), "VmRSS:"), int64(10240<<10); got != want {
		t.Errorf("VmRSS: got %d, want %d", got, want)
	}
	if got := statusKB([]byte(status), "VmSwap:"); got != 0 {
		t.Errorf("VmSwap: got %d, want 0", got)
	}
}

func TestReadProcStat(t *testing.T) {
	st, err := ReadProcStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if st.RSS <= 0 || st.PeakRSS < st.RSS {
		t.Errorf("got %+v, want 0 < RSS <= PeakRSS", st)
	}
	if _, err := ReadProcStat(1 << 30); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("got %v for a missing process, want not-exist", err)
	}
}
