package impair

import "sync/atomic"

// Stats is a snapshot of a proxy's counters since NewUDP.
type Stats struct {
	Up, Down DirStats // client to server, server to client
	Flows    int      // flows open now
	Opened   uint64   // flows ever opened
	Refused  uint64   // datagrams from new clients dropped: MaxFlows reached, or no upstream socket
}

// DirStats counts one direction's datagrams, summed over flows. Once
// traffic has stopped and every queue has drained,
//
//	Received + Duplicated == Sent + Lost + QueueDrops + Oversize + Errors
type DirStats struct {
	Received   uint64 // datagrams read from the sending side
	Sent       uint64 // datagrams written to the receiving side, copies included
	Lost       uint64 // dropped by Loss
	Duplicated uint64 // extra copies made by Duplicate
	Reordered  uint64 // held by Reorder and overtaken by at least one later datagram
	QueueDrops uint64 // dropped because the flow's queue was at QueueLimit
	Delayed    uint64 // sent by the scheduler rather than at once
	Oversize   uint64 // longer than MaxDatagram, dropped
	Errors     uint64 // writes that failed
}

// counters are one direction's live counts.
type counters struct {
	received, sent, lost, duplicated, reordered atomic.Uint64
	queueDrops, delayed, oversize, errors       atomic.Uint64
}

func (c *counters) snapshot() DirStats {
	return DirStats{
		Received:   c.received.Load(),
		Sent:       c.sent.Load(),
		Lost:       c.lost.Load(),
		Duplicated: c.duplicated.Load(),
		Reordered:  c.reordered.Load(),
		QueueDrops: c.queueDrops.Load(),
		Delayed:    c.delayed.Load(),
		Oversize:   c.oversize.Load(),
		Errors:     c.errors.Load(),
	}
}
