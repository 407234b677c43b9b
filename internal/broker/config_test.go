package broker

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/packetd/packetd/codec"
)

// TestMaxWelcome: at the largest limits Config accepts and the widest
// values a session can reach, the WELCOME is MaxWelcome bytes, within the
// 192 bytes a 64-byte UDP HELLO lets the server send.
func TestMaxWelcome(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1, Config{
		KeepAlive: 65535 * time.Second, MaxKeepAlive: 65535 * time.Second,
		Inflight: 65535, MaxInflight: 65535, MaxRooms: 65535,
		MaxFrame: math.MaxUint32, MaxDatagram: maxUDPPayload,
		Expiry: math.MaxUint32 * time.Second, MaxExpiry: math.MaxUint32 * time.Second,
		Server: strings.Repeat("s", MaxServerName),
	})
	f.b.epoch = math.MaxUint32
	s := f.peers[0].s
	s.mu.Lock()
	s.keepAlive, s.window, s.expiry = 65535*time.Second, 65535, math.MaxUint32*time.Second
	qs := s.qosLocked()
	qs.out.next, qs.pubNext = math.MaxUint32, math.MaxUint32
	w := f.b.welcomeBody(s, f.peers[0], true, math.MaxUint64)
	udp := f.b.welcomeBody(s, &fakePeer{key: math.MaxUint64}, true, math.MaxUint64)
	s.mu.Unlock()
	if got := codec.PacketLen(&w); got != MaxWelcome || got > 3*codec.MinHelloDatagram {
		t.Errorf("largest WELCOME over TCP: %d bytes, want %d (at most %d)", got, MaxWelcome, 3*codec.MinHelloDatagram)
	}
	// Over UDP the key (14 bytes) takes the place of max_frame (15).
	if got := codec.PacketLen(&udp); got != MaxWelcome-1 || udp.Key != math.MaxUint64 || udp.MaxFrame != 0 {
		t.Errorf("largest WELCOME over UDP: %d bytes, key %#x, max_frame %d; want %d bytes, the key, no max_frame",
			got, udp.Key, udp.MaxFrame, MaxWelcome-1)
	}
	// A resumed WELCOME carries next and pub_next even when they are 0.
	s.mu.Lock()
	qs.out.next, qs.pubNext = 0, 0
	w = f.b.welcomeBody(s, f.peers[0], true, 0)
	s.mu.Unlock()
	var got codec.Welcome
	if err := codec.NewDecoder().Decode(codec.TypeWelcome, w.Append(nil), &got); err != nil {
		t.Fatal(err)
	}
	if !got.HasNext || !got.HasPubNext || got.Next != 0 || got.PubNext != 0 {
		t.Errorf("resumed at 0: next %d (present %v), pub_next %d (present %v); want both present, 0",
			got.Next, got.HasNext, got.PubNext, got.HasPubNext)
	}
}

// TestConfigLimits: limits that would widen the WELCOME beyond MaxWelcome,
// or that it cannot carry, are refused.
func TestConfigLimits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
	}{
		{"max keepalive over 65535 s", Config{MaxKeepAlive: 65536 * time.Second}},
		{"max rooms over 65535", Config{MaxRooms: 65536}},
		{"max inflight over 65535", Config{MaxInflight: 65536}},
		{"max datagram over UDP's", Config{MaxDatagram: maxUDPPayload + 1}},
		{"max frame over uint32", Config{MaxFrame: math.MaxUint32 + 1}},
		{"max expiry over uint32 seconds", Config{MaxExpiry: (math.MaxUint32 + 1) * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := tt.cfg.withDefaults(); err == nil {
				t.Errorf("withDefaults: got no error, want one")
			}
		})
	}
	ok := Config{MaxKeepAlive: 65535 * time.Second, MaxRooms: 65535, MaxInflight: 65535}
	if _, err := ok.withDefaults(); err != nil {
		t.Errorf("withDefaults at the largest limits: %v", err)
	}
}
