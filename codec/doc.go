// Package codec is packetd's wire contract: the fixed binary control header,
// the TCP length prefix, the UDP key prefix, and the msgpack bodies of
// every packet type. docs/PROTOCOL.md specifies the same bytes in prose, and
// the tests check both against the hex vectors in testdata/.
//
// A packet is an 8-byte header followed by a body:
//
//	 0       1       2       3       4       5       6       7
//	+-------+-------+-------+-------+-------+-------+-------+-------+
//	|version| type  | flags |  rsv  |      id (uint32, big-endian)  |  body...
//	+-------+-------+-------+-------+-------+-------+-------+-------+
//
// The body is empty or one msgpack map. Over TCP each packet is preceded by
// its length (uint32, big-endian); over UDP a client prefixes each datagram
// with its 64-bit session id, and the server sends bare packets.
//
// Protocol flow:
//
//	client                                server
//	HELLO {keepalive}            ─────▶
//	                             ◀─────   WELCOME {sid, keepalive, limits}
//	JOIN id=7 {rooms}            ─────▶
//	                             ◀─────   ACK id=7  (or ERROR id=7 {code, msg})
//	EMIT {rooms, except, event, data} ─▶  MESSAGE {rooms, from, event, data}
//	                                      to every other member, id = message id
//	PING {token}                 ─────▶
//	                             ◀─────   PONG {token}
//	BYE                          ─────▶   (either side; the session ends)
//
// Parsing never allocates: ParseHeader, SplitFrame and ParseDatagram return
// values and slices of their input, and a reused Decoder decodes bodies into
// reused targets whose byte-slice fields alias the input. Encoding is
// append-style (Header.Append, Body.Append, AppendFrame) with matching Len
// methods. The functions are safe for concurrent use; a Decoder or a
// FrameReader is not.
package codec
