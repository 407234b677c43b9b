package store

import (
	"bufio"
	"bytes"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Environment variables that turn a test binary into a child process.
const (
	crashEnv = "PACKETD_STORE_TEST_CRASH_DIR"
	fsizeEnv = "PACKETD_STORE_TEST_FSIZE_DIR"
)

// child runs this test binary as a child process running only the test
// named test, with env=dir.
func child(t *testing.T, test, env, dir string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), env+"="+dir)
	return cmd
}

// crashKeep is how many messages the crash workload keeps: batch seq deletes
// message seq-crashKeep.
const crashKeep = 50

// crashBatch fills b with batch number seq of the crash workload: one new
// message, the deletion of an old one, and one of five sessions rewritten.
func crashBatch(b *Batch, seq uint64) {
	frame := make([]byte, 50+seq%200)
	for i := range frame {
		frame[i] = byte(seq + uint64(i))
	}
	b.PutMessage(&Message{Seq: seq, Frame: frame, Recipients: []uint32{uint32(seq % 7), uint32(seq % 11)}, Time: int64(seq)})
	if seq > crashKeep {
		b.DeleteMessage(seq - crashKeep)
	}
	b.PutSession(&Session{ClientID: "c" + strconv.Itoa(int(seq%5)), Num: uint32(seq % 5), Floor: seq - 3, Done: []uint64{seq - 1}, LastSeen: int64(seq)})
}

// TestCrash runs the crash workload in a child process, kills it with
// SIGKILL at a random point, and checks the store holds exactly batches 1
// to M for some M at least as large as every batch the child reported
// durable: nothing reported is lost, nothing is applied out of order, and
// the file loads. Three rounds, each child resuming from the last.
func TestCrash(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts child processes")
	}
	dir := t.TempDir()
	for round := range 3 {
		cmd := child(t, "TestCrashChild", crashEnv, dir)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		killAt := 50 + rand.IntN(3000)
		var lines, reported int
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			seq, ok := strings.CutPrefix(sc.Text(), "durable ")
			if !ok {
				continue // the test framework's own output
			}
			n, err := strconv.Atoi(seq)
			if err != nil {
				t.Fatalf("child said %q", sc.Text())
			}
			reported = max(reported, n)
			if lines++; lines == killAt {
				time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
				cmd.Process.Kill() // SIGKILL; lines already written are still read
			}
		}
		err = cmd.Wait()
		if lines < killAt {
			t.Fatalf("round %d: child exited after %d lines (%v): %s", round, lines, err, stderr.Bytes())
		}

		s, err := OpenBolt(Config{Dir: dir})
		if err != nil {
			t.Fatalf("round %d: reopening after SIGKILL: %v", round, err)
		}
		got, err := s.Load()
		s.Close()
		if err != nil {
			t.Fatalf("round %d: Load after SIGKILL: %v", round, err)
		}
		durable := got.NextSeq - 1
		if durable < uint64(reported) {
			t.Fatalf("round %d: store holds batches up to %d, but the child reported %d durable", round, durable, reported)
		}
		want := NewMemory()
		var b Batch
		for seq := uint64(1); seq <= durable; seq++ {
			b.Reset()
			crashBatch(&b, seq)
			want.Commit(&b, nil)
		}
		if w, _ := want.Load(); !reflect.DeepEqual(got, w) {
			t.Fatalf("round %d: the store is not batches 1 to %d: %s", round, durable, stateDiff(got, w))
		}
		t.Logf("round %d: killed after %d lines, reported up to %d, found up to %d", round, lines, reported, durable)
	}
}

// stateDiff describes the first difference between two States.
func stateDiff(got, want *State) string {
	switch {
	case !reflect.DeepEqual(got.Sessions, want.Sessions):
		return fmt.Sprintf("sessions: got %+v, want %+v", got.Sessions, want.Sessions)
	case len(got.Messages) != len(want.Messages):
		return fmt.Sprintf("got %d messages, want %d", len(got.Messages), len(want.Messages))
	}
	for i := range got.Messages {
		if g, w := got.Messages[i], want.Messages[i]; !reflect.DeepEqual(g, w) {
			return fmt.Sprintf("message %d: got %+v, want %+v", i, g, w)
		}
	}
	return fmt.Sprintf("NextSeq, NextNum: got %d, %d, want %d, %d", got.NextSeq, got.NextNum, want.NextSeq, want.NextNum)
}

// TestCrashChild is the child of TestCrash: it commits batches without
// waiting (up to 256 in flight) and prints "durable N" from each done,
// until it is killed.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		t.Skip("run by TestCrash")
	}
	s, err := OpenBolt(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	inflight := make(chan struct{}, 256)
	var b Batch
	for seq := st.NextSeq; ; seq++ {
		inflight <- struct{}{}
		b.Reset()
		crashBatch(&b, seq)
		s.Commit(&b, func(err error) {
			if err != nil {
				fmt.Fprintf(os.Stderr, "batch %d: %v\n", seq, err)
				os.Exit(1)
			}
			fmt.Fprintf(os.Stdout, "durable %d\n", seq) // unbuffered: one write(2)
			<-inflight
		})
	}
}

// TestCommitFailure runs TestCommitFailureChild in a child process whose
// file size limit (RLIMIT_FSIZE) stops the data file from growing: a batch
// too big for the free pages fails, and the store goes on.
func TestCommitFailure(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts a child process")
	}
	out, err := child(t, "TestCommitFailureChild", fsizeEnv, t.TempDir()).CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--- PASS: TestCommitFailureChild")) {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("store: commit failed")) {
		t.Errorf("the failure was not logged:\n%s", out)
	}
}

func TestCommitFailureChild(t *testing.T) {
	dir := os.Getenv(fsizeEnv)
	if dir == "" {
		t.Skip("run by TestCommitFailure")
	}
	s, err := OpenBolt(Config{Dir: dir, Logger: slog.New(slog.NewTextHandler(os.Stdout, nil))})
	if err != nil {
		t.Fatal(err)
	}
	put := func(seq uint64, size int) error {
		var b Batch
		b.PutMessage(&Message{Seq: seq, Frame: make([]byte, size)})
		return commit(s, &b)
	}
	// Grow the file, then free the pages: small commits fit in them later.
	if err := put(1, 1<<20); err != nil {
		t.Fatal(err)
	}
	var b Batch
	b.DeleteMessage(1)
	if err := commit(s, &b); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Fatal(err)
	}
	lim.Cur = uint64(fi.Size())
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Skipf("cannot limit the file size: %v", err)
	}

	tests := []struct {
		seq     uint64
		size    int
		wantErr bool
	}{
		{2, 100, false},
		{3, 8 << 20, true}, // the file would have to grow
		{4, 100, false},
		{5, 100 << 10, false},
	}
	for _, tt := range tests {
		err := put(tt.seq, tt.size)
		if (err != nil) != tt.wantErr {
			t.Errorf("batch %d of %d bytes: got %v, want error %v", tt.seq, tt.size, err, tt.wantErr)
		}
		t.Logf("batch %d of %d bytes: %v", tt.seq, tt.size, err)
	}
	if got, want := s.Stats().Failed, uint64(1); got != want {
		t.Errorf("Stats().Failed: got %d, want %d", got, want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = OpenBolt(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	var got []uint64
	for _, m := range st.Messages {
		got = append(got, m.Seq)
	}
	if want := []uint64{2, 4, 5}; !reflect.DeepEqual(got, want) {
		t.Errorf("messages after reopening: got %v, want %v", got, want)
	}
	if st.NextSeq != 6 {
		t.Errorf("NextSeq: got %d, want 6", st.NextSeq)
	}
}
