package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// formatVersion is the record layout (encode.go) this build writes and reads.
const formatVersion uint32 = 1

var (
	bucketMeta     = []byte("meta")     // keyVersion
	bucketMessages = []byte("messages") // Seq (8 bytes big-endian) -> message; Sequence() is the largest Seq ever put
	bucketSessions = []byte("sessions") // ClientID -> session
	keyVersion     = []byte("version")  // 4 bytes big-endian
)

// Bolt is the durable Store: a bbolt file written by one goroutine that
// commits every pending batch in one transaction (group commit). It is safe
// for concurrent use.
type Bolt struct {
	db     *bolt.DB
	cfg    Config
	wake   chan struct{} // capacity 1: batches are pending, or Close was called
	exited chan struct{} // closed when the writer returns
	timer  *time.Timer   // owned by the writer (MaxBatchDelay)

	mu      sync.Mutex // guards the fields below
	pending *group     // batches for the next transaction
	closed  bool

	closeOnce sync.Once
	closeErr  error

	batches, failed, bytes, txs, syncs atomic.Uint64
	inflight                           atomic.Int64
}

// OpenBolt opens or creates the data file Dir/packetd.db and starts its
// writer. It fails at once with ErrLocked if another process has the file
// open, with a *VersionError if a newer packetd wrote it, and with
// ErrNotStore if it is some other bbolt file.
func OpenBolt(cfg Config) (*Bolt, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	path := filepath.Join(cfg.Dir, FileName)
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:      lockTimeout,
		NoSync:       cfg.NoSync,
		FreelistType: bolt.FreelistMapType,
	})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s (lock not acquired in %v)", ErrLocked, path, lockTimeout)
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return prepare(tx, path) }); err != nil {
		db.Close()
		return nil, err
	}
	s := &Bolt{
		db:      db,
		cfg:     cfg,
		wake:    make(chan struct{}, 1),
		exited:  make(chan struct{}),
		timer:   time.NewTimer(time.Hour),
		pending: new(group),
	}
	s.timer.Stop()
	go s.run()
	return s, nil
}

// prepare checks the file's format version, writing it and the buckets into
// a new file. It changes nothing in a file it refuses.
func prepare(tx *bolt.Tx, path string) error {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		if hasBuckets(tx) {
			return fmt.Errorf("%w: %s has buckets but no format version", ErrNotStore, path)
		}
		var err error
		if meta, err = tx.CreateBucket(bucketMeta); err != nil {
			return err
		}
		if err := meta.Put(keyVersion, binary.BigEndian.AppendUint32(nil, formatVersion)); err != nil {
			return err
		}
	}
	v := meta.Get(keyVersion)
	if len(v) != 4 || binary.BigEndian.Uint32(v) == 0 {
		return fmt.Errorf("%w: %s has an invalid format version %x", ErrNotStore, path, v)
	}
	if ver := binary.BigEndian.Uint32(v); ver > formatVersion {
		return &VersionError{Path: path, Found: ver, Supported: formatVersion}
	}
	for _, name := range [][]byte{bucketMessages, bucketSessions} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	return nil
}

func hasBuckets(tx *bolt.Tx) bool {
	k, _ := tx.Cursor().First()
	return k != nil
}

// Load returns everything committed.
func (s *Bolt) Load() (*State, error) {
	var l loader
	var high uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketSessions).ForEach(l.session); err != nil {
			return err
		}
		msgs := tx.Bucket(bucketMessages)
		high = msgs.Sequence()
		return msgs.ForEach(l.message)
	})
	if err != nil {
		return nil, err
	}
	return l.state(high), nil
}

// Stats returns the store's counters.
func (s *Bolt) Stats() Stats {
	return Stats{
		Batches:      s.batches.Load(),
		Failed:       s.failed.Load(),
		Bytes:        s.bytes.Load(),
		Transactions: s.txs.Load(),
		Syncs:        s.syncs.Load(),
		Pending:      s.inflight.Load(),
	}
}

// Close waits for the pending commits, then closes the file. It is
// idempotent.
func (s *Bolt) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.signal()
		<-s.exited
		s.closeErr = s.db.Close()
	})
	return s.closeErr
}
