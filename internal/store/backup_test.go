package store

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestBackup copies a store while it runs and opens the copy: it holds
// what was committed before the backup.
func TestBackup(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenBolt(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	done := make(chan error, 1)
	b := &Batch{}
	b.PutSession(&Session{ClientID: "dev-1"})
	s.Commit(b, func(err error) { done <- err })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	n, err := s.Backup(&buf)
	if err != nil || n != int64(buf.Len()) || n == 0 {
		t.Fatalf("Backup = %d, %v; wrote %d bytes", n, err, buf.Len())
	}
	copyDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(copyDir, FileName), buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := OpenBolt(Config{Dir: copyDir})
	if err != nil {
		t.Fatalf("opening the backup: %v", err)
	}
	defer c.Close()
	st, err := c.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Sessions) != 1 || st.Sessions[0].ClientID != "dev-1" {
		t.Errorf("backup holds sessions %+v, want dev-1", st.Sessions)
	}
}
