package bench

import (
	"encoding/binary"
	"sync/atomic"
	"time"

	"github.com/packetd/packetd/codec"
)

// receiver reads one session: it measures the MESSAGEs it is sent
// (through its Local), acknowledges QoS 1 ones (one write per read),
// hands the server's ACKs to the session's sender, and answers PINGs.
// Subscribers do not decode MESSAGEs: the payload is the last value of
// the body, so it is found at a fixed distance from the end.
//
// One goroutine runs it; got and err are read by others.
type receiver struct {
	sess  session
	local *Local    // nil: a session that measures nothing
	pub   *sender   // the session's sender, if it has one
	from  []*sender // whose every measured message it expects
	size  int       // payload bytes (-s)
	dlen  int       // PayloadLen(size): the data value's length
	bin   byte      // the data value's first byte
	fn    func(pkt []byte)

	now   int64  // unix nanoseconds of the current read
	n     int64  // measured first copies in the current read
	early int64  // warmup messages in the current read
	out   []byte // ACKs and PONGs of the current read
	fatal error  // an ERROR or BYE from the server
	reads int64  // reads that delivered a measured message
	split int64  // TCP reads that ended inside a frame
	dec   *codec.Decoder
	msg   codec.Message

	got     atomic.Int64 // measured first copies delivered
	all     atomic.Int64 // first copies delivered, warmup included
	last    atomic.Int64 // unix nanoseconds of the latest read that delivered one
	closing atomic.Bool  // the run closes the session: errors are expected
}

func newReceiver(s session, local *Local, pub *sender, size int) *receiver {
	r := &receiver{sess: s, local: local, pub: pub, size: size, dlen: PayloadLen(size)}
	r.bin = AppendPayload(nil, Payload{}, size)[0]
	r.fn = r.handle
	return r
}

// run reads until the session fails or is closed, or the server ends it.
// It returns nil if the run closed the session.
func (r *receiver) run() error {
	if r.local != nil {
		defer func() { r.local.AddReads(r.reads, r.split) }()
	}
	tcp, _ := r.sess.(*tcpSession)
	for {
		if err := r.sess.read(); err != nil {
			if r.closing.Load() {
				return nil
			}
			return err
		}
		r.now = time.Now().UnixNano()
		if r.local != nil {
			r.local.Begin() // one lock for the read's messages
		}
		err := r.sess.each(r.fn)
		if r.local != nil {
			r.local.End()
		}
		if len(r.out) > 0 {
			if werr := r.sess.send(r.out); werr != nil && err == nil && !r.closing.Load() {
				err = werr
			}
			r.out = r.out[:0]
		}
		if r.n > 0 {
			r.got.Add(r.n)
			r.last.Store(r.now)
			r.reads++
		}
		if tcp != nil && tcp.w > tcp.r && r.local != nil {
			r.split++
		}
		if r.n+r.early > 0 {
			r.all.Add(r.n + r.early)
			r.n, r.early = 0, 0
		}
		if err == nil {
			err = r.fatal
		}
		if err != nil {
			if r.closing.Load() {
				return nil
			}
			return err
		}
	}
}

func (r *receiver) handle(pkt []byte) {
	id := binary.BigEndian.Uint32(pkt[4:])
	switch codec.Type(pkt[1]) {
	case codec.TypeMessage:
		if codec.Flags(pkt[2])&codec.FlagQoS1 != 0 {
			r.out = r.sess.appendPacket(r.out, codec.Header{Type: codec.TypeAck, ID: id}, nil)
		}
		if r.local == nil {
			return
		}
		p, ok := ParsePayload(r.data(pkt))
		if !ok {
			return
		}
		switch r.local.Observe(p, r.now, r.size) {
		case OutcomeInOrder, OutcomeOutOfOrder:
			r.n++
		case OutcomeEarly:
			r.early++
		default: // a duplicate, or another run's
			return
		}
		if r.pub != nil && p.Publisher == r.pub.index {
			r.pub.echoed()
		}
	case codec.TypeAck:
		if r.pub != nil && r.pub.win != nil {
			r.pub.win.ack(id)
		}
	case codec.TypePing:
		r.out = r.sess.appendPacket(r.out, codec.Header{Type: codec.TypePong, ID: id}, codec.RawBody(pkt[codec.HeaderLen:]))
	case codec.TypeError, codec.TypeBye:
		if r.fatal == nil && id != pingID {
			r.fatal = serverError(codec.Type(pkt[1]), pkt)
		}
	}
}

// data returns the MESSAGE's data value. The server writes the body's
// keys in order, data last, so the value of a message from this run ends
// the packet; anything else is decoded.
func (r *receiver) data(pkt []byte) []byte {
	if i := len(pkt) - r.dlen; i >= codec.HeaderLen+5 && pkt[i] == r.bin && string(pkt[i-5:i]) == "\xa4data" {
		return pkt[i:]
	}
	if r.dec == nil {
		r.dec = codec.NewDecoder()
	}
	if r.dec.Decode(codec.TypeMessage, pkt[codec.HeaderLen:], &r.msg) != nil {
		return nil
	}
	return r.msg.Data
}
