package store

// Store persists the broker's durable state. It is implemented by *Bolt and
// *Memory; both are safe for concurrent use.
type Store interface {
	// Load returns everything committed. It is meant to be called once at
	// startup, before any Commit.
	Load() (*State, error)

	// Commit makes b durable and then calls done (if not nil) with nil, or
	// with the error that kept b from being written, in which case nothing
	// of b was written. b may be reused as soon as Commit returns.
	//
	// Bolt calls done later, from its own goroutine; Memory calls it before
	// Commit returns. Callers must accept both: done must not block on
	// something the caller holds while calling Commit. done runs in Commit
	// order, and a batch never becomes durable before one committed ahead
	// of it.
	Commit(b *Batch, done func(error))

	// Stats returns the store's counters.
	Stats() Stats

	// Close waits for every pending commit to finish (done is called for
	// each), then closes the store. Later commits fail with ErrClosed. Do
	// not call Close from a done callback.
	Close() error
}

// Stats are a store's counters since it was opened.
type Stats struct {
	Batches      uint64 // batches made durable
	Failed       uint64 // batches whose done got an error
	Bytes        uint64 // Batch.Size of the batches made durable
	Transactions uint64 // write transactions committed (one per group of batches)
	Syncs        uint64 // of those, the ones ended with fsync (none with NoSync, none for Memory)
	Pending      int64  // batches committed whose done has not yet been called
}
