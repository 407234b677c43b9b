package store

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestBoltConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no dir", Config{}},
		{"negative delay", Config{Dir: "x", MaxBatchDelay: -1}},
		{"negative bytes", Config{Dir: "x", MaxBatchBytes: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := OpenBolt(tt.cfg); !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("got %v, want %v", err, ErrInvalidConfig)
			}
		})
	}
}

func TestBoltCreatesDir(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "a", "b")
	openBolt(t, Config{Dir: dir})
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fi.Mode().Perm(), os.FileMode(0o700); got != want {
		t.Errorf("dir mode: got %v, want %v", got, want)
	}
	if _, err := os.Stat(filepath.Join(dir, FileName)); err != nil {
		t.Errorf("data file: %v", err)
	}
}

// TestBoltLocked opens the same directory twice. flock locks belong to the
// open file, so a second open in this process conflicts as a second
// process would.
func TestBoltLocked(t *testing.T) {
	t.Parallel()
	first := openBolt(t, Config{})
	start := time.Now()
	s, err := OpenBolt(Config{Dir: first.cfg.Dir})
	if err == nil {
		s.Close()
	}
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second OpenBolt: got %v, want %v", err, ErrLocked)
	}
	if d := time.Since(start); d > 5*lockTimeout {
		t.Errorf("second OpenBolt took %v, want about %v", d, lockTimeout)
	}
	t.Log(err)
	first.Close()
	openBolt(t, Config{Dir: first.cfg.Dir}) // free again
}

func TestBoltRefusesFile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		prepare     func(tx *bolt.Tx) error
		wantVersion uint32 // a *VersionError with this Found
		want        error
	}{
		{
			name: "newer version",
			prepare: func(tx *bolt.Tx) error {
				return tx.Bucket(bucketMeta).Put(keyVersion, binary.BigEndian.AppendUint32(nil, formatVersion+1))
			},
			wantVersion: formatVersion + 1,
		},
		{
			name:    "version not 4 bytes",
			prepare: func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyVersion, []byte{1}) },
			want:    ErrNotStore,
		},
		{
			name:    "version 0",
			prepare: func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyVersion, []byte{0, 0, 0, 0}) },
			want:    ErrNotStore,
		},
		{
			name: "another program's file",
			prepare: func(tx *bolt.Tx) error {
				if err := tx.DeleteBucket(bucketMeta); err != nil {
					return err
				}
				_, err := tx.CreateBucket([]byte("theirs"))
				return err
			},
			want: ErrNotStore,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			s := openBolt(t, Config{Dir: dir})
			s.Close()
			rawUpdate(t, dir, tt.prepare)
			before, _ := os.ReadFile(filepath.Join(dir, FileName))

			s, err := OpenBolt(Config{Dir: dir})
			if err == nil {
				s.Close()
			}
			if tt.wantVersion != 0 {
				var ve *VersionError
				if !errors.As(err, &ve) || ve.Found != tt.wantVersion || ve.Supported != formatVersion {
					t.Fatalf("got %v, want a *VersionError for version %d", err, tt.wantVersion)
				}
			} else if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			t.Log(err)
			if after, _ := os.ReadFile(filepath.Join(dir, FileName)); string(after) != string(before) {
				t.Errorf("the refused file was modified")
			}
		})
	}
}

// rawUpdate changes the data file in dir directly, behind the store's back.
func rawUpdate(t *testing.T, dir string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
}

func TestBoltLoadCorrupt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		bucket []byte
		key    []byte
		val    []byte
	}{
		{"truncated message", bucketMessages, messageKey(nil, 1), []byte{0, 5}},
		{"short message key", bucketMessages, []byte{1}, appendMessage(nil, &Message{Seq: 1})},
		{"truncated session", bucketSessions, []byte("c"), []byte{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			openBolt(t, Config{Dir: dir}).Close()
			rawUpdate(t, dir, func(tx *bolt.Tx) error { return tx.Bucket(tt.bucket).Put(tt.key, tt.val) })
			st, err := openBolt(t, Config{Dir: dir}).Load()
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("Load: got %+v, %v; want %v", st, err, ErrCorrupt)
			}
		})
	}
}

// blockWriter commits a batch whose done blocks the writer until the
// returned func is called, so the test can queue batches behind it.
func blockWriter(t *testing.T, s *Bolt) (release func()) {
	t.Helper()
	entered, unblock := make(chan struct{}), make(chan struct{})
	var b Batch
	b.PutSession(&Session{ClientID: "blocker"})
	s.Commit(&b, func(err error) {
		if err != nil {
			t.Errorf("blocker: %v", err)
		}
		close(entered)
		<-unblock
	})
	<-entered
	return sync.OnceFunc(func() { close(unblock) })
}

// TestGroupCommit holds the writer in a done callback while 1,000
// goroutines commit; once released it must write them all in one
// transaction.
func TestGroupCommit(t *testing.T) {
	t.Parallel()
	const n = 1000
	s := openBolt(t, Config{})
	release := blockWriter(t, s)
	defer release()

	var committed, durable sync.WaitGroup
	for i := range n {
		committed.Add(1)
		durable.Add(1)
		go func() {
			var b Batch
			m := msg(uint64(i+1), 1, 2, 3)
			b.PutMessage(&m)
			s.Commit(&b, func(err error) {
				if err != nil {
					t.Errorf("batch %d: %v", i, err)
				}
				durable.Done()
			})
			committed.Done()
		}()
	}
	committed.Wait()
	if got := s.Stats().Pending; got != n { // the blocker is no longer pending
		t.Errorf("pending before release: got %d, want %d", got, n)
	}
	release()
	durable.Wait()
	st := s.Stats()
	if st.Transactions != 2 || st.Syncs != 2 || st.Batches != n+1 {
		t.Errorf("got %d transactions, %d syncs for %d batches; want 2, 2, %d", st.Transactions, st.Syncs, st.Batches, n+1)
	}
	if got := len(reload(t, s).Messages); got != n {
		t.Errorf("messages: got %d, want %d", got, n)
	}
}

// TestGroupCommitConcurrent lets 1,000 goroutines commit at once with
// nothing held back: with fsync taking far longer than a Commit, they must
// share transactions.
func TestGroupCommitConcurrent(t *testing.T) {
	t.Parallel()
	const n = 1000
	s := openBolt(t, Config{})
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			var b Batch
			m := msg(uint64(i+1), 1)
			b.PutMessage(&m)
			<-start
			if err := commit(s, &b); err != nil {
				t.Errorf("batch %d: %v", i, err)
			}
		})
	}
	close(start)
	wg.Wait()
	st := s.Stats()
	t.Logf("%d batches in %d transactions", st.Batches, st.Transactions)
	if st.Transactions > n/2 {
		t.Errorf("got %d transactions for %d concurrent batches, want at most %d", st.Transactions, n, n/2)
	}
}

// TestMaxBatchBytes queues batches behind a held writer and checks how the
// backlog is split into transactions.
func TestMaxBatchBytes(t *testing.T) {
	t.Parallel()
	var one Batch
	m := Message{Seq: 1, Frame: make([]byte, 1000)}
	one.PutMessage(&m)
	size := one.Size()
	tests := []struct {
		name    string
		max     int
		frames  []int // one batch of one message per entry
		wantTxs uint64
	}{
		{"ten per transaction", 10 * size, repeat(1000, 100), 10},
		{"one over the cap", 10*size - 1, repeat(1000, 100), 12}, // 9 per transaction
		{"a batch bigger than the cap goes alone", 3 * size, []int{1000, 5000, 1000}, 3},
		{"default cap takes everything", 0, repeat(1000, 100), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := openBolt(t, Config{MaxBatchBytes: tt.max})
			release := blockWriter(t, s)
			defer release()
			var wg sync.WaitGroup
			var b Batch
			for i, n := range tt.frames {
				b.Reset()
				b.PutMessage(&Message{Seq: uint64(i + 1), Frame: make([]byte, n)})
				wg.Add(1)
				s.Commit(&b, func(err error) {
					if err != nil {
						t.Errorf("batch %d: %v", i, err)
					}
					wg.Done()
				})
			}
			release()
			wg.Wait()
			if got := s.Stats().Transactions - 1; got != tt.wantTxs {
				t.Errorf("got %d transactions, want %d", got, tt.wantTxs)
			}
		})
	}
}

func repeat(v, n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = v
	}
	return s
}

// TestMaxBatchDelay runs in a synctest bubble: the writer waits the delay
// on a fake clock, collecting every batch committed meanwhile.
func TestMaxBatchDelay(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		const delay = 10 * time.Millisecond
		s, err := OpenBolt(Config{Dir: dir, MaxBatchDelay: delay})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var done [3]atomic.Bool
		var b Batch
		for i := range done {
			b.Reset()
			b.PutMessage(&Message{Seq: uint64(i + 1)})
			s.Commit(&b, func(err error) { done[i].Store(err == nil) })
			time.Sleep(delay / 4)
			synctest.Wait()
			if done[i].Load() {
				t.Fatalf("batch %d durable after %v, before the delay", i, delay/4*time.Duration(i+1))
			}
		}
		time.Sleep(delay)
		synctest.Wait()
		for i := range done {
			if !done[i].Load() {
				t.Errorf("after the delay: batch %d not durable, want all", i)
			}
		}
		if got := s.Stats().Transactions; got != 1 {
			t.Errorf("got %d transactions, want 1", got)
		}
	})
}
