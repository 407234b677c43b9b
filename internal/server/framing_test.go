package server_test

import (
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/testutil"
)

// TestTCPFraming writes the same stream of frames (HELLO, JOIN, then EMIT
// and PING pairs) split in different ways: one byte per write, all in one
// write, and in chunks that straddle frame boundaries. Every request must be
// answered, in order, and every EMIT delivered, whatever the split.
func TestTCPFraming(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		pairs int
		chunk func(i int) int // size of the i-th write
	}{
		{name: "one byte per write", pairs: 40, chunk: func(int) int { return 1 }},
		{name: "all in one write", pairs: 2000, chunk: func(int) int { return 1 << 30 }},
		{name: "chunks across frame boundaries", pairs: 300, chunk: func(i int) int { return 1 + i*7%23 }},
		{name: "length prefix split from packet", pairs: 100, chunk: func(i int) int { return []int{3, 2, 5, 4, 9}[i%5] }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := testutil.Start(t, nil)
			observer := testutil.Dial(t, srv.TCPURL(), nil)
			testutil.Join(t, observer, "r")

			stream := testutil.Frame(codec.Header{Type: codec.TypeHello, ID: 1}, &codec.Hello{})
			stream = append(stream, testutil.Frame(codec.Header{Type: codec.TypeJoin, ID: 2}, testutil.Rooms("r"))...)
			for i := range tt.pairs {
				data, _ := msgpack.Marshal(i)
				emit := &codec.Emit{Rooms: [][]byte{[]byte("r")}, Event: []byte("n"), Data: data, Echo: true}
				stream = codec.AppendFrame(stream, codec.Header{Type: codec.TypeEmit, ID: uint32(1000 + i)}, emit)
				stream = codec.AppendFrame(stream, codec.Header{Type: codec.TypePing, ID: uint32(100000 + i)}, &codec.Ping{Token: data})
			}

			c := testutil.DialTCP(t, srv)
			writes := 0
			for rest := stream; len(rest) > 0; writes++ {
				n := min(tt.chunk(writes), len(rest))
				c.Write(rest[:n])
				rest = rest[n:]
			}
			t.Logf("%d bytes in %d writes", len(stream), writes)

			c.Expect(codec.TypeWelcome, 1)
			c.Expect(codec.TypeAck, 2)
			seen := make(map[uint32]bool)
			for i := range tt.pairs {
				p := c.ExpectType(codec.TypeMessage)
				var m codec.Message
				testutil.Decode(t, p, &m)
				var got int
				if err := msgpack.Unmarshal(m.Data, &got); err != nil || got != i {
					t.Fatalf("message %d: got data %d (err %v), want %d", i, got, err, i)
				}
				if seen[p.ID] {
					t.Fatalf("message %d: id %d seen before", i, p.ID)
				}
				seen[p.ID] = true
				pong := c.Expect(codec.TypePong, uint32(100000+i))
				var tok codec.Ping
				testutil.Decode(t, pong, &tok)
				if string(tok.Token) != string(m.Data) {
					t.Fatalf("PONG %d: got token %x, want %x", i, tok.Token, m.Data)
				}
			}
			for i := range tt.pairs {
				m := testutil.Recv(t, observer)
				var got int
				if err := m.Decode(&got); err != nil || got != i || !seen[m.ID] {
					t.Fatalf("observer message %d: got data %d id %d (err %v), want data %d and an id the sender saw", i, got, m.ID, err, i)
				}
			}
			// The observer's HELLO and JOIN, then the stream.
			if got, want := srv.Stats.FramesIn.Load(), uint64(2+2+2*tt.pairs); got != want {
				t.Errorf("Stats.FramesIn: got %d, want %d", got, want)
			}
		})
	}
}
