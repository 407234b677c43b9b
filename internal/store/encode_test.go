package store

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

var testMessages = []struct {
	name string
	m    Message
}{
	{"empty", Message{Seq: 1}},
	{"one recipient", Message{Seq: 2, Frame: []byte("hello"), Recipients: []uint32{0}, Time: 1}},
	{"extremes", Message{Seq: math.MaxUint64, Frame: make([]byte, 300), Recipients: []uint32{math.MaxUint32, 0, 1 << 20}, Time: math.MinInt64}},
	{"typical", Message{Seq: 1 << 40, Frame: []byte(strings.Repeat("x", 128)), Recipients: seqRecipients(100), Time: 1_700_000_000_123_456_789}},
}

var testSessions = []struct {
	name string
	s    Session
}{
	{"minimal", Session{ClientID: "a"}},
	{"full", Session{
		ClientID: "sensor-7", Num: 3, SID: 1<<63 + 5, Rooms: []string{"a", "floor/2", "é", ""},
		Expiry: time.Hour, KeepAlive: 30 * time.Second, Window: 64, Floor: 10, Done: []uint64{12, 15},
		Missed: 2, LastSeen: 1_700_000_000_000_000_000, Created: 1_600_000_000_000_000_000,
	}},
	{"negative", Session{ClientID: "n", Expiry: -1, KeepAlive: math.MinInt64, Window: -1, LastSeen: -5, Created: math.MaxInt64}},
}

func seqRecipients(n int) []uint32 {
	r := make([]uint32, n)
	for i := range r {
		r[i] = uint32(i * 3)
	}
	return r
}

func TestRecordRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tt := range testMessages {
		t.Run("message/"+tt.name, func(t *testing.T) {
			t.Parallel()
			b := appendMessage(nil, &tt.m)
			got, n, err := parseMessage(tt.m.Seq, b)
			if err != nil || n != len(b) {
				t.Fatalf("parseMessage = %d bytes, %v; want %d bytes, nil", n, err, len(b))
			}
			if !reflect.DeepEqual(got, tt.m) {
				t.Errorf("got %+v, want %+v", got, tt.m)
			}
		})
	}
	for _, tt := range testSessions {
		t.Run("session/"+tt.name, func(t *testing.T) {
			t.Parallel()
			b := appendSession(nil, &tt.s)
			got, n, err := parseSession([]byte(tt.s.ClientID), b)
			if err != nil || n != len(b) {
				t.Fatalf("parseSession = %d bytes, %v; want %d bytes, nil", n, err, len(b))
			}
			if !reflect.DeepEqual(got, tt.s) {
				t.Errorf("got %+v, want %+v", got, tt.s)
			}
		})
	}
}

// TestRecordTruncated feeds every strict prefix, and the record plus a
// trailing byte: each must fail.
func TestRecordTruncated(t *testing.T) {
	t.Parallel()
	type parse func([]byte) error
	var tests []struct {
		name  string
		rec   []byte
		parse parse
	}
	for _, tt := range testMessages {
		tests = append(tests, struct {
			name  string
			rec   []byte
			parse parse
		}{"message/" + tt.name, appendMessage(nil, &tt.m), func(b []byte) error { _, _, err := parseMessage(1, b); return err }})
	}
	for _, tt := range testSessions {
		tests = append(tests, struct {
			name  string
			rec   []byte
			parse parse
		}{"session/" + tt.name, appendSession(nil, &tt.s), func(b []byte) error { _, _, err := parseSession(nil, b); return err }})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for i := range len(tt.rec) {
				if err := tt.parse(tt.rec[:i]); !errors.Is(err, errTruncated) {
					t.Errorf("prefix of %d/%d bytes: got %v, want %v", i, len(tt.rec), err, errTruncated)
				}
			}
			if err := tt.parse(append(tt.rec, 0)); !errors.Is(err, errTrailing) {
				t.Errorf("trailing byte: got %v, want %v", err, errTrailing)
			}
		})
	}
}

func TestRecordInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		rec  []byte
		want error
	}{
		// Time 0, then a count of 2^40 recipients in 6 bytes: refused
		// before anything is allocated for it.
		{"huge count", []byte{0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20}, errTruncated},
		{"varint overflow", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, errOverflow},
		{"recipient over 32 bits", []byte{0, 1, 0x80, 0x80, 0x80, 0x80, 0x10, 0}, errRange},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, _, err := parseMessage(1, tt.rec); !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestBatchAllocs(t *testing.T) {
	m := Message{Seq: 1, Frame: make([]byte, 128), Recipients: seqRecipients(100)}
	s := testSessions[1].s
	var b Batch
	fill := func() {
		b.Reset()
		for i := range 10 {
			m.Seq = uint64(i + 1)
			b.PutMessage(&m)
			b.DeleteMessage(m.Seq)
		}
		b.PutSession(&s)
		b.DeleteSession(s.ClientID)
	}
	fill()
	if got := testing.AllocsPerRun(100, fill); got != 0 {
		t.Errorf("filling a reused Batch: got %v allocs, want 0", got)
	}
}

func TestBatchInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		add  func(*Batch)
	}{
		{"message seq 0", func(b *Batch) { b.PutMessage(&Message{}) }},
		{"empty client id", func(b *Batch) { b.PutSession(&Session{}) }},
		{"long client id", func(b *Batch) { b.PutSession(&Session{ClientID: strings.Repeat("x", MaxClientIDLen+1)}) }},
		{"delete empty client id", func(b *Batch) { b.DeleteSession("") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var b Batch
			tt.add(&b)
			if !errors.Is(b.err, ErrInvalidBatch) || b.Len() != 0 {
				t.Errorf("got err %v and %d changes, want %v and 0", b.err, b.Len(), ErrInvalidBatch)
			}
			b.Reset()
			if b.err != nil {
				t.Errorf("after Reset: got err %v, want nil", b.err)
			}
		})
	}
}
