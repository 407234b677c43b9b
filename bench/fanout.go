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
	emit := codec.Emit{Rooms: [][]byte{e.room}}
	t := &traffic{rec: e.newRecorder(c.Publishers, c.Clients)}
	for i, s := range pubs {
		sn := newSender(s, t.rec, uint32(i), e.run, c.Size, emit, c.QoS == 1, c.Window)
		t.senders = append(t.senders, sn)
		t.add(newReceiver(s, nil, sn, c.Size), nil)
	}
	for _, s := range subs {
		t.add(newReceiver(s, t.rec.NewLocal(), nil, c.Size), t.senders)
	}
	return e.runTraffic(ctx, t)
}

// subscriberBuf sizes a TCP subscriber's read buffer: large enough that
// one read carries thousands of messages, within 64 MiB in all.
func subscriberBuf(n int) int {
	return min(256<<10, max(16<<10, (64<<20)/max(n, 1)))
}
