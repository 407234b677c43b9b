package client

import "sync/atomic"

// Stats counts a client's QoS 1 traffic and its reconnections since Dial.
type Stats struct {
	Emitted       uint64 // QoS 1 EMITs accepted by Emit or EmitWait
	Retransmitted uint64 // QoS 1 EMITs sent again with DUP: on the UDP timer, or after a reconnection
	Acked         uint64 // QoS 1 EMITs the server acknowledged
	Failed        uint64 // QoS 1 EMITs that failed: refused, or unacknowledged when the client closed
	Received      uint64 // QoS 1 MESSAGEs received, every copy
	Delivered     uint64 // QoS 1 messages put on Messages: each once
	Duplicates    uint64 // QoS 1 MESSAGEs dropped as delivered or held already (ACKed again)
	Reordered     uint64 // QoS 1 MESSAGEs that came early and were held for a gap to fill
	Late          uint64 // QoS 1 MESSAGEs older than where a fresh client resumed, delivered out of order
	Refused       uint64 // QoS 1 MESSAGEs beyond the window: dropped, not ACKed
	QoS0          uint64 // QoS 0 MESSAGEs received
	Missed        uint64 // QoS 1 messages the server reported lost to its queue limits (WELCOME missed)
	Reconnects    uint64 // successful reconnections
}

type counters struct {
	emitted, retransmitted, acked, failed                     atomic.Uint64
	received, delivered, duplicates, reordered, late, refused atomic.Uint64
	qos0, missed, reconnects                                  atomic.Uint64
}

// Stats returns the client's counters. Safe for concurrent use.
func (c *Client) Stats() Stats {
	s := &c.stats
	return Stats{
		Emitted: s.emitted.Load(), Retransmitted: s.retransmitted.Load(), Acked: s.acked.Load(), Failed: s.failed.Load(),
		Received: s.received.Load(), Delivered: s.delivered.Load(), Duplicates: s.duplicates.Load(),
		Reordered: s.reordered.Load(), Late: s.late.Load(), Refused: s.refused.Load(),
		QoS0: s.qos0.Load(), Missed: s.missed.Load(), Reconnects: s.reconnects.Load(),
	}
}
