package bench

import (
	"context"

	"github.com/packetd/packetd/codec"
)

// fanout: -p publishers EMIT to the run's room, which -c subscribers
// joined; every subscriber expects every message of every publisher. The
// subscribers go through the impairment proxy, the publishers do not, so
// that --loss is the loss each delivery sees.
func (e *env) fanout(ctx context.Context) (*Result, error) {
	c := e.cfg
	subs, err := e.open(ctx, e.impaired, c.Clients, role{receiver: true, member: true, readBuf: subscriberBuf(c.Clients)})
	if err != nil {
		return nil, err
	}
	pubs, err := e.open(ctx, e.direct, c.Publishers, role{readBuf: 16 << 10})
	if err != nil {
		return nil, err
	}
	return e.roomTraffic(ctx, pubs, subs)
}

// roomTraffic runs senders EMITting to the run's room, which receivers
// joined: every receiver expects every measured message of every sender
// (fanout and ingest).
func (e *env) roomTraffic(ctx context.Context, senders, receivers []session) (*Result, error) {
	c := e.cfg
	emit := codec.Emit{Rooms: [][]byte{e.room}}
	t := &traffic{rec: e.newRecorder(len(senders), len(receivers))}
	for i, s := range senders {
		sn := newSender(s, t.rec, uint32(i), e.run, c.Size, emit, c.QoS == 1, c.windowFor(e.transport))
		t.senders = append(t.senders, sn)
		t.add(newReceiver(s, nil, sn, c.Size), nil)
	}
	for _, s := range receivers {
		t.add(newReceiver(s, t.rec.NewLocal(), nil, c.Size), t.senders)
	}
	return e.runTraffic(ctx, t)
}

// subscriberBuf sizes a TCP subscriber's read buffer: large enough that
// one read carries thousands of messages, within 64 MiB in all.
func subscriberBuf(n int) int {
	return min(256<<10, max(16<<10, (64<<20)/max(n, 1)))
}
