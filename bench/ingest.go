package bench

import "context"

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
	return e.roomTraffic(ctx, devices, sinks)
}
