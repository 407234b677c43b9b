package config

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// settings is a flag set like packetd's: a few kinds of flags.
type settings struct {
	fs        *flag.FlagSet
	conns     int
	addr      string
	keepalive time.Duration
	fsync     bool
	rooms     multi
	version   bool
	file      string
}

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(s string) error { *m = append(*m, s); return nil }
func (m *multi) Strings() []string  { return *m }

func newSettings() *settings {
	s := &settings{fs: flag.NewFlagSet("packetd", flag.ContinueOnError)}
	s.fs.SetOutput(io.Discard)
	s.fs.IntVar(&s.conns, "max-conns", 100, "open connections at most")
	s.fs.StringVar(&s.addr, "tcp", ":7070", "TCP address")
	s.fs.DurationVar(&s.keepalive, "keepalive", 30*time.Second, "default keepalive")
	s.fs.BoolVar(&s.fsync, "fsync", true, "fsync each commit")
	s.fs.Var(&s.rooms, "room", "a room, repeatable")
	s.fs.BoolVar(&s.version, "version", false, "print the version")
	s.fs.StringVar(&s.file, FileFlag, "", "the config file")
	return s
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "packetd.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPrecedence(t *testing.T) {
	p := writeFile(t, "max-conns: 5000\ntcp: \"127.0.0.1:7000\"\nkeepalive: 1m\nfsync: false\nroom: [a, b]\n")
	s := newSettings()
	ld, err := Load(s.fs, []string{"-config", p, "-tcp", ":9000"},
		Options{Environ: []string{"PACKETD_MAX_CONNS=7000", "HOME=/root"}, Skip: []string{"version"}})
	if err != nil {
		t.Fatal(err)
	}
	if s.conns != 7000 || s.addr != ":9000" || s.keepalive != time.Minute || s.fsync || strings.Join(s.rooms, ",") != "a,b" {
		t.Errorf("got conns %d addr %q keepalive %v fsync %v rooms %v, want env 7000, flag :9000, file 1m, false, [a b]",
			s.conns, s.addr, s.keepalive, s.fsync, s.rooms)
	}
	want := map[string]Source{"max-conns": FromEnv, "tcp": FromFlag, "keepalive": FromFile, "fsync": FromFile,
		"room": FromFile, "version": FromDefault, FileFlag: FromFlag}
	for k, v := range want {
		if ld.Sources[k] != v {
			t.Errorf("source of %s = %s, want %s", k, ld.Sources[k], v)
		}
	}
	if ld.File != p {
		t.Errorf("file = %q, want %q", ld.File, p)
	}
}

func TestFileFromEnv(t *testing.T) {
	p := writeFile(t, "max-conns: 42\n")
	s := newSettings()
	if _, err := Load(s.fs, nil, Options{Environ: []string{EnvFile + "=" + p}}); err != nil {
		t.Fatal(err)
	}
	if s.conns != 42 {
		t.Errorf("max-conns = %d, want 42 from the file PACKETD_CONFIG names", s.conns)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name, file string
		env        []string
		args       []string
		want       string
	}{
		{"unknown key", "max-con: 5\n", nil, nil, "max-con: no such setting; did you mean max-conns?"},
		{"bad value", "max-conns: lots\n", nil, nil, `max-conns: "lots": parse error (open connections at most)`},
		{"bad duration", "keepalive: 30\n", nil, nil, `keepalive: "30": `},
		{"section", "tcp:\n  loops: 2\n", nil, nil, "tcp: a section: settings are flat"},
		{"empty", "tcp:\n", nil, nil, "tcp: no value"},
		{"not a setting", "version: true\n", nil, nil, "version: no such setting"},
		{"bad yaml", "max-conns: [\n", nil, nil, "config file"},
		{"unknown env", "", []string{"PACKETD_MAX_CONN=1"}, nil, `PACKETD_MAX_CONN: no such setting (it would be the key "max-conn"); did you mean max-conns?`},
		{"bad env", "", []string{"PACKETD_FSYNC=maybe"}, nil, `PACKETD_FSYNC: "maybe": `},
		{"missing file", "", nil, []string{"-config", "/nonexistent/packetd.yaml"}, "/nonexistent/packetd.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.file != "" {
				args = append([]string{"-config", writeFile(t, tt.file)}, args...)
			}
			_, err := Load(newSettings().fs, args, Options{Environ: tt.env, Skip: []string{"version"}})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
	if _, err := Load(newSettings().fs, []string{"-h"}, Options{}); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: got %v, want flag.ErrHelp", err)
	}
}

// TestPrintRoundTrip prints the effective settings and loads them back.
func TestPrintRoundTrip(t *testing.T) {
	s := newSettings()
	ld, err := Load(s.fs, []string{"-max-conns", "9", "-tcp", `[::1]:70 "x"`, "-keepalive", "90s", "-fsync=false", "-room", "a b", "-room", "c"}, Options{Skip: []string{"version"}})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Print(&out, s.fs, ld, "version"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "max-conns: 9  # flag\n") || strings.Contains(out.String(), "version") {
		t.Errorf("print:\n%s", out.String())
	}
	s2 := newSettings()
	if _, err := Load(s2.fs, []string{"-config", writeFile(t, out.String())}, Options{Skip: []string{"version"}}); err != nil {
		t.Fatalf("loading the printed settings: %v\n%s", err, out.String())
	}
	if s2.conns != 9 || s2.addr != `[::1]:70 "x"` || s2.keepalive != 90*time.Second || s2.fsync || strings.Join(s2.rooms, "|") != "a b|c" {
		t.Errorf("round trip: got %d %q %v %v %q", s2.conns, s2.addr, s2.keepalive, s2.fsync, s2.rooms)
	}
	// An empty list stays empty.
	s3 := newSettings()
	ld, _ = Load(s3.fs, nil, Options{Skip: []string{"version"}})
	out.Reset()
	Print(&out, s3.fs, ld, "version")
	s4 := newSettings()
	if _, err := Load(s4.fs, []string{"-config", writeFile(t, out.String())}, Options{Skip: []string{"version"}}); err != nil || len(s4.rooms) != 0 {
		t.Errorf("round trip of the defaults: %v, rooms %q", err, s4.rooms)
	}
}
