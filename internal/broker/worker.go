package broker

import (
	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/deliver"
)

// Worker is one goroutine's scratch for the session layer: its Outbox, a
// body decoder and reusable bodies, so handling a packet allocates nothing.
// It is not safe for concurrent use.
type Worker struct {
	Out    *deliver.Outbox
	dec    *codec.Decoder
	hello  codec.Hello
	rooms  codec.Rooms
	emit   codec.Emit
	ping   codec.Ping
	msg    codec.Message
	except [][]byte
}

// NewWorker returns a Worker writing to out.
func NewWorker(out *deliver.Outbox) *Worker {
	return &Worker{Out: out, dec: codec.NewDecoder()}
}

// Decode decodes p's body into v with the Worker's decoder.
func (w *Worker) Decode(p codec.Packet, v codec.Body) error {
	return w.dec.Decode(p.Type, p.Body, v)
}

// Reply encodes a packet into the Outbox and queues it for r alone.
func (w *Worker) Reply(r deliver.Recipient, h codec.Header, body codec.Body) {
	r.Enqueue(w.Out, w.Out.Frame(h, body))
}

// Error queues ERROR {code, msg} for r, answering the request with id (0
// for none).
func (w *Worker) Error(r deliver.Recipient, id uint32, code codec.Code) {
	w.Reply(r, codec.Header{Type: codec.TypeError, ID: id}, &codec.Error{Code: uint16(code), Msg: codeText(code)})
}

// Bye queues BYE {code, msg} for r.
func (w *Worker) Bye(r deliver.Recipient, code codec.Code) {
	w.Reply(r, codec.Header{Type: codec.TypeBye}, &codec.Error{Code: uint16(code), Msg: codeText(code)})
}

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
