package server_test

import (
	"context"
	"slices"
	"testing"

	"github.com/packetd/packetd/client"
	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/testutil"
	"github.com/packetd/packetd/rooms"
)

// TestRoomEvents follows one session through connect, join, leave and
// disconnect and checks the adapter's events against the order the rooms
// package documents; disconnecting leaves every room, and a room another
// session is still in survives.
func TestRoomEvents(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		open func(t *testing.T, srv *testutil.Server) roomSession
	}{
		{name: "tcp client says BYE", open: func(t *testing.T, srv *testutil.Server) roomSession {
			c := testutil.Dial(t, srv.TCPURL(), nil)
			return goRoomSession(t, c)
		}},
		{name: "udp client says BYE", open: func(t *testing.T, srv *testutil.Server) roomSession {
			c := testutil.Dial(t, srv.UDPURL(), nil)
			return goRoomSession(t, c)
		}},
		{name: "tcp connection dropped without BYE", open: func(t *testing.T, srv *testutil.Server) roomSession {
			c := testutil.DialTCP(t, srv)
			w := c.Hello(0)
			id := uint32(0)
			return roomSession{
				sid:  string(w.SessionID),
				join: func(rooms ...string) { id++; c.Join(id, rooms...) },
				leave: func(rooms ...string) {
					id++
					c.Send(codec.Header{Type: codec.TypeLeave, ID: id}, testutil.Rooms(rooms...))
					c.Expect(codec.TypeAck, id)
				},
				end: func() { _ = c.Close() },
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := testutil.Start(t, nil)
			events := testutil.RecordEvents(t, srv.Adapter)
			observer := testutil.Dial(t, srv.TCPURL(), nil)
			testutil.Join(t, observer, "shared")

			s := tt.open(t, srv)
			s.join("a", "b", "a", "shared")
			s.join("b") // already in: no events
			s.leave("a", "nowhere")
			if got, want := srv.Adapter.RoomsOf(s.sid), []string{s.sid, "b", "shared"}; !slices.Equal(got, want) {
				t.Errorf("RoomsOf before disconnect: got %q, want %q", got, want)
			}
			s.end()
			events.Wait(t, rooms.Event{Kind: rooms.LeaveRoom, Room: "shared", Member: s.sid})

			ev := func(k rooms.EventKind, room, member string) rooms.Event {
				return rooms.Event{Kind: k, Room: room, Member: member}
			}
			want := []rooms.Event{
				ev(rooms.CreateRoom, s.sid, ""),
				ev(rooms.JoinRoom, s.sid, s.sid),
				ev(rooms.CreateRoom, "a", ""),
				ev(rooms.JoinRoom, "a", s.sid),
				ev(rooms.CreateRoom, "b", ""),
				ev(rooms.JoinRoom, "b", s.sid),
				ev(rooms.JoinRoom, "shared", s.sid),
				ev(rooms.LeaveRoom, "a", s.sid),
				ev(rooms.DeleteRoom, "a", ""),
				// Disconnect: every room in join order, own room first.
				ev(rooms.LeaveRoom, s.sid, s.sid),
				ev(rooms.DeleteRoom, s.sid, ""),
				ev(rooms.LeaveRoom, "b", s.sid),
				ev(rooms.DeleteRoom, "b", ""),
				ev(rooms.LeaveRoom, "shared", s.sid),
			}
			got := events.Of(s.sid, "a", "b", "shared")
			if !slices.Equal(got, want) {
				t.Errorf("events:\ngot  %v\nwant %v", got, want)
			}
			if got := srv.Adapter.RoomsOf(s.sid); got != nil {
				t.Errorf("RoomsOf after disconnect: got %q, want nil", got)
			}
			if got, want := srv.Adapter.Members("shared"), []string{observer.SessionID()}; !slices.Equal(got, want) {
				t.Errorf("Members(shared) after disconnect: got %q, want %q", got, want)
			}
			for _, r := range []string{"a", "b", s.sid} {
				if got := srv.Adapter.Members(r); got != nil {
					t.Errorf("Members(%q) after disconnect: got %q, want nil (room deleted)", r, got)
				}
			}
		})
	}
}

// roomSession is what a TestRoomEvents case does with its transport.
type roomSession struct {
	sid   string
	join  func(rooms ...string)
	leave func(rooms ...string)
	end   func()
}

// goRoomSession drives a Go client for TestRoomEvents.
func goRoomSession(t *testing.T, c *client.Client) roomSession {
	return roomSession{
		sid:  c.SessionID(),
		join: func(rooms ...string) { testutil.Join(t, c, rooms...) },
		leave: func(rooms ...string) {
			ctx, cancel := context.WithTimeout(context.Background(), testutil.Timeout)
			defer cancel()
			if err := c.Leave(ctx, rooms...); err != nil {
				t.Fatalf("Leave(%q): %v", rooms, err)
			}
		},
		end: func() { _ = c.Close() },
	}
}
