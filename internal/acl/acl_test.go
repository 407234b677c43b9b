package acl_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/packetd/packetd/internal/acl"
)

func TestMatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern string
		match   []string
		noMatch []string
	}{
		{"lobby", []string{"lobby"}, []string{"lobby/x", "lobb", "Lobby", "$lobby", "x/lobby"}},
		{"sensors/+/temp", []string{"sensors/a/temp", "sensors//temp"}, []string{"sensors/a/b/temp", "sensors/temp", "sensors/a/temp/x", "sensors/a"}},
		{"sensors/#", []string{"sensors", "sensors/a", "sensors/a/b", "sensors/"}, []string{"sensorsx", "sensor", "x/sensors"}},
		{"#", []string{"lobby", "a/b/c", "/", "+"}, []string{"$8f3a2c1d4e5b6a79", "$x/y"}},
		{"+", []string{"lobby", ""}, []string{"a/b", "$8f3a2c1d4e5b6a79"}},
		{"+/#", []string{"a", "a/b", "a/b/c"}, []string{"$a/b"}},
		{"dev-*", []string{"dev-1", "dev-1/x", "dev-"}, []string{"dev", "xdev-1", "$dev-1"}},
		{"*", []string{"lobby", "a/b"}, []string{"$8f3a2c1d4e5b6a79"}},
		{"$*", []string{"$8f3a2c1d4e5b6a79", "$"}, []string{"lobby", "x$"}},
		{"a/+/c/#", []string{"a/b/c", "a/b/c/d/e"}, []string{"a/b", "a/b/d/c"}},
		{"a/b*", []string{"a/b", "a/bc", "a/b/c"}, []string{"a", "a/", "a/c"}},
		{"a/+/x*", []string{"a/b/x", "a/b/xy/z"}, []string{"a/b", "a/b/y"}},
		{"+/+", []string{"a/b", "/"}, []string{"a", "a/b/c"}},
		{"$share/+", []string{"$share/x"}, []string{"$share/x/y", "share/x"}},
	}
	for _, tc := range tests {
		t.Run(tc.pattern, func(t *testing.T) {
			t.Parallel()
			l, err := acl.Compile([]string{tc.pattern})
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range tc.match {
				if !l.Match([]byte(n)) {
					t.Errorf("Match(%q): got false, want true", n)
				}
			}
			for _, n := range tc.noMatch {
				if l.Match([]byte(n)) {
					t.Errorf("Match(%q): got true, want false", n)
				}
			}
		})
	}
}

func TestListOfSeveral(t *testing.T) {
	t.Parallel()
	l := acl.MustCompile("control/sensor-7", "sensors/sensor-7/#", "$*")
	for name, want := range map[string]bool{
		"control/sensor-7":      true,
		"control/sensor-8":      false,
		"sensors/sensor-7/temp": true,
		"sensors/sensor-8/temp": false,
		"$8f3a2c1d4e5b6a79":     true,
		"lobby":                 false,
	} {
		if got := l.Match([]byte(name)); got != want {
			t.Errorf("Match(%q): got %v, want %v", name, got, want)
		}
	}
	var none *acl.List
	if none.Match([]byte("lobby")) {
		t.Error("nil List: Match(lobby) = true, want false")
	}
	empty := acl.MustCompile()
	if empty.Match([]byte("lobby")) {
		t.Error("empty List: Match(lobby) = true, want false")
	}
}

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"", "a+", "+a/b", "#/a", "a/#/b", "a#", "a*b", "*/a", "a/*/b", "**", "+*", strings.Repeat("a", acl.MaxPattern+1), "\xff"} {
		_, err := acl.Compile([]string{"ok", p})
		var pe *acl.PatternError
		if !errors.As(err, &pe) || pe.Pattern != p {
			t.Errorf("Compile(%q): got %v, want a PatternError naming it", p, err)
		}
	}
}

func TestMatchAllocs(t *testing.T) {
	l := acl.MustCompile("lobby", "sensors/+/temp", "sensors/#", "dev-*", "$*", "a/+/c/#")
	names := [][]byte{[]byte("lobby"), []byte("sensors/a/temp"), []byte("x/y/z"), []byte("$8f3a2c1d4e5b6a79"), []byte("dev-9/x")}
	got := testing.AllocsPerRun(1000, func() {
		for _, n := range names {
			l.Match(n)
		}
	})
	if got != 0 {
		t.Errorf("Match: got %v allocs per run, want 0", got)
	}
}

func BenchmarkMatch(b *testing.B) {
	l := acl.MustCompile("control/sensor-7", "sensors/sensor-7/#", "fleet/+/status", "$*")
	for _, name := range []string{"control/sensor-7", "sensors/sensor-7/temp/x", "fleet/a/status", "other/room"} {
		b.Run(name, func(b *testing.B) {
			n := []byte(name)
			b.ReportAllocs()
			for b.Loop() {
				l.Match(n)
			}
		})
	}
}

// FuzzMatch checks Match against a plain reference implementation of the
// documented rules.
func FuzzMatch(f *testing.F) {
	for _, s := range [][2]string{{"sensors/+/temp", "sensors/a/temp"}, {"a/#", "a"}, {"dev-*", "dev-1/x"}, {"#", "$x"}, {"$*", "$x"}, {"+/+", "/"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, name string) {
		l, err := acl.Compile([]string{pattern})
		if err != nil {
			return
		}
		if got, want := l.Match([]byte(name)), reference(pattern, name); got != want {
			t.Errorf("pattern %q, name %q: got %v, want %v", pattern, name, got, want)
		}
	})
}

func reference(pattern, name string) bool {
	if !strings.ContainsAny(pattern, "+#*") {
		return pattern == name
	}
	if strings.HasPrefix(name, "$") && (pattern == "*" || strings.HasPrefix(pattern, "+") || strings.HasPrefix(pattern, "#") || strings.HasPrefix(pattern, "*")) {
		if p := strings.SplitN(pattern, "/", 2)[0]; p == "+" || p == "#" || p == "*" {
			return false
		}
	}
	if rest, ok := strings.CutSuffix(pattern, "*"); ok {
		// Split the pattern's levels before the prefix level.
		i := strings.LastIndex(rest, "/")
		head, pre := "", rest
		if i >= 0 {
			head, pre = rest[:i], rest[i+1:]
			hl := strings.Split(head, "/")
			nl := strings.SplitN(name, "/", len(hl)+1)
			if len(nl) <= len(hl) {
				return false
			}
			for j := range hl {
				if hl[j] != "+" && hl[j] != nl[j] {
					return false
				}
			}
			return strings.HasPrefix(nl[len(hl)], pre)
		}
		return strings.HasPrefix(name, pre)
	}
	pl, nl := strings.Split(pattern, "/"), strings.Split(name, "/")
	for i, p := range pl {
		if p == "#" {
			return true
		}
		if i >= len(nl) || p != "+" && p != nl[i] {
			return false
		}
	}
	return len(pl) == len(nl)
}
