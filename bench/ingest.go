package bench

import (
	"context"

	"github.com/packetd/packetd/codec"
)

// ingest: -c devices each EMIT at -r messages/s (default 10) to the run's
// room, which --sinks subscribers joined: the server's ingest rate, and
// what reaches the sinks. The devices go through the impairment proxy,
// the sinks do not.
func (e *env) ingest(ctx context.Context) (*Result, error) {
	c := e.cfg
	sinks, err := e.open(ctx, e.direct, c.Sinks, role{receiver: true, member: true, readBuf: 256 << 10})
	if err != nil {
		return nil, err
	}
	devices, err := e.open(ctx, e.impaired, c.Clients, role{readBuf: 4 << 10})
	if err != nil {
		return nil, err
	}
	emit := codec.Emit{Rooms: [][]byte{e.room}}
	t := &traffic{rec: e.newRecorder(c.Clients, c.Sinks)}
	for i, s := range devices {
		sn := newSender(s, t.rec, uint32(i), e.run, c.Size, emit, c.QoS == 1, c.Window)
		t.senders = append(t.senders, sn)
		t.add(newReceiver(s, nil, sn, c.Size), nil)
	}
	for _, s := range sinks {
		t.add(newReceiver(s, t.rec.NewLocal(), nil, c.Size), t.senders)
	}
	return e.runTraffic(ctx, t)
}
