package codec

import "encoding/binary"

// SessionIDLen is the size of the session-id prefix on every datagram a
// client sends to the server over UDP.
//
//	+-------+-- ... --+-------+---------- ... ---------+
//	|  session id (uint64, BE) |  packet (header, body) |
//	+-------+-- ... --+-------+---------- ... ---------+
//
// The id is 0 on a HELLO that opens a new session, and the id the WELCOME
// gave afterwards. Datagrams from the server carry no prefix: they are bare
// packets, byte for byte the same as a TCP frame without its length prefix,
// so one encoding of a broadcast serves both transports.
const SessionIDLen = 8

// DefaultMaxDatagram is the default limit on a UDP datagram's size: CoAP's
// budget for a 1,280-byte path MTU, so no datagram needs IP fragmentation.
const DefaultMaxDatagram = 1152

// AppendSessionID appends the session-id prefix of a client datagram.
func AppendSessionID(b []byte, sid uint64) []byte {
	return binary.BigEndian.AppendUint64(b, sid)
}

// ParseDatagram splits a client-to-server datagram into its session id and
// its packet. The packet's body aliases b.
func ParseDatagram(b []byte) (sid uint64, p Packet, err error) {
	if len(b) < SessionIDLen {
		return 0, Packet{}, ErrShortPacket
	}
	p, err = ParsePacket(b[SessionIDLen:])
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
