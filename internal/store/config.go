package store

import (
	"fmt"
	"log/slog"
	"time"
)

const (
	// FileName is the data file's name in Config.Dir.
	FileName = "packetd.db"

	defaultMaxBatchBytes = 16 << 20

	// lockTimeout is how long OpenBolt waits for another process to let go
	// of the data file: long enough to ride out a restart in which the old
	// process is still exiting, short enough to fail fast.
	lockTimeout = 500 * time.Millisecond
)

// Config configures a Bolt store. The zero value of every field but Dir
// means its documented default; OpenBolt validates it.
type Config struct {
	// Dir is the data directory, created with mode 0700 if missing. The
	// data file is Dir/packetd.db. Required.
	Dir string

	// NoSync skips fsync. A process crash (kill -9, panic, OOM kill) then
	// still loses nothing whose done has fired: the data has been written
	// to the kernel. A machine crash (power loss, kernel panic, VM reset)
	// loses whatever the kernel had not yet written back (up to ~30 s with
	// Linux defaults), and since nothing orders the writes, can leave a
	// data file Load refuses as corrupt.
	NoSync bool

	// MaxBatchDelay is how long the writer waits, after the first batch of
	// a group arrives, for more batches to share the transaction: latency
	// traded for throughput. It stops waiting once MaxBatchBytes are
	// pending. Zero (the default) means no wait: batches still group while
	// the previous transaction is being written.
	MaxBatchDelay time.Duration

	// MaxBatchBytes caps the payload (Batch.Size) of one transaction; a
	// bigger backlog is written in several. A single larger batch is still
	// written, alone. Zero means 16 MiB.
	MaxBatchBytes int

	// Logger receives commit failures. Nil means none.
	Logger *slog.Logger

	// Observe, if set, is called after each write transaction that
	// succeeded with how long it took, fsync included: for a latency
	// histogram. It runs on the writer goroutine and must be quick.
	Observe func(time.Duration)
}

// withDefaults validates c and returns it with defaults filled in.
func (c Config) withDefaults() (Config, error) {
	if c.Dir == "" {
		return c, fmt.Errorf("%w: Dir is empty", ErrInvalidConfig)
	}
	if c.MaxBatchDelay < 0 {
		return c, fmt.Errorf("%w: MaxBatchDelay is %v, want >= 0", ErrInvalidConfig, c.MaxBatchDelay)
	}
	if c.MaxBatchBytes < 0 {
		return c, fmt.Errorf("%w: MaxBatchBytes is %d, want >= 0", ErrInvalidConfig, c.MaxBatchBytes)
	}
	if c.MaxBatchBytes == 0 {
		c.MaxBatchBytes = defaultMaxBatchBytes
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}
