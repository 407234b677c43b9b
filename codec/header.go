package codec

import (
	"encoding/binary"
	"strconv"
)

// Version is the wire protocol version this package speaks; it is the first
// byte of every header.
const Version = 1

// HeaderLen is the size of the fixed control header.
//
//	 0       1       2       3       4       5       6       7
//	+-------+-------+-------+-------+-------+-------+-------+-------+
//	|version| type  | flags |  rsv  |     id (uint32, big-endian)   |
//	+-------+-------+-------+-------+-------+-------+-------+-------+
const HeaderLen = 8

// Type is a packet type, the header's second byte. The body of every type is
// either empty or one msgpack map; the comments give the map's keys
// (docs/PROTOCOL.md has the full schema).
type Type uint8

const (
	TypeHello   Type = 0x01 // c→s  {keepalive, client_id, clean, expiry, inflight, pad}; opens or resumes a session
	TypeWelcome Type = 0x02 // s→c  {sid, keepalive, max_frame, max_datagram, max_rooms, server, resumed, missed, expiry, inflight}
	TypeJoin    Type = 0x03 // c→s  {rooms}; answered by ACK or ERROR with the same id
	TypeLeave   Type = 0x04 // c→s  {rooms}; answered by ACK or ERROR with the same id
	TypeEmit    Type = 0x05 // c→s  {rooms, except, event, data, echo}
	TypeMessage Type = 0x06 // s→c  {rooms, from, event, data}; id is the server's message id
	TypeAck     Type = 0x07 // both empty; acknowledges a QoS 1 EMIT (s→c) or MESSAGE (c→s), or a JOIN/LEAVE, by id
	TypePing    Type = 0x08 // both {token}; the peer answers PONG with the same body
	TypePong    Type = 0x09 // both {token}, echoed from the PING
	TypeError   Type = 0x0A // s→c  {code, msg}; id names the failed request, or 0
	TypeBye     Type = 0x0B // both {code, msg}; the session ends
)

var typeNames = [...]string{
	TypeHello:   "HELLO",
	TypeWelcome: "WELCOME",
	TypeJoin:    "JOIN",
	TypeLeave:   "LEAVE",
	TypeEmit:    "EMIT",
	TypeMessage: "MESSAGE",
	TypeAck:     "ACK",
	TypePing:    "PING",
	TypePong:    "PONG",
	TypeError:   "ERROR",
	TypeBye:     "BYE",
}

// Valid reports whether t is a packet type of this protocol version.
func (t Type) Valid() bool { return int(t) < len(typeNames) && typeNames[t] != "" }

func (t Type) String() string {
	if t.Valid() {
		return typeNames[t]
	}
	return "Type(" + strconv.Itoa(int(t)) + ")"
}

// Flags is the header's third byte.
//
//	bit 7..3  reserved, must be 0
//	bit 2     DUP: this packet is a retransmission of one sent before
//	bit 1..0  QoS: 0 at most once, 1 at least once (2 and 3 are invalid)
type Flags uint8

const (
	FlagQoS1     Flags = 0x01 // QoS level 1: at least once
	FlagDup      Flags = 0x04 // retransmission
	flagQoSMask  Flags = 0x03
	flagReserved Flags = 0xF8
)

// QoS returns the delivery level the flags carry.
func (f Flags) QoS() uint8 { return uint8(f & flagQoSMask) }

// Dup reports whether the DUP flag is set.
func (f Flags) Dup() bool { return f&FlagDup != 0 }

// Header is the fixed control header that starts every packet.
type Header struct {
	Type  Type
	Flags Flags
	// ID is a request id chosen by the sender of a request (JOIN, LEAVE,
	// EMIT, PING), echoed by the ACK or ERROR that answers it, or the
	// server's message id on a MESSAGE. 0 means none.
	ID uint32
}

// Len returns HeaderLen; it pairs with Append.
func (h Header) Len() int { return HeaderLen }

// Append appends the encoded header to b.
func (h Header) Append(b []byte) []byte {
	b = append(b, Version, byte(h.Type), byte(h.Flags), 0)
	return binary.BigEndian.AppendUint32(b, h.ID)
}

// ParseHeader decodes the header at the start of b and returns it with the
// number of bytes consumed (always HeaderLen on success).
func ParseHeader(b []byte) (Header, int, error) {
	if len(b) < HeaderLen {
		return Header{}, 0, ErrShortPacket
	}
	if b[0] != Version {
		return Header{}, 0, ErrVersion
	}
	h := Header{Type: Type(b[1]), Flags: Flags(b[2]), ID: binary.BigEndian.Uint32(b[4:8])}
	if !h.Type.Valid() {
		return Header{}, 0, ErrUnknownType
	}
	if h.Flags&flagReserved != 0 || h.Flags.QoS() > 1 {
		return Header{}, 0, ErrFlags
	}
	if b[3] != 0 {
		return Header{}, 0, ErrReserved
	}
	return h, HeaderLen, nil
}

// Packet is a parsed packet: its header and its undecoded body. Body aliases
// the input it was parsed from.
type Packet struct {
	Header
	Body []byte
}

// ParsePacket parses a whole packet (a TCP frame without its length prefix,
// or a datagram without its key prefix). Body decoding is separate:
// see Decoder.
func ParsePacket(b []byte) (Packet, error) {
	h, n, err := ParseHeader(b)
	if err != nil {
		return Packet{}, err
	}
	return Packet{Header: h, Body: b[n:]}, nil
}
