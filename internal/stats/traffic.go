package stats

import "sync/atomic"

// NumTypes bounds the packet types Traffic counts by: the header's type
// byte; larger values are counted as type 0.
const NumTypes = 16

// Traffic counts packets and their bytes (header and body: without the
// TCP length prefix or the UDP datagram key) by packet type, received and
// sent, for one goroutine: each event loop and timer has its own (its
// Outbox's), so the adds never contend. Stats.Traffic sums them. The
// counters are atomic: safe to read while the owner adds.
type Traffic struct {
	in, out [NumTypes]Count
}

// Count is a number of packets and of their bytes.
type Count struct {
	Packets, Bytes atomic.Uint64
}

// In counts one packet of type typ and n bytes received.
func (t *Traffic) In(typ byte, n int) {
	c := &t.in[index(typ)]
	c.Packets.Add(1)
	c.Bytes.Add(uint64(n))
}

// Out counts packets of type typ, bytes in all, queued for sending.
func (t *Traffic) Out(typ byte, packets, bytes int) {
	c := &t.out[index(typ)]
	c.Packets.Add(uint64(packets))
	c.Bytes.Add(uint64(bytes))
}

func index(typ byte) int {
	if int(typ) >= NumTypes {
		return 0
	}
	return int(typ)
}

// TrafficTotals is the sum of every Traffic of a Stats, by packet type.
type TrafficTotals struct {
	InPackets, InBytes, OutPackets, OutBytes [NumTypes]uint64
}

// NewTraffic returns a Traffic counted in s's totals. Make one per
// long-lived goroutine (an Outbox's), not per pass: it is never freed.
func (s *Stats) NewTraffic() *Traffic {
	t := new(Traffic)
	s.trafficMu.Lock()
	s.traffic = append(s.traffic, t)
	s.trafficMu.Unlock()
	return t
}

// Traffic returns the sum of the counts of every Traffic NewTraffic made.
func (s *Stats) Traffic() TrafficTotals {
	s.trafficMu.Lock()
	list := s.traffic
	s.trafficMu.Unlock()
	var tt TrafficTotals
	for _, t := range list {
		for i := range NumTypes {
			tt.InPackets[i] += t.in[i].Packets.Load()
			tt.InBytes[i] += t.in[i].Bytes.Load()
			tt.OutPackets[i] += t.out[i].Packets.Load()
			tt.OutBytes[i] += t.out[i].Bytes.Load()
		}
	}
	return tt
}
