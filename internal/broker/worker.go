package broker

import (
	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/auth"
	"github.com/packetd/packetd/internal/deliver"
	"github.com/packetd/packetd/internal/store"
)

// Worker is one goroutine's scratch for the session layer: its Outbox, a
// body decoder, reusable bodies, and what its pass has for the store, so
// handling a packet allocates nothing on the QoS 0 path. It is not safe for
// concurrent use.
type Worker struct {
	Out    *deliver.Outbox
	b      *Broker
	dec    *codec.Decoder
	hello  codec.Hello
	rooms  codec.Rooms
	emit   codec.Emit
	ping   codec.Ping
	msg    codec.Message
	except [][]byte
	denied []byte      // the msg of an ERROR 207
	errMsg codec.Error // the ERROR or BYE being encoded: a body on the heap per refusal would be garbage

	authReq auth.Request // the HELLO being authenticated (Broker.authenticate)

	q         *qmsg        // the QoS 1 message being broadcast, for the Sink
	batch     store.Batch  // this pass's writes
	acks      []pendingAck // ACKs to send once batch is durable
	dirty     []*Session   // sessions whose records this pass must write
	validated []Peer       // UDP peers whose address this pass validated
}

// NewWorker returns a Worker writing to out.
func (b *Broker) NewWorker(out *deliver.Outbox) *Worker {
	return &Worker{Out: out, b: b, dec: codec.NewDecoder()}
}

// Flush ends the pass: what it has for the store is committed (ACKs that
// wait for durability are sent when the commit is done), then everything
// queued is written.
func (w *Worker) Flush() {
	if len(w.validated) > 0 {
		w.b.revalidate(w)
	}
	w.b.commit(w)
	w.Out.Flush()
}

// Commit hands what the pass has for the store to it now, without writing
// the Outbox: for work done outside a pass (a connection closed by gnet).
func (w *Worker) Commit() { w.b.commit(w) }

// Decode decodes p's body into v with the Worker's decoder.
func (w *Worker) Decode(p codec.Packet, v codec.Body) error {
	return w.dec.Decode(p.Type, p.Body, v)
}

// Reply encodes a packet into the Outbox and queues it for r alone.
func (w *Worker) Reply(r deliver.Recipient, h codec.Header, body codec.Body) {
	frame := w.Out.Frame(h, body)
	w.Out.Traffic.Out(byte(h.Type), 1, len(frame)-codec.LenPrefixLen)
	r.Enqueue(w.Out, frame)
}

// Error queues ERROR {code, msg} for r, answering the request with id (0
// for none).
func (w *Worker) Error(r deliver.Recipient, id uint32, code codec.Code) {
	w.errMsg = codec.Error{Code: uint16(code), Msg: codeText(code)}
	w.Reply(r, codec.Header{Type: codec.TypeError, ID: id}, &w.errMsg)
}

// Bye queues BYE {code, msg} for r.
func (w *Worker) Bye(r deliver.Recipient, code codec.Code) {
	w.errMsg = codec.Error{Code: uint16(code), Msg: ByeText(code)}
	w.Reply(r, codec.Header{Type: codec.TypeBye}, &w.errMsg)
}

// ByeText returns the msg of a BYE with code: the code's name, but for
// 302, which the server sends in a BYE only when a QoS 1 MESSAGE stayed
// unacknowledged through every retransmission (PROTOCOL.md 4.9; in an
// ERROR, 302 is the idle timeout its name says).
func ByeText(code codec.Code) []byte {
	if code == codec.CodeIdleTimeout {
		return byeDeliveryTimeout
	}
	return codeText(code)
}

var byeDeliveryTimeout = []byte("QoS 1 message unacknowledged through every retransmission")

func ackHeader(id uint32) codec.Header { return codec.Header{Type: codec.TypeAck, ID: id} }

// codeText returns a code's text without allocating per call.
func codeText(c codec.Code) []byte {
	if t, ok := codeTexts[c]; ok {
		return t
	}
	return []byte(c.String())
}

var codeTexts = func() map[codec.Code][]byte {
	m := make(map[codec.Code][]byte)
	for c := range codec.Code(1000) {
		if c.Known() {
			m[c] = []byte(c.String())
		}
	}
	return m
}()
