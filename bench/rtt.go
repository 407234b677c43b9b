package bench

import (
	"context"

	"github.com/packetd/packetd/codec"
)

// rtt: -c clients, each EMITting to its own session room with echo, so
// that the server sends each message straight back: latency is the round
// trip. With -r each client sends at that rate; without, in a closed loop
// (the next message when the previous one is back, or after a second).
// The clients go through the impairment proxy, both ways.
func (e *env) rtt(ctx context.Context) (*Result, error) {
	c := e.cfg
	clients, err := e.open(ctx, e.impaired, c.Clients, role{receiver: true, readBuf: 64 << 10})
	if err != nil {
		return nil, err
	}
	t := &traffic{rec: e.newRecorder(c.Clients, c.Clients), closed: true}
	for i, s := range clients {
		emit := codec.Emit{Rooms: [][]byte{s.info().sid}, Echo: true}
		sn := newSender(s, t.rec, uint32(i), e.run, c.Size, emit, c.QoS == 1, c.windowFor(e.transport))
		t.senders = append(t.senders, sn)
		t.add(newReceiver(s, t.rec.NewLocal(), sn, c.Size), []*sender{sn})
	}
	return e.runTraffic(ctx, t)
}
