package admin_test

import (
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/server"
	"github.com/packetd/packetd/internal/store"
	"github.com/packetd/packetd/internal/testutil"
)

// TestBackup takes an online backup of a running server's data file and
// opens it: it holds the persistent session and its rooms. A server
// without a data file answers 409.
func TestBackup(t *testing.T) {
	t.Parallel()
	srv, base := start(t, func(c *server.Config) { c.DataDir = t.TempDir() })
	dev := testutil.DialTCP(t, srv)
	dev.HelloWith(&codec.Hello{ClientID: []byte("dev-7"), Persist: true})
	dev.Join(1, "sensors") // acknowledged once durable

	code, body := get(t, base+"/api/backup")
	if code != http.StatusOK || len(body) == 0 {
		t.Fatalf("GET /api/backup: status %d, %d bytes", code, len(body))
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, store.FileName), []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenBolt(store.Config{Dir: dir})
	if err != nil {
		t.Fatalf("opening the backup: %v", err)
	}
	defer st.Close()
	state, err := st.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(state.Sessions) != 1 || state.Sessions[0].ClientID != "dev-7" || !slices.Contains(state.Sessions[0].Rooms, "sensors") {
		t.Errorf("the backup holds %+v, want dev-7 in sensors", state.Sessions)
	}

	_, memBase := start(t, nil) // in memory
	if code, body := get(t, memBase+"/api/backup"); code != http.StatusConflict {
		t.Errorf("backup of an in-memory store: status %d (%s), want 409", code, body)
	}
}
