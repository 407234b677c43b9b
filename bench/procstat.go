package bench

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// clockTick is the unit of utime and stime in /proc/<pid>/stat: USER_HZ,
// which Linux fixes at 100 for user space on every architecture.
const clockTick = 10 * time.Millisecond

// ProcStat is one reading of a process's resource use from /proc.
type ProcStat struct {
	CPU     time.Duration // user and system time since the process started
	RSS     int64         // resident set size now (VmRSS), bytes
	PeakRSS int64         // peak resident set size (VmHWM), bytes
}

// ReadProcStat reads /proc/<pid>/stat and /proc/<pid>/status. It works for
// any process the caller may inspect; a pid that is gone is an error
// wrapping os.ErrNotExist.
func ReadProcStat(pid int) (ProcStat, error) {
	var st ProcStat
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return st, fmt.Errorf("bench: process %d: %w", pid, err)
	}
	if st.CPU, err = parseStatCPU(b); err != nil {
		return st, fmt.Errorf("bench: /proc/%d/stat: %w", pid, err)
	}
	b, err = os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return st, fmt.Errorf("bench: process %d: %w", pid, err)
	}
	st.RSS = statusKB(b, "VmRSS:")
	st.PeakRSS = statusKB(b, "VmHWM:")
	return st, nil
}

// ResetPeakRSS makes the kernel forget the process's peak RSS, so that
// VmHWM from now on is the peak of what follows (clear_refs "5", Linux
// 4.0 and later). It fails for another user's process.
func ResetPeakRSS(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// parseStatCPU returns utime + stime from the contents of /proc/<pid>/stat.
// The command name (field 2) is in parentheses and may hold spaces and
// parentheses itself, so fields are counted from the last ')'.
func parseStatCPU(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("no command name")
	}
	// After ')': state (field 3), ..., utime (14), stime (15).
	f := bytes.Fields(b[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("%d fields after the command name, want at least 13", len(f))
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(string(s), 10, 64)
		if err != nil {
			return 0, err
		}
		ticks += n
	}
	return time.Duration(ticks) * clockTick, nil
}

// statusKB returns the value of a "Key:   1234 kB" line of
// /proc/<pid>/status in bytes, 0 if the key is absent.
func statusKB(b []byte, key string) int64 {
	for line := range bytes.Lines(b) {
		rest, ok := bytes.CutPrefix(line, []byte(key))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) == 0 {
			return 0
		}
		n, _ := strconv.ParseInt(string(f[0]), 10, 64)
		return n << 10
	}
	return 0
}
