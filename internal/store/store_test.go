package store

import (
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"
)

// kinds are the Store implementations every behaviour test runs against.
var kinds = []struct {
	name string
	open func(t *testing.T) Store
}{
	{"bolt", func(t *testing.T) Store { return openBolt(t, Config{}) }},
	{"memory", func(t *testing.T) Store { return NewMemory() }},
}

// openBolt opens a Bolt store in cfg.Dir (a new temporary directory if
// empty) and closes it when the test ends.
func openBolt(t *testing.T, cfg Config) *Bolt {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	s, err := OpenBolt(cfg)
	if err != nil {
		t.Fatalf("OpenBolt: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// reload returns what s loads; a Bolt store is closed and reopened first, so
// the State comes from the file.
func reload(t *testing.T, s Store) *State {
	t.Helper()
	if b, ok := s.(*Bolt); ok {
		if err := b.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		s = openBolt(t, Config{Dir: b.cfg.Dir})
	}
	st, err := s.Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return st
}

// commit commits b and waits for its done.
func commit(s Store, b *Batch) error {
	ch := make(chan error, 1)
	s.Commit(b, func(err error) { ch <- err })
	return <-ch
}

func msg(seq uint64, recipients ...uint32) Message {
	return Message{Seq: seq, Frame: []byte{byte(seq), 1, 2, 3}, Recipients: recipients, Time: int64(seq) * 1000}
}

func TestStoreOperations(t *testing.T) {
	t.Parallel()
	full := testSessions[1].s
	tests := []struct {
		name     string
		batches  []func(b *Batch)
		wantErrs []error // per batch; nil means all nil
		want     State
	}{
		{
			name: "empty",
			want: State{NextSeq: 1, NextNum: 1},
		},
		{
			name: "round trip",
			batches: []func(b *Batch){func(b *Batch) {
				b.PutSession(&full)
				b.PutMessage(&testMessages[3].m)
				b.PutMessage(&testMessages[1].m)
			}},
			want: State{
				Sessions: []Session{full},
				Messages: []Message{testMessages[1].m, testMessages[3].m},
				NextSeq:  1<<40 + 1, NextNum: 298,
			},
		},
		{
			name: "messages load in seq order",
			batches: []func(b *Batch){
				func(b *Batch) { m := msg(300); b.PutMessage(&m); m = msg(2); b.PutMessage(&m) },
				func(b *Batch) { m := msg(1 << 40); b.PutMessage(&m); m = msg(256); b.PutMessage(&m) },
			},
			want: State{Messages: []Message{msg(2), msg(256), msg(300), msg(1 << 40)}, NextSeq: 1<<40 + 1, NextNum: 1},
		},
		{
			name: "delete in a later batch",
			batches: []func(b *Batch){
				func(b *Batch) { m := msg(1); b.PutMessage(&m); m = msg(2); b.PutMessage(&m) },
				func(b *Batch) { b.DeleteMessage(1) },
			},
			want: State{Messages: []Message{msg(2)}, NextSeq: 3, NextNum: 1},
		},
		{
			name: "put and delete in one batch",
			batches: []func(b *Batch){
				func(b *Batch) { m := msg(5); b.PutMessage(&m); b.DeleteMessage(5) },
			},
			want: State{NextSeq: 6, NextNum: 1},
		},
		{
			name: "delete then put in one batch",
			batches: []func(b *Batch){
				func(b *Batch) { b.DeleteMessage(5); m := msg(5); b.PutMessage(&m) },
			},
			want: State{Messages: []Message{msg(5)}, NextSeq: 6, NextNum: 1},
		},
		{
			name: "next seq survives deleting every message",
			batches: []func(b *Batch){
				func(b *Batch) { m := msg(7); b.PutMessage(&m); m = msg(9); b.PutMessage(&m) },
				func(b *Batch) { b.DeleteMessage(9); b.DeleteMessage(7) },
			},
			want: State{NextSeq: 10, NextNum: 1},
		},
		{
			name: "delete missing records",
			batches: []func(b *Batch){
				func(b *Batch) { b.DeleteMessage(42); b.DeleteSession("nobody") },
			},
			want: State{NextSeq: 1, NextNum: 1},
		},
		{
			name: "put replaces",
			batches: []func(b *Batch){
				func(b *Batch) {
					m := msg(3, 1)
					b.PutMessage(&m)
					b.PutSession(&Session{ClientID: "c", Num: 1, Floor: 1})
				},
				func(b *Batch) {
					m := msg(3, 2)
					b.PutMessage(&m)
					b.PutSession(&Session{ClientID: "c", Num: 2, Floor: 2})
				},
			},
			want: State{Sessions: []Session{{ClientID: "c", Num: 2, Floor: 2}}, Messages: []Message{msg(3, 2)}, NextSeq: 4, NextNum: 3},
		},
		{
			name: "delete session, then put it again",
			batches: []func(b *Batch){
				func(b *Batch) {
					b.PutSession(&Session{ClientID: "a", Num: 1})
					b.PutSession(&Session{ClientID: "b", Num: 2})
				},
				func(b *Batch) { b.DeleteSession("a"); b.DeleteSession("b") },
				func(b *Batch) { b.PutSession(&Session{ClientID: "b", Num: 3}) },
			},
			want: State{Sessions: []Session{{ClientID: "b", Num: 3}}, NextSeq: 1, NextNum: 4},
		},
		{
			name: "sessions load in client id order",
			batches: []func(b *Batch){func(b *Batch) {
				for _, id := range []string{"b", "a", "B", "ab"} {
					b.PutSession(&Session{ClientID: id})
				}
			}},
			want: State{Sessions: []Session{{ClientID: "B"}, {ClientID: "a"}, {ClientID: "ab"}, {ClientID: "b"}}, NextSeq: 1, NextNum: 1},
		},
		{
			name: "next seq above floors and done",
			batches: []func(b *Batch){func(b *Batch) {
				b.PutSession(&Session{ClientID: "a", Floor: 100})
				b.PutSession(&Session{ClientID: "b", Floor: 90, Done: []uint64{95, 105}})
			}},
			want: State{Sessions: []Session{{ClientID: "a", Floor: 100}, {ClientID: "b", Floor: 90, Done: []uint64{95, 105}}}, NextSeq: 106, NextNum: 1},
		},
		{
			name: "next num above recipients of deleted sessions",
			batches: []func(b *Batch){func(b *Batch) {
				m := msg(1, 7, 3)
				b.PutMessage(&m)
				b.PutSession(&Session{ClientID: "x", Num: 2})
			}},
			want: State{Sessions: []Session{{ClientID: "x", Num: 2}}, Messages: []Message{msg(1, 7, 3)}, NextSeq: 2, NextNum: 8},
		},
		{
			name: "an invalid batch writes nothing, the next one succeeds",
			batches: []func(b *Batch){
				func(b *Batch) { m := msg(1); b.PutMessage(&m); b.PutMessage(&Message{}) },
				func(b *Batch) { m := msg(2); b.PutMessage(&m) },
			},
			wantErrs: []error{ErrInvalidBatch, nil},
			want:     State{Messages: []Message{msg(2)}, NextSeq: 3, NextNum: 1},
		},
		{
			name: "empty batch",
			batches: []func(b *Batch){
				func(b *Batch) {},
			},
			want: State{NextSeq: 1, NextNum: 1},
		},
	}
	for _, k := range kinds {
		for _, tt := range tests {
			t.Run(k.name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				s := k.open(t)
				var b Batch
				for i, fill := range tt.batches {
					b.Reset()
					fill(&b)
					var want error
					if tt.wantErrs != nil {
						want = tt.wantErrs[i]
					}
					if err := commit(s, &b); !errors.Is(err, want) || (want == nil) != (err == nil) {
						t.Fatalf("batch %d: got %v, want %v", i, err, want)
					}
				}
				got := reload(t, s)
				if !reflect.DeepEqual(*got, tt.want) {
					t.Errorf("got  %+v\nwant %+v", *got, tt.want)
				}
			})
		}
	}
}

// TestBatchReuse checks that Commit copies the batch and the caller's
// buffers: they are overwritten right after Commit returns.
func TestBatchReuse(t *testing.T) {
	t.Parallel()
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			s := k.open(t)
			var b Batch
			frame := []byte("first")
			var wg sync.WaitGroup
			for i := range 2 {
				b.Reset()
				b.PutMessage(&Message{Seq: uint64(i + 1), Frame: frame})
				wg.Add(1)
				s.Commit(&b, func(error) { wg.Done() })
				copy(frame, "xxxxx")
				b.Reset()
				b.PutMessage(&Message{Seq: 99})
			}
			wg.Wait()
			got := reload(t, s).Messages
			want := []Message{{Seq: 1, Frame: []byte("first")}, {Seq: 2, Frame: []byte("xxxxx")}}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %+v, want %+v", got, want)
			}
		})
	}
}

// TestDoneOrder commits from several goroutines; the order in which they
// call Commit (serialised here by mu) must be the order of the callbacks.
func TestDoneOrder(t *testing.T) {
	t.Parallel()
	const goroutines, perGoroutine = 8, 200
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			s := k.open(t)
			var (
				mu, doneMu sync.Mutex
				next       int
				got        []int
				wg         sync.WaitGroup
			)
			for range goroutines {
				wg.Go(func() {
					var b Batch
					for range perGoroutine {
						mu.Lock()
						i := next
						next++
						b.Reset()
						b.PutMessage(&Message{Seq: uint64(i + 1)})
						wg.Add(1)
						s.Commit(&b, func(err error) {
							if err != nil {
								t.Errorf("batch %d: %v", i, err)
							}
							doneMu.Lock()
							got = append(got, i)
							doneMu.Unlock()
							wg.Done()
						})
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			for i, v := range got {
				if v != i {
					t.Fatalf("callback %d is batch %d, want %d", i, v, i)
				}
			}
			if len(got) != goroutines*perGoroutine {
				t.Errorf("got %d callbacks, want %d", len(got), goroutines*perGoroutine)
			}
			st := s.Stats()
			if st.Batches != goroutines*perGoroutine || st.Pending != 0 || st.Failed != 0 {
				t.Errorf("Stats: got %+v, want %d batches, 0 pending, 0 failed", st, goroutines*perGoroutine)
			}
		})
	}
}

func TestCommitAfterClose(t *testing.T) {
	t.Parallel()
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			s := k.open(t)
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			var b Batch
			b.PutMessage(&Message{Seq: 1})
			if err := commit(s, &b); !errors.Is(err, ErrClosed) {
				t.Errorf("got %v, want %v", err, ErrClosed)
			}
			if err := s.Close(); err != nil {
				t.Errorf("second Close: got %v, want nil", err)
			}
		})
	}
}

// TestCloseWaitsForPending commits without waiting, closes, and expects
// every callback to have run, successfully, before Close returned.
func TestCloseWaitsForPending(t *testing.T) {
	t.Parallel()
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			s := k.open(t)
			const n = 500
			var b Batch
			var mu sync.Mutex
			var called int
			for i := range n {
				b.Reset()
				b.PutMessage(&Message{Seq: uint64(i + 1), Time: time.Now().UnixNano()})
				s.Commit(&b, func(err error) {
					if err != nil {
						t.Errorf("batch %d: %v", i, err)
					}
					mu.Lock()
					called++
					mu.Unlock()
				})
			}
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if called != n {
				t.Errorf("callbacks before Close returned: got %d, want %d", called, n)
			}
		})
	}
}
