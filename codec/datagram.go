package codec

import "encoding/binary"

// KeyLen is the size of the key prefix on every datagram a client sends to
// the server over UDP.
//
//	+-------+-- ... --+-------+---------- ... ---------+
//	|    key (uint64, BE)      |  packet (header, body) |
//	+-------+-- ... --+-------+---------- ... ---------+
//
// The key is 0 on a HELLO that opens a session, and afterwards the key the
// WELCOME gave (Welcome.Key): a secret, unlike the session id, which the
// server never takes as a prefix. Datagrams from the server carry no
// prefix: they are bare packets, byte for byte the same as a TCP frame
// without its length prefix, so one encoding of a broadcast serves both
// transports.
const KeyLen = 8

// DefaultMaxDatagram is the default limit on a UDP datagram's size: CoAP's
// budget for a 1,280-byte path MTU, so no datagram needs IP fragmentation.
const DefaultMaxDatagram = 1152

// AppendKey appends the key prefix of a client datagram.
func AppendKey(b []byte, key uint64) []byte {
	return binary.BigEndian.AppendUint64(b, key)
}

// ParseDatagram splits a client-to-server datagram into its key and its
// packet. The packet's body aliases b.
func ParseDatagram(b []byte) (key uint64, p Packet, err error) {
	if len(b) < KeyLen {
		return 0, Packet{}, ErrShortPacket
	}
	p, err = ParsePacket(b[KeyLen:])
	if err != nil {
		return 0, Packet{}, err
	}
	return binary.BigEndian.Uint64(b), p, nil
}

// MinHelloDatagram is the smallest datagram that may carry a HELLO. The
// server answers an unvalidated address with at most three times the bytes
// it received from it (anti-amplification), so a client pads its HELLO
// (Hello.Pad) to leave room for the WELCOME. Smaller HELLOs are dropped.
const MinHelloDatagram = 64
