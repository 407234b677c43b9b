package codec

import (
	"encoding/binary"
	"math"
)

// Body is a decoded packet body. Each implementation encodes as one msgpack
// map whose keys are listed on its type; empty optional fields are left out.
// Byte-slice fields alias the buffer a body was decoded from: copy what must
// outlive it.
type Body interface {
	// Len returns the size of the encoded body in bytes.
	Len() int
	// Append appends the encoded body to b.
	Append(b []byte) []byte

	reset()
	decodeField(d *Decoder, key []byte) error
	check(t Type) error
}

// Hello is the body of HELLO: keys "keepalive", "client_id", "clean",
// "expiry", "inflight", "user", "pass", "token", "pad".
type Hello struct {
	// KeepAlive is the interval, in seconds, at which the client promises
	// to send something (a PING if nothing else). 0 asks for the server's
	// default.
	KeepAlive uint32
	// ClientID names a session that outlives connections: a HELLO with the
	// same ClientID takes the session over (any other connection holding
	// it is closed) and, unless Clean, resumes it. 1 to MaxClientID bytes
	// of UTF-8; empty for an anonymous session.
	ClientID []byte
	// Persist (key "clean" = false) asks to resume the ClientID's session
	// if the server has it, and to keep it after this connection ends, for
	// Expiry. Without it ("clean" absent or true) any stored session of
	// that ClientID is discarded and the new one ends with the connection.
	Persist bool
	// Expiry is how long, in seconds, the server keeps a persistent
	// session after its connection ends; 0 asks for the server's default.
	Expiry uint32
	// Inflight is how many QoS 1 MESSAGEs the client accepts unacknowledged
	// at once; 0 asks for the server's default.
	Inflight uint32
	// User and Pass are credentials for a credentials file: a user name
	// (1 to MaxUser bytes of UTF-8) and its password (at most MaxPass
	// bytes; sent as str, accepted as str or bin).
	User, Pass []byte
	// Token is a signed token (a JWT in its compact form, at most
	// MaxAuthToken bytes) that names the client and its rooms.
	Token []byte
	// Pad is the size of a zero-filled bin sent under "pad" to bring a UDP
	// HELLO up to MinHelloDatagram bytes. Its content is ignored.
	Pad int
}

// MaxClientID is the longest client id, in bytes.
const MaxClientID = 128

// Limits of HELLO's credentials, in bytes. A TCP HELLO must also fit the
// server's frame limit before HELLO (1024 bytes by default), a UDP one its
// datagram limit.
const (
	MaxUser      = 128
	MaxPass      = 255
	MaxAuthToken = 4096
)

func (v *Hello) fields() (n, fields int) {
	add := func(present bool, size int) {
		if present {
			n += size
			fields++
		}
	}
	add(v.KeepAlive != 0, keySize("keepalive")+uintSize(uint64(v.KeepAlive)))
	add(len(v.ClientID) > 0, keySize("client_id")+strSize(len(v.ClientID)))
	add(v.Persist, keySize("clean")+1)
	add(v.Expiry != 0, keySize("expiry")+uintSize(uint64(v.Expiry)))
	add(v.Inflight != 0, keySize("inflight")+uintSize(uint64(v.Inflight)))
	add(len(v.User) > 0, keySize("user")+strSize(len(v.User)))
	add(len(v.Pass) > 0, keySize("pass")+strSize(len(v.Pass)))
	add(len(v.Token) > 0, keySize("token")+strSize(len(v.Token)))
	add(v.Pad > 0, keySize("pad")+binSize(v.Pad))
	return n, fields
}

func (v *Hello) Len() int {
	n, fields := v.fields()
	if fields == 0 {
		return 0
	}
	return containerLenSize(fields) + n
}

func (v *Hello) Append(b []byte) []byte {
	_, fields := v.fields()
	if fields == 0 {
		return b
	}
	b = appendMapLen(b, fields)
	if v.KeepAlive != 0 {
		b = appendUint(appendKey(b, "keepalive"), uint64(v.KeepAlive))
	}
	if len(v.ClientID) > 0 {
		b = appendStr(appendKey(b, "client_id"), v.ClientID)
	}
	if v.Persist {
		b = appendBool(appendKey(b, "clean"), false)
	}
	if v.Expiry != 0 {
		b = appendUint(appendKey(b, "expiry"), uint64(v.Expiry))
	}
	if v.Inflight != 0 {
		b = appendUint(appendKey(b, "inflight"), uint64(v.Inflight))
	}
	if len(v.User) > 0 {
		b = appendStr(appendKey(b, "user"), v.User)
	}
	if len(v.Pass) > 0 {
		b = appendStr(appendKey(b, "pass"), v.Pass)
	}
	if len(v.Token) > 0 {
		b = appendStr(appendKey(b, "token"), v.Token)
	}
	if v.Pad > 0 {
		b = appendZeroBin(appendKey(b, "pad"), v.Pad)
	}
	return b
}

func (v *Hello) reset() {
	*v = Hello{ClientID: v.ClientID[:0], User: v.User[:0], Pass: v.Pass[:0], Token: v.Token[:0]}
}

func (v *Hello) decodeField(d *Decoder, key []byte) (err error) {
	var u uint64
	switch string(key) {
	case "keepalive":
		u, err = d.uint(math.MaxUint32)
		v.KeepAlive = uint32(u)
	case "client_id":
		v.ClientID, err = d.str()
		if err == nil && len(v.ClientID) > MaxClientID {
			err = ErrTooLong
		}
	case "clean":
		var clean bool
		clean, err = d.bool()
		v.Persist = !clean
	case "expiry":
		u, err = d.uint(math.MaxUint32)
		v.Expiry = uint32(u)
	case "inflight":
		u, err = d.uint(math.MaxUint32)
		v.Inflight = uint32(u)
	case "user":
		v.User, err = d.str()
		if err == nil && len(v.User) > MaxUser {
			err = ErrTooLong
		}
	case "pass":
		v.Pass, err = d.strOrBin()
		if err == nil && len(v.Pass) > MaxPass {
			err = ErrTooLong
		}
	case "token":
		v.Token, err = d.str()
		if err == nil && len(v.Token) > MaxAuthToken {
			err = ErrTooLong
		}
	case "pad":
		var pad []byte
		pad, err = d.bin()
		v.Pad = len(pad)
	default:
		err = d.skip(2)
	}
	return err
}

func (v *Hello) check(Type) error {
	if v.Persist && len(v.ClientID) == 0 {
		return &BodyError{Type: TypeHello, Field: "client_id", Err: ErrMissingField}
	}
	return nil
}

// Welcome is the body of WELCOME: keys "sid", "key", "keepalive", "max_frame",
// "max_datagram", "max_rooms", "server", "resumed", "missed", "expiry",
// "inflight", "epoch", "next", "pub_next".
type Welcome struct {
	// SessionID is the session's id in text form, "$" and 16 lowercase hex
	// digits. It is also the name of the session's own room and the "from"
	// of its MESSAGEs: it is public. A resumed session keeps its id.
	SessionID []byte
	// Key, over UDP, is the secret the client puts in front of every
	// datagram (KeyLen bytes, big-endian), on the wire an 8-byte bin. It is
	// random, never 0, and new with each UDP HELLO; it has nothing to do
	// with SessionID. 0 means absent: a WELCOME over TCP carries no key.
	Key uint64
	// KeepAlive is the interval in seconds the server holds the client to;
	// the server ends a session silent for 1.5 times this long.
	KeepAlive   uint32
	MaxFrame    uint32 // largest TCP packet the server accepts, in bytes
	MaxDatagram uint32 // largest UDP datagram the server accepts, in bytes
	MaxRooms    uint32 // rooms a session may join, its own room not counted
	Server      []byte // server software and version, informational
	// Resumed reports that the client's persistent session was resumed:
	// its rooms, and its undelivered QoS 1 messages, which follow.
	Resumed bool
	// Missed counts the QoS 1 messages the session lost to its queue's
	// limits since the client was last told.
	Missed uint64
	// Expiry is how long, in seconds, the server keeps the session after
	// the connection ends; 0 for a session that ends with it.
	Expiry uint32
	// Inflight is how many QoS 1 MESSAGEs the server sends before waiting
	// for ACKs.
	Inflight uint32
	// Epoch identifies the server's run: it changes when the server
	// restarts, and with it the numbering of QoS 1 MESSAGEs.
	Epoch uint32
	// Next, on a resumed session, is the number of the first QoS 1 MESSAGE
	// the server will send: the oldest it has not seen acknowledged. A
	// client that kept its state ignores it; one that lost it starts there.
	Next uint32
	// PubNext, on a resumed session, is the number the server expects on
	// the client's next new QoS 1 EMIT (each QoS 1 EMIT's id is the
	// previous one's plus one). A client that lost its state continues
	// from here; on a new session numbering starts at 1.
	PubNext uint32
	// HasNext and HasPubNext report that the body carries "next" and
	// "pub_next": 0 is a valid number (it follows 4294967295), so a zero
	// field alone cannot tell 0 from absent. Decode sets them. Append
	// writes each of the two keys when its Has field is set, when Resumed
	// is (a resumed session's WELCOME always carries both), or when the
	// number is not 0.
	HasNext, HasPubNext bool
}

func (v *Welcome) uints() [10]uintField {
	return [10]uintField{
		{"keepalive", uint64(v.KeepAlive)},
		{"max_frame", uint64(v.MaxFrame)},
		{"max_datagram", uint64(v.MaxDatagram)},
		{"max_rooms", uint64(v.MaxRooms)},
		{"missed", v.Missed},
		{"expiry", uint64(v.Expiry)},
		{"inflight", uint64(v.Inflight)},
		{"epoch", uint64(v.Epoch)},
		{"next", uint64(v.Next)},
		{"pub_next", uint64(v.PubNext)},
	}
}

// present reports whether the i-th of uints is written.
func (v *Welcome) present(i int, f uintField) bool {
	switch {
	case f.v != 0:
		return true
	case i == 8:
		return v.HasNext || v.Resumed
	case i == 9:
		return v.HasPubNext || v.Resumed
	}
	return false
}

func (v *Welcome) fields() (n, fields int) {
	n, fields = keySize("sid")+strSize(len(v.SessionID)), 1
	if v.Key != 0 {
		n += keySize("key") + binSize(KeyLen)
		fields++
	}
	for i, f := range v.uints() {
		if v.present(i, f) {
			n += keySize(f.k) + uintSize(f.v)
			fields++
		}
	}
	if len(v.Server) > 0 {
		n += keySize("server") + strSize(len(v.Server))
		fields++
	}
	if v.Resumed {
		n += keySize("resumed") + 1
		fields++
	}
	return n, fields
}

func (v *Welcome) Len() int {
	n, fields := v.fields()
	return containerLenSize(fields) + n
}

func (v *Welcome) Append(b []byte) []byte {
	_, fields := v.fields()
	b = appendMapLen(b, fields)
	b = appendStr(appendKey(b, "sid"), v.SessionID)
	if v.Key != 0 {
		b = appendBin64(appendKey(b, "key"), v.Key)
	}
	for i, f := range v.uints() {
		if i == 4 { // keep "server" after the limits, as in version 1's first WELCOMEs
			if len(v.Server) > 0 {
				b = appendStr(appendKey(b, "server"), v.Server)
			}
			if v.Resumed {
				b = appendBool(appendKey(b, "resumed"), true)
			}
		}
		if v.present(i, f) {
			b = appendUint(appendKey(b, f.k), f.v)
		}
	}
	return b
}

type uintField struct {
	k string
	v uint64
}

func (v *Welcome) reset() { *v = Welcome{} }

func (v *Welcome) decodeField(d *Decoder, key []byte) (err error) {
	var dst *uint32
	switch string(key) {
	case "sid":
		v.SessionID, err = d.str()
		return err
	case "key":
		var key []byte
		if key, err = d.bin(); err == nil && len(key) != KeyLen {
			err = ErrFieldType
		}
		if err == nil {
			v.Key = binary.BigEndian.Uint64(key)
		}
		return err
	case "server":
		v.Server, err = d.str()
		return err
	case "resumed":
		v.Resumed, err = d.bool()
		return err
	case "missed":
		v.Missed, err = d.uint(math.MaxUint64)
		return err
	case "keepalive":
		dst = &v.KeepAlive
	case "max_frame":
		dst = &v.MaxFrame
	case "max_datagram":
		dst = &v.MaxDatagram
	case "max_rooms":
		dst = &v.MaxRooms
	case "expiry":
		dst = &v.Expiry
	case "inflight":
		dst = &v.Inflight
	case "epoch":
		dst = &v.Epoch
	case "next":
		dst, v.HasNext = &v.Next, true
	case "pub_next":
		dst, v.HasPubNext = &v.PubNext, true
	default:
		return d.skip(2)
	}
	u, err := d.uint(math.MaxUint32)
	*dst = uint32(u)
	return err
}

func (v *Welcome) check(Type) error {
	if len(v.SessionID) == 0 {
		return &BodyError{Type: TypeWelcome, Field: "sid", Err: ErrMissingField}
	}
	return nil
}

// Rooms is the body of JOIN and LEAVE: key "rooms", a non-empty array of
// room names.
type Rooms struct {
	Rooms [][]byte
}

func (v *Rooms) Len() int {
	return containerLenSize(1) + keySize("rooms") + strListSize(v.Rooms)
}

func (v *Rooms) Append(b []byte) []byte {
	return appendStrList(appendKey(appendMapLen(b, 1), "rooms"), v.Rooms)
}

func (v *Rooms) reset() { v.Rooms = v.Rooms[:0] }

func (v *Rooms) decodeField(d *Decoder, key []byte) (err error) {
	if string(key) == "rooms" {
		v.Rooms, err = d.strList(v.Rooms)
		return err
	}
	return d.skip(2)
}

func (v *Rooms) check(t Type) error {
	if len(v.Rooms) == 0 {
		return &BodyError{Type: t, Field: "rooms", Err: ErrMissingField}
	}
	return nil
}

// Emit is the body of EMIT: keys "rooms" (required, non-empty), "except",
// "event", "data", "echo".
type Emit struct {
	Rooms  [][]byte // deliver to every member of any of these rooms, once
	Except [][]byte // but not to members of any of these rooms
	Event  []byte   // application event name, passed through
	// Data is the application payload: one msgpack value of any type, kept
	// as its raw encoding and passed through unchanged. nil when absent.
	Data []byte
	Echo bool // deliver to the sender too, if it is a recipient
}

func (v *Emit) Len() int {
	n, fields := keySize("rooms")+strListSize(v.Rooms), 1
	if len(v.Except) > 0 {
		n += keySize("except") + strListSize(v.Except)
		fields++
	}
	if len(v.Event) > 0 {
		n += keySize("event") + strSize(len(v.Event))
		fields++
	}
	if v.Data != nil {
		n += keySize("data") + len(v.Data)
		fields++
	}
	if v.Echo {
		n += keySize("echo") + 1
		fields++
	}
	return containerLenSize(fields) + n
}

func (v *Emit) Append(b []byte) []byte {
	fields := 1
	for _, present := range [...]bool{len(v.Except) > 0, len(v.Event) > 0, v.Data != nil, v.Echo} {
		if present {
			fields++
		}
	}
	b = appendMapLen(b, fields)
	b = appendStrList(appendKey(b, "rooms"), v.Rooms)
	if len(v.Except) > 0 {
		b = appendStrList(appendKey(b, "except"), v.Except)
	}
	if len(v.Event) > 0 {
		b = appendStr(appendKey(b, "event"), v.Event)
	}
	if v.Data != nil {
		b = append(appendKey(b, "data"), v.Data...)
	}
	if v.Echo {
		b = appendBool(appendKey(b, "echo"), true)
	}
	return b
}

func (v *Emit) reset() {
	*v = Emit{Rooms: v.Rooms[:0], Except: v.Except[:0]}
}

func (v *Emit) decodeField(d *Decoder, key []byte) (err error) {
	switch string(key) {
	case "rooms":
		v.Rooms, err = d.strList(v.Rooms)
	case "except":
		v.Except, err = d.strList(v.Except)
	case "event":
		v.Event, err = d.str()
	case "data":
		v.Data, err = d.raw()
	case "echo":
		v.Echo, err = d.bool()
	default:
		err = d.skip(2)
	}
	return err
}

func (v *Emit) check(Type) error {
	if len(v.Rooms) == 0 {
		return &BodyError{Type: TypeEmit, Field: "rooms", Err: ErrMissingField}
	}
	return nil
}

// Message is the body of MESSAGE: keys "rooms", "from" (both required),
// "event", "data". Every recipient of one EMIT gets the same bytes: Rooms is
// the EMIT's target list, not the room a recipient matched.
type Message struct {
	Rooms [][]byte
	From  []byte // the sender's session id, which is also its room's name
	Event []byte
	Data  []byte // raw msgpack value, as in Emit
}

func (v *Message) Len() int {
	n, fields := keySize("rooms")+strListSize(v.Rooms)+keySize("from")+strSize(len(v.From)), 2
	if len(v.Event) > 0 {
		n += keySize("event") + strSize(len(v.Event))
		fields++
	}
	if v.Data != nil {
		n += keySize("data") + len(v.Data)
		fields++
	}
	return containerLenSize(fields) + n
}

func (v *Message) Append(b []byte) []byte {
	fields := 2
	if len(v.Event) > 0 {
		fields++
	}
	if v.Data != nil {
		fields++
	}
	b = appendMapLen(b, fields)
	b = appendStrList(appendKey(b, "rooms"), v.Rooms)
	b = appendStr(appendKey(b, "from"), v.From)
	if len(v.Event) > 0 {
		b = appendStr(appendKey(b, "event"), v.Event)
	}
	if v.Data != nil {
		b = append(appendKey(b, "data"), v.Data...)
	}
	return b
}

func (v *Message) reset() { *v = Message{Rooms: v.Rooms[:0]} }

func (v *Message) decodeField(d *Decoder, key []byte) (err error) {
	switch string(key) {
	case "rooms":
		v.Rooms, err = d.strList(v.Rooms)
	case "from":
		v.From, err = d.str()
	case "event":
		v.Event, err = d.str()
	case "data":
		v.Data, err = d.raw()
	default:
		err = d.skip(2)
	}
	return err
}

func (v *Message) check(Type) error {
	if len(v.Rooms) == 0 {
		return &BodyError{Type: TypeMessage, Field: "rooms", Err: ErrMissingField}
	}
	if len(v.From) == 0 {
		return &BodyError{Type: TypeMessage, Field: "from", Err: ErrMissingField}
	}
	return nil
}

// Error is the body of ERROR and BYE: keys "code" and "msg". Code is
// required on ERROR; on BYE it defaults to 0, a normal close.
type Error struct {
	Code uint16
	Msg  []byte
}

func (v *Error) Len() int {
	n, fields := 0, 0
	if v.Code != 0 {
		n += keySize("code") + uintSize(uint64(v.Code))
		fields++
	}
	if len(v.Msg) > 0 {
		n += keySize("msg") + strSize(len(v.Msg))
		fields++
	}
	if fields == 0 {
		return 0
	}
	return containerLenSize(fields) + n
}

func (v *Error) Append(b []byte) []byte {
	fields := 0
	if v.Code != 0 {
		fields++
	}
	if len(v.Msg) > 0 {
		fields++
	}
	if fields == 0 {
		return b
	}
	b = appendMapLen(b, fields)
	if v.Code != 0 {
		b = appendUint(appendKey(b, "code"), uint64(v.Code))
	}
	if len(v.Msg) > 0 {
		b = appendStr(appendKey(b, "msg"), v.Msg)
	}
	return b
}

func (v *Error) reset() { *v = Error{} }

func (v *Error) decodeField(d *Decoder, key []byte) (err error) {
	switch string(key) {
	case "code":
		var c uint64
		c, err = d.uint(math.MaxUint16)
		v.Code = uint16(c)
	case "msg":
		v.Msg, err = d.str()
	default:
		err = d.skip(2)
	}
	return err
}

func (v *Error) check(t Type) error {
	if t == TypeError && v.Code == 0 {
		return &BodyError{Type: t, Field: "code", Err: ErrMissingField}
	}
	return nil
}

// Ping is the body of PING and PONG: key "token", an opaque bin of at most
// MaxToken bytes. A PONG echoes its PING's body byte for byte.
type Ping struct {
	Token []byte
}

// MaxToken is the largest PING token.
const MaxToken = 64

func (v *Ping) Len() int {
	if len(v.Token) == 0 {
		return 0
	}
	return containerLenSize(1) + keySize("token") + binSize(len(v.Token))
}

func (v *Ping) Append(b []byte) []byte {
	if len(v.Token) == 0 {
		return b
	}
	return appendBin(appendKey(appendMapLen(b, 1), "token"), v.Token)
}

func (v *Ping) reset() { *v = Ping{} }

func (v *Ping) decodeField(d *Decoder, key []byte) (err error) {
	if string(key) != "token" {
		return d.skip(2)
	}
	v.Token, err = d.bin()
	if err == nil && len(v.Token) > MaxToken {
		err = ErrTooLong
	}
	return err
}

func (v *Ping) check(Type) error { return nil }

// Empty is the body of ACK: no fields in this version. Any map is accepted
// and its keys skipped.
type Empty struct{}

func (*Empty) Len() int                                 { return 0 }
func (*Empty) Append(b []byte) []byte                   { return b }
func (*Empty) reset()                                   {}
func (*Empty) decodeField(d *Decoder, key []byte) error { return d.skip(2) }
func (*Empty) check(Type) error                         { return nil }

// RawBody is a body already encoded: Append copies it verbatim. A PONG
// echoes its PING's body as a RawBody, byte for byte.
type RawBody []byte

func (r RawBody) Len() int                               { return len(r) }
func (r RawBody) Append(b []byte) []byte                 { return append(b, r...) }
func (RawBody) reset()                                   {}
func (RawBody) decodeField(d *Decoder, key []byte) error { return d.skip(2) }
func (RawBody) check(Type) error                         { return nil }

// AppendPacket appends a packet: h, then body (nil for none).
func AppendPacket(b []byte, h Header, body Body) []byte {
	b = h.Append(b)
	if body != nil {
		b = body.Append(b)
	}
	return b
}

// PacketLen returns the size AppendPacket produces.
func PacketLen(body Body) int {
	if body == nil {
		return HeaderLen
	}
	return HeaderLen + body.Len()
}

// AppendFrame appends a TCP frame: the length prefix, then the packet.
func AppendFrame(b []byte, h Header, body Body) []byte {
	return AppendPacket(AppendFrameLen(b, PacketLen(body)), h, body)
}
