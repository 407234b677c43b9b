package tcp

import (
	"net/netip"
	"testing"
)

func TestPerIP(t *testing.T) {
	var p perIP
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	for range 2 {
		if !p.add(a, 2) {
			t.Fatal("refused below the limit")
		}
	}
	if p.add(a, 2) {
		t.Fatal("a third connection from a was admitted with a limit of 2")
	}
	if !p.add(b, 2) {
		t.Fatal("another address was refused")
	}
	p.done(a, 2)
	if !p.add(a, 2) {
		t.Fatal("a place freed by done was not given")
	}
	if p.add(a, 2) {
		t.Fatal("done freed more than the one place it was given back")
	}
	// An IPv6 host counts by its /64; a v4-mapped address as its v4.
	x, y := netip.MustParseAddr("2001:db8:1:2::1"), netip.MustParseAddr("2001:db8:1:2:ffff::9")
	if !p.add(x, 1) || p.add(y, 1) {
		t.Error("two addresses of one /64 counted apart")
	}
	if p.add(netip.MustParseAddr("::ffff:192.0.2.2"), 1) {
		t.Error("a v4-mapped address counted apart from its v4")
	}
	// Loopback is not counted, nor is anything without a limit.
	lo := netip.MustParseAddr("127.0.0.1")
	for range 5 {
		if !p.add(lo, 1) || !p.add(a, 0) {
			t.Fatal("loopback, or no limit, refused")
		}
	}
	for _, k := range []netip.Addr{a, b, x} {
		for range 2 {
			p.done(k, 2)
		}
	}
	p.done(netip.MustParseAddr("::ffff:192.0.2.2"), 1)
	if len(p.n) != 0 {
		t.Errorf("the table keeps %v after every connection closed", p.n)
	}
}
