package main

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// countValue is an integer flag that takes k, M and G suffixes (1000s):
// "-n 100k".
type countValue struct{ p *int64 }

func (v countValue) String() string {
	if v.p == nil {
		return "0"
	}
	return strconv.FormatInt(*v.p, 10)
}

func (v countValue) Set(s string) error {
	f, err := parseSI(s)
	if err != nil {
		return err
	}
	if f != float64(int64(f)) || f < 0 {
		return fmt.Errorf("%q is not a whole number", s)
	}
	*v.p = int64(f)
	return nil
}

// intValue is countValue for an int.
type intValue struct{ p *int }

func (v intValue) String() string {
	if v.p == nil {
		return "0"
	}
	return strconv.Itoa(*v.p)
}

func (v intValue) Set(s string) error {
	var n int64
	if err := (countValue{&n}).Set(s); err != nil {
		return err
	}
	if n > 1<<31 {
		return fmt.Errorf("%q is too large", s)
	}
	*v.p = int(n)
	return nil
}

// rateValue is a float flag with k, M, G suffixes: "-r 10k".
type rateValue struct{ p *float64 }

func (v rateValue) String() string {
	if v.p == nil {
		return "0"
	}
	return strconv.FormatFloat(*v.p, 'g', -1, 64)
}

func (v rateValue) Set(s string) error {
	f, err := parseSI(s)
	if err != nil {
		return err
	}
	*v.p = f
	return nil
}

// parseSI reads a number with an optional k, M or G suffix.
func parseSI(s string) (float64, error) {
	mult := 1.0
	switch {
	case strings.HasSuffix(s, "k"), strings.HasSuffix(s, "K"):
		mult, s = 1e3, s[:len(s)-1]
	case strings.HasSuffix(s, "M"):
		mult, s = 1e6, s[:len(s)-1]
	case strings.HasSuffix(s, "G"):
		mult, s = 1e9, s[:len(s)-1]
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number (suffixes k, M, G allowed)", s)
	}
	return f * mult, nil
}

// durationValue is a duration flag that also takes plain seconds, as
// iperf3 does: "-t 10" is "-t 10s".
type durationValue struct{ p *time.Duration }

func (v durationValue) String() string {
	if v.p == nil {
		return "0s"
	}
	return v.p.String()
}

func (v durationValue) Set(s string) error {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		*v.p = time.Duration(f * float64(time.Second))
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration (10s, 500ms, 2m, or seconds)", s)
	}
	*v.p = d
	return nil
}

// percentValue is a probability flag: "5%" or "0.05".
type percentValue struct{ p *float64 }

func (v percentValue) String() string {
	if v.p == nil || *v.p == 0 {
		return "0%"
	}
	return strconv.FormatFloat(*v.p*100, 'g', -1, 64) + "%"
}

func (v percentValue) Set(s string) error {
	if p, ok := strings.CutSuffix(s, "%"); ok {
		f, err := strconv.ParseFloat(p, 64)
		if err != nil || f < 0 || f > 100 {
			return fmt.Errorf("%q is not a percentage from 0%% to 100%%", s)
		}
		*v.p = f / 100
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f > 1 {
		return fmt.Errorf("%q: give a percentage (5%%) or a fraction from 0 to 1 (0.05)", s)
	}
	*v.p = f
	return nil
}

// bandwidthValue is a link rate in tc's units, stored in bytes/s: bit,
// kbit, mbit, gbit are bits per second; bps, kbps, mbps, gbps bytes per
// second (1000s).
type bandwidthValue struct{ p *int }

func (v bandwidthValue) String() string {
	if v.p == nil || *v.p == 0 {
		return "unlimited"
	}
	return strconv.FormatFloat(float64(*v.p)*8/1e6, 'g', -1, 64) + "mbit"
}

func (v bandwidthValue) Set(s string) error {
	low := strings.ToLower(s)
	units := []struct {
		suffix string
		bytes  float64 // bytes/s per unit
	}{
		{"gbit", 1e9 / 8}, {"mbit", 1e6 / 8}, {"kbit", 1e3 / 8}, {"bit", 1.0 / 8},
		{"gbps", 1e9}, {"mbps", 1e6}, {"kbps", 1e3}, {"bps", 1},
	}
	for _, u := range units {
		if n, ok := strings.CutSuffix(low, u.suffix); ok {
			f, err := strconv.ParseFloat(n, 64)
			if err != nil || f < 0 {
				break
			}
			*v.p = int(f * u.bytes)
			if f > 0 && *v.p == 0 {
				*v.p = 1
			}
			return nil
		}
	}
	return fmt.Errorf("%q: give a rate with a unit: 10mbit, 500kbit, 1gbit (bits/s) or 100kbps (bytes/s)", s)
}

// listValue collects a repeatable flag.
type listValue struct{ p *[]string }

func (v listValue) String() string {
	if v.p == nil {
		return ""
	}
	return strings.Join(*v.p, " ")
}

func (v listValue) Set(s string) error {
	*v.p = append(*v.p, s)
	return nil
}

// outputValue is an output flag whose file is optional: "--json" alone
// writes to standard output ("-"), "--json=FILE" or "--json FILE" to FILE
// (fixOptional turns the second form into the first).
type outputValue struct{ p *string }

func (v outputValue) String() string {
	if v.p == nil {
		return ""
	}
	return *v.p
}

func (v outputValue) Set(s string) error {
	if s == "true" {
		s = "-"
	}
	*v.p = s
	return nil
}

func (v outputValue) IsBoolFlag() bool { return true }

// optionalFlags take an optional file name.
var optionalFlags = map[string]bool{"J": true, "json": true, "csv": true}

// fixOptional rewrites "--json FILE" as "--json=FILE" when FILE is not a
// flag or a scenario name, so that the optional value can follow a space.
func fixOptional(args []string, words map[string]bool) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		name := strings.TrimLeft(a, "-")
		if a == "--" {
			out = append(out, args[i:]...)
			break
		}
		if strings.HasPrefix(a, "-") && optionalFlags[name] && i+1 < len(args) {
			next := args[i+1]
			if next != "" && !strings.HasPrefix(next, "-") && !words[next] {
				out = append(out, a+"="+next)
				i++
				continue
			}
		}
		out = append(out, a)
	}
	return out
}

// errUsage marks an error in the command line: the exit status is 2.
var errUsage = errors.New("usage")

// usageError wraps err as a command-line error.
func usageError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}

// register defines a flag under several names (short and long).
func register(fs *flag.FlagSet, v flag.Value, usage string, names ...string) {
	for _, n := range names {
		fs.Var(v, n, usage)
	}
}
