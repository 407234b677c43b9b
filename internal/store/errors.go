package store

import (
	"errors"
	"fmt"
)

// Errors returned by the store. Open and Load wrap them with the path or the
// record concerned; compare with errors.Is.
var (
	// ErrInvalidConfig is wrapped by OpenBolt's errors for an invalid Config.
	ErrInvalidConfig = errors.New("store: invalid config")

	// ErrLocked is returned by OpenBolt when another process (or another
	// Bolt in this one) has the data file open.
	ErrLocked = errors.New("store: data file in use by another process")

	// ErrNotStore is returned by OpenBolt for a bbolt file without packetd's
	// format version: another program's database, or a damaged one.
	ErrNotStore = errors.New("store: not a packetd data file")

	// ErrCorrupt is returned by Load when a record cannot be decoded.
	ErrCorrupt = errors.New("store: corrupt record")

	// ErrClosed is passed to done for a batch committed after Close.
	ErrClosed = errors.New("store: closed")

	// ErrInvalidBatch is passed to done for a batch holding a record the
	// store cannot write: a message with Seq 0, a session whose ClientID is
	// empty or longer than MaxClientIDLen. Nothing of that batch is written.
	ErrInvalidBatch = errors.New("store: invalid record in batch")
)

// VersionError is returned by OpenBolt for a data file written by a newer
// packetd, in a format this build does not know. The file is left untouched.
type VersionError struct {
	Path      string
	Found     uint32 // the file's format version
	Supported uint32 // the newest version this build reads
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("store: %s has data format version %d, newer than the %d this build supports: run a newer packetd or use another directory",
		e.Path, e.Found, e.Supported)
}
