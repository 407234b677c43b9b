package broker

import (
	"testing"

	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/acl"
)

// TestEmitAllocsWithPerms: checking a session's permissions on the EMIT
// path allocates nothing, and a denied EMIT is answered with ERROR 207
// naming the room, delivered to nobody, and allocates nothing either.
func TestEmitAllocsWithPerms(t *testing.T) {
	f := newFixture(t, 101, Config{MaxSessions: 200})
	for _, p := range f.peers[1:] {
		f.handle(t, p, codec.TypeJoin, 1, &codec.Rooms{Rooms: rooms1("sensors/a/temp")})
	}
	pub := f.peers[0]
	pub.s.perms.Store(&acl.Perms{Join: acl.MustCompile("control/a"),
		Emit: acl.MustCompile("control/x", "sensors/+/temp", "fleet/#", "$*")})
	pkt, _ := codec.ParsePacket(codec.AppendPacket(nil, codec.Header{Type: codec.TypeEmit},
		&codec.Emit{Rooms: rooms1("sensors/a/temp"), Event: []byte("e"), Data: []byte{0xc4, 1, 7}}))
	run := func() {
		f.b.Handle(f.w, pub, pkt)
		f.w.Flush()
	}
	run()
	before := f.peers[1].frames
	if !raceEnabled {
		if allocs := testing.AllocsPerRun(200, run); allocs != 0 {
			t.Errorf("EMIT with permissions to 100 recipients: %v allocs per message, want 0", allocs)
		}
		if got := f.peers[1].frames - before; got != 201 {
			t.Errorf("recipient got %d frames, want 201", got)
		}
	}

	before = f.peers[1].frames
	f.handle(t, pub, codec.TypeEmit, 7, &codec.Emit{Rooms: rooms1("sensors/a/temp", "sensors/a/humidity")})
	checkForbidden(t, pub, 7, "sensors/a/humidity")
	if got := f.peers[1].frames - before; got != 0 {
		t.Errorf("a denied EMIT reached a recipient (%d frames)", got)
	}
	f.handle(t, pub, codec.TypeJoin, 8, &codec.Rooms{Rooms: rooms1("control/a", "control/b")})
	checkForbidden(t, pub, 8, "control/b")
	if got := f.b.adapter.RoomsOf(pub.s.Name()); len(got) != 1 {
		t.Errorf("rooms after a denied JOIN: %v, want only its own", got)
	}
	if got := f.st.PermissionDenied.Load(); got != 2 {
		t.Errorf("PermissionDenied: got %d, want 2", got)
	}

	// Refusing one allocates nothing either (a client may send nothing
	// else).
	denied, _ := codec.ParsePacket(codec.AppendPacket(nil, codec.Header{Type: codec.TypeEmit, ID: 9},
		&codec.Emit{Rooms: rooms1("sensors/a/humidity"), Event: []byte("e")}))
	refuse := func() {
		f.b.Handle(f.w, pub, denied)
		f.w.Flush()
	}
	refuse()
	checkForbidden(t, pub, 9, "sensors/a/humidity")
	if !raceEnabled {
		if allocs := testing.AllocsPerRun(200, refuse); allocs != 0 {
			t.Errorf("denied EMIT: %v allocs per message, want 0", allocs)
		}
	}
}

func checkForbidden(t *testing.T, p *fakePeer, id uint32, room string) {
	t.Helper()
	reply, err := codec.ParsePacket(p.last[codec.LenPrefixLen:])
	if err != nil {
		t.Fatal(err)
	}
	var e codec.Error
	if reply.Type == codec.TypeError {
		_ = codec.NewDecoder().Decode(reply.Type, reply.Body, &e)
	}
	if reply.Type != codec.TypeError || reply.ID != id || codec.Code(e.Code) != codec.CodeForbidden || string(e.Msg) != "permission denied: "+room {
		t.Errorf("got %v id %d code %d msg %q, want ERROR id %d code 207 msg %q", reply.Type, reply.ID, e.Code, e.Msg, id, "permission denied: "+room)
	}
}
