package main

import (
	"errors"
	"io"
	"testing"

	"github.com/packetd/packetd/internal/admin"
)

// TestAdminAddrRefused checks that packetd refuses to start with an admin
// address that is not loopback, from a flag or from the environment,
// unless -admin-allow-remote.
func TestAdminAddrRefused(t *testing.T) {
	base := []string{"-tcp", "127.0.0.1:0", "-udp", "127.0.0.1:0", "-memory"}
	for _, tt := range []struct {
		name    string
		args    []string
		environ []string
	}{
		{"flag", append([]string{"-admin-addr", "0.0.0.0:0"}, base...), nil},
		{"environment", base, []string{"PACKETD_ADMIN_ADDR=:0"}},
	} {
		if err := run(tt.args, tt.environ, io.Discard); !errors.Is(err, admin.ErrRemote) {
			t.Errorf("%s: got %v, want ErrRemote", tt.name, err)
		}
	}
	o, err := parse(append([]string{"-admin-addr", "0.0.0.0:0", "-admin-allow-remote", "-admin-pprof"}, base...), nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if want := (admin.Config{Addr: "0.0.0.0:0", AllowRemote: true, Pprof: true}); o.cfg.Admin != want {
		t.Errorf("-admin-* flags: got %+v, want %+v", o.cfg.Admin, want)
	}
}
