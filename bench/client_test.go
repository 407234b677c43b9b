package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"math/rand/v2"
	"net"
	"slices"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/packetd/packetd/codec"
)

// fakeTCP is a tcpSession without a connection: enough to encode.
func fakeTCP() *tcpSession { return &tcpSession{maxFrame: codec.DefaultMaxFrame} }

func fakeUDP() *udpSession {
	return &udpSession{welcome: welcomeInfo{key: 0xc4e1a7093b6d52f8}}
}

// TestSenderRecord checks that a sender's records are the EMITs codec
// encodes, with the payload and id in place, over both transports.
func TestSenderRecord(t *testing.T) {
	for _, s := range []session{fakeTCP(), fakeUDP()} {
		emit := codec.Emit{Rooms: [][]byte{[]byte("room")}, Echo: true}
		sn := newSender(s, NewRecorder(RecorderConfig{}), 7, 42, 100, emit, true, 10)
		p := Payload{Publisher: 7, Seq: 1, Sent: 123456789, Run: 42}
		got := sn.appendMsg(nil, p.Sent, 9)
		emit.Data = AppendPayload(nil, p, 100)
		want := s.appendPacket(nil, codec.Header{Type: codec.TypeEmit, Flags: codec.FlagQoS1, ID: 9}, &emit)
		if string(got) != string(want) {
			t.Errorf("%T: got record\n%x\nwant\n%x", s, got, want)
		}
	}
}

// TestReceiverFindsPayload checks the fast path that finds a MESSAGE's
// payload without decoding, and the decoding fallback.
func TestReceiverFindsPayload(t *testing.T) {
	p := Payload{Publisher: 3, Seq: 5, Sent: 1, Run: 9}
	for _, size := range []int{24, 64, 300, 70000} {
		data := AppendPayload(nil, p, size)
		r := newReceiver(fakeTCP(), nil, nil, size)
		for _, msg := range []codec.Message{
			{Rooms: [][]byte{[]byte("r")}, From: []byte("$0123456789abcdef"), Data: data},
			{Rooms: [][]byte{[]byte("r")}, From: []byte("$0123456789abcdef"), Event: []byte("e"), Data: data},
		} {
			pkt := codec.AppendPacket(nil, codec.Header{Type: codec.TypeMessage, ID: 1}, &msg)
			got, ok := ParsePayload(r.data(pkt))
			if !ok || got != p {
				t.Errorf("size %d: got %+v, %v, want %+v", size, got, ok, p)
			}
		}
		// Another size: the fast path misses, decoding finds it.
		r = newReceiver(fakeTCP(), nil, nil, size+1)
		pkt := codec.AppendPacket(nil, codec.Header{Type: codec.TypeMessage, ID: 1},
			&codec.Message{Rooms: [][]byte{[]byte("r")}, From: []byte("$0123456789abcdef"), Data: data})
		if got, ok := ParsePayload(r.data(pkt)); !ok || got != p {
			t.Errorf("size %d, fallback: got %+v, %v, want %+v", size, got, ok, p)
		}
	}
}

// TestHotPathAllocs: building a message and handling a MESSAGE (ACK
// included) allocate nothing.
func TestHotPathAllocs(t *testing.T) {
	rec := NewRecorder(RecorderConfig{Run: 42, Start: time.Unix(0, 1)})
	s := fakeTCP()
	sn := newSender(s, rec, 0, 42, 64, codec.Emit{Rooms: [][]byte{[]byte("room")}}, false, 10)
	buf := make([]byte, 0, 1<<20)
	if n := testing.AllocsPerRun(1000, func() { buf = sn.appendMsg(buf[:0], 100, 0) }); n != 0 {
		t.Errorf("appendMsg: got %v allocs, want 0", n)
	}
	r := newReceiver(s, rec.NewLocal(), nil, 64)
	r.out = make([]byte, 0, 1<<20)
	msg := codec.Message{Rooms: [][]byte{[]byte("room")}, From: []byte("$0123456789abcdef")}
	seq := uint64(0)
	pkt := func() []byte {
		seq++
		msg.Data = AppendPayload(msg.Data[:0], Payload{Seq: seq, Sent: 100, Run: 42}, 64)
		return codec.AppendPacket(nil, codec.Header{Type: codec.TypeMessage, Flags: codec.FlagQoS1, ID: 1}, &msg)
	}
	pkts := make([][]byte, 3000)
	for i := range pkts {
		pkts[i] = pkt()
	}
	r.handle(pkts[0]) // the publisher's Flow
	i := 1
	if n := testing.AllocsPerRun(1000, func() {
		r.handle(pkts[i])
		i++
		r.out = r.out[:0]
	}); n != 0 {
		t.Errorf("handle: got %v allocs, want 0", n)
	}
}

// TestWindow checks QoS 1 numbering, acknowledgement and retransmission.
func TestWindow(t *testing.T) {
	w := newWindow(3, true)
	var ids []uint32
	for range 4 {
		ids = append(ids, w.take())
	}
	if want := []uint32{1, 2, 3, 0}; !slices.Equal(ids, want) {
		t.Fatalf("got ids %v, want %v (the 4th: window full)", ids, want)
	}
	rec := codec.AppendFrame(nil, codec.Header{Type: codec.TypeEmit, Flags: codec.FlagQoS1, ID: 2}, nil)
	w.keep(2, rec)
	w.ack(1)
	w.ack(3)
	w.ack(7) // not in flight: ignored
	if got := w.take(); got != 4 {
		t.Errorf("after ACK 1: got id %d, want 4", got)
	}
	if w.empty() {
		t.Error("got empty with 2 and 4 unacknowledged")
	}
	// Make 2 due: it is resent with DUP.
	w.mu.Lock()
	w.slots[2%w.size].due = 0
	w.mu.Unlock()
	out := w.appendDue(nil, codec.LenPrefixLen)
	if len(out) != len(rec) || codec.Flags(out[codec.LenPrefixLen+2]) != codec.FlagQoS1|codec.FlagDup ||
		binary.BigEndian.Uint32(out[codec.LenPrefixLen+4:]) != 2 {
		t.Errorf("got resend %x, want EMIT 2 with DUP", out)
	}
	if resends, acked := w.counts(); resends != 1 || acked != 2 {
		t.Errorf("got %d resends, %d acked, want 1, 2", resends, acked)
	}
	w.ack(2)
	w.ack(4)
	if !w.empty() {
		t.Error("got not empty after every ACK")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := w.wait(ctx); err == nil {
		// A token from the ACKs may come first; the next wait sees ctx.
		if err := w.wait(ctx); err == nil {
			t.Error("wait: got nil after cancel")
		}
	}
}

func TestGROSegment(t *testing.T) {
	oob := unix.UnixRights(3) // another control message first
	c := make([]byte, unix.CmsgSpace(4))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&c[0]))
	h.Level, h.Type = unix.SOL_UDP, unix.UDP_GRO
	h.SetLen(unix.CmsgLen(4))
	binary.NativeEndian.PutUint32(c[unix.CmsgLen(0):], 97)
	oob = append(oob, c...)
	if got := groSegment(oob); got != 97 {
		t.Errorf("got segment %d, want 97", got)
	}
	if got := groSegment(oob[:len(oob)-len(c)]); got != 0 {
		t.Errorf("without UDP_GRO: got %d, want 0", got)
	}
	// each splits a coalesced run into its datagrams.
	s := &udpSession{buf: []byte("0123456789abcdefghijklmnopqrstuv!!"), seg: 16}
	var got []string
	s.each(func(pkt []byte) { got = append(got, string(pkt)) })
	if want := []string{"0123456789abcdef", "ghijklmnopqrstuv"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q (the 2-byte tail is no packet)", got, want)
	}
}

// TestTCPSessionFrames feeds a tcpSession frames split at random points,
// some larger than its buffer, and checks that it hands each one over
// whole, in order.
func TestTCPSessionFrames(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var stream []byte
	var want [][]byte
	for i := range 300 {
		body := codec.RawBody(bytes.Repeat([]byte{byte(i)}, (i*37)%2000))
		pkt := codec.AppendPacket(nil, codec.Header{Type: codec.TypeMessage, ID: uint32(i)}, body)
		want = append(want, pkt)
		stream = codec.AppendFrame(stream, codec.Header{Type: codec.TypeMessage, ID: uint32(i)}, body)
	}
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		rng := rand.New(rand.NewPCG(1, 2))
		for b := stream; len(b) > 0; {
			n := min(len(b), 1+rng.IntN(3000))
			if _, err := c.Write(b[:n]); err != nil {
				return
			}
			b = b[n:]
			time.Sleep(10 * time.Microsecond)
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := &tcpSession{c: c.(*net.TCPConn), buf: make([]byte, 512), maxFrame: codec.DefaultMaxFrame}
	defer s.Close()
	var got [][]byte
	for len(got) < len(want) {
		if err := s.recv(func(pkt []byte) { got = append(got, bytes.Clone(pkt)) }); err != nil {
			t.Fatalf("after %d packets: %v", len(got), err)
		}
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("packet %d: got %d bytes, want %d", i, len(got[i]), len(want[i]))
		}
	}
}
