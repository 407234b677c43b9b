package tcp

import (
	"net"
	"net/netip"
	"sync"
)

// perIP counts the open connections of each client address, for
// Config.MaxConnsPerIP. IPv6 addresses count by their /64 (one host's
// share of a network); loopback addresses are not counted (local tools,
// benchmarks and reverse proxies).
type perIP struct {
	loopback bool       // count loopback addresses too (Config.LimitLoopback)
	mu       sync.Mutex // guards n
	n        map[netip.Addr]int32
}

// ipKey returns the address ip counts under, and false if it is not
// counted (loopback, unless loopback is set).
func ipKey(ip netip.Addr, loopback bool) (netip.Addr, bool) {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() && !loopback {
		return netip.Addr{}, false
	}
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.Addr(), true
	}
	return ip, true
}

// add counts a connection from ip and reports true, or reports false if
// ip has most open already (most 0: no limit).
func (p *perIP) add(ip netip.Addr, most int) bool {
	k, ok := ipKey(ip, p.loopback)
	if !ok || most <= 0 {
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n == nil {
		p.n = make(map[netip.Addr]int32)
	}
	if int(p.n[k]) >= most {
		return false
	}
	p.n[k]++
	return true
}

// done uncounts a connection from ip that add counted.
func (p *perIP) done(ip netip.Addr, most int) {
	k, ok := ipKey(ip, p.loopback)
	if !ok || most <= 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n[k] <= 1 {
		delete(p.n, k) // the map holds only addresses with connections
	} else {
		p.n[k]--
	}
}

// remoteIP returns the address of an accepted connection.
func remoteIP(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}
