package client

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/packetd/packetd/codec"
)

// fakeTransport records what is sent and never answers.
type fakeTransport struct {
	mu      sync.Mutex // guards the fields below
	sent    []sentPacket
	aborted bool
}

type sentPacket struct {
	at time.Time
	h  codec.Header
}

func (f *fakeTransport) handshake(context.Context, uint32, *codec.Hello, *codec.Welcome) error {
	return nil
}

func (f *fakeTransport) send(h codec.Header, _ codec.Body) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, sentPacket{time.Now(), h})
	return nil
}

func (f *fakeTransport) recv() ([]byte, error) { select {} }
func (f *fakeTransport) unreliable() bool      { return true }
func (f *fakeTransport) close() error          { return nil }

func (f *fakeTransport) abort() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.aborted = true
	return nil
}

func (f *fakeTransport) emits() []sentPacket {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []sentPacket
	for _, p := range f.sent {
		if p.h.Type == codec.TypeEmit {
			out = append(out, p)
		}
	}
	return out
}

// fakeClient is a UDP client on a fake transport with its retransmission
// goroutine running (in the caller's synctest bubble).
func fakeClient(t *testing.T, o Options) (*Client, *fakeTransport) {
	o, err := o.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	c := newClient("udp", "fake", o)
	ft := &fakeTransport{}
	if !c.establish(&conn{t: ft}, &codec.Welcome{SessionID: []byte("$0000000000000001"), Epoch: 1}, false) {
		t.Fatal("establish failed")
	}
	c.wg.Add(1)
	go c.retransmitLoop()
	return c, ft
}

// TestRetransmitSchedule: an unacknowledged QoS 1 EMIT is resent with
// DUP after RetryTimeout (randomised up to 1.5 times), then after twice
// as long each time, and fails with ErrTimeout MaxRetries resends later.
func TestRetransmitSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const retry = time.Second
		c, ft := fakeClient(t, Options{RetryTimeout: retry, MaxRetries: 4})
		defer c.Close()
		start := time.Now()
		err := c.EmitWait(t.Context(), Emit{Rooms: []string{"r"}})
		if !errors.Is(err, ErrTimeout) {
			t.Fatalf("EmitWait = %v, want ErrTimeout", err)
		}
		sent := ft.emits()
		if len(sent) != 5 {
			t.Fatalf("%d transmissions, want 5", len(sent))
		}
		first := sent[1].at.Sub(sent[0].at)
		if first < retry || first > retry*3/2 {
			t.Errorf("first timeout %v, want within [%v, %v]", first, retry, retry*3/2)
		}
		for i, p := range sent {
			want := codec.FlagQoS1
			if i > 0 {
				want |= codec.FlagDup
			}
			if p.h.Flags != want || p.h.ID != sent[0].h.ID {
				t.Errorf("transmission %d: flags %#x id %d, want %#x id %d", i, p.h.Flags, p.h.ID, want, sent[0].h.ID)
			}
			if i > 0 {
				if got, want := p.at.Sub(sent[i-1].at), first<<(i-1); got != want {
					t.Errorf("wait before transmission %d: %v, want %v", i, got, want)
				}
			}
		}
		if got, want := time.Since(start), first*31; got != want {
			t.Errorf("gave up after %v, want %v (1 + 2 + 4 + 8 + 16 timeouts)", got, want)
		}
		if s := c.Stats(); s.Retransmitted != 4 || s.Failed != 1 {
			t.Errorf("stats %+v, want 4 retransmissions, 1 failure", s)
		}
	})
}

// TestRetransmitGivesUpConnection: with Reconnect, an EMIT resent in vain
// ends the connection, not the EMIT: it waits for the next connection.
func TestRetransmitGivesUpConnection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, ft := fakeClient(t, Options{RetryTimeout: time.Second, MaxRetries: 2,
			ClientID: "x", Persist: true, Reconnect: true})
		defer c.Close()
		if err := c.Emit(Emit{Rooms: []string{"r"}, QoS: 1}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		ft.mu.Lock()
		aborted := ft.aborted
		ft.mu.Unlock()
		if !aborted || len(ft.emits()) != 3 {
			t.Errorf("after a minute: connection aborted %v, %d transmissions; want aborted after 3", aborted, len(ft.emits()))
		}
		if s := c.Stats(); s.Failed != 0 {
			t.Errorf("%d EMITs failed, want 0: kept for the next connection", s.Failed)
		}
		// A new connection resends it at once, with DUP.
		next := &fakeTransport{}
		c.establish(&conn{t: next}, &codec.Welcome{SessionID: []byte("$0000000000000001"), Epoch: 1, Resumed: true}, true)
		if got := next.emits(); len(got) != 1 || got[0].h.Flags != codec.FlagQoS1|codec.FlagDup {
			t.Errorf("on the new connection: %+v, want one EMIT with QoS1|DUP", got)
		}
	})
}

func TestJitter(t *testing.T) {
	for _, d := range []time.Duration{0, 1, 100 * time.Millisecond, 10 * time.Second} {
		for range 100 {
			if j := jitter(d); j < d/2 || j > d {
				t.Fatalf("jitter(%v) = %v, want within [%v, %v]", d, j, d/2, d)
			}
		}
	}
}

// TestRequestIDsAvoidNumbers: request ids skip the numbers of QoS 1 EMITs
// awaiting their answer and the next ones to be used, where the two
// counters meet (after a resume from a pub_next near the top, say).
func TestRequestIDsAvoidNumbers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := fakeClient(t, Options{})
		defer c.Close()
		c.mu.Lock()
		c.pub.renumberLocked(math.MaxUint32 - 9)
		c.mu.Unlock()
		if err := c.Emit(Emit{Rooms: []string{"r"}, QoS: 1}); err != nil { // number 4294967286, pending
			t.Fatal(err)
		}
		for range 3000 {
			id := c.newID()
			c.mu.Lock()
			_, pending := c.pub.byID[id]
			ahead := id - c.pub.nextID
			c.mu.Unlock()
			if id == 0 || pending || ahead < 2*dedupIDs {
				t.Fatalf("request id %d: zero, pending or among the next QoS 1 numbers (next %d)", id, c.pub.nextID)
			}
		}
	})
}
