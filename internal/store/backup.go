package store

import (
	"fmt"
	"io"

	bolt "go.etcd.io/bbolt"
)

// Backup writes a consistent copy of the data file to w while the store
// runs: a read transaction sees the last commit, and commits go on beside
// it (bbolt's Tx.WriteTo). The copy is a data file packetd opens as it is
// (named FileName in a -data-dir). It returns the bytes written.
func (s *Bolt) Backup(w io.Writer) (int64, error) {
	var n int64
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("store: backup: %w", err)
	}
	return n, nil
}
