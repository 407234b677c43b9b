package codec_test

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
)

// docs/PROTOCOL.md is the wire specification a firmware engineer works
// from. These tests keep it from drifting away from the code: it must quote
// every test vector exactly, quote nothing else as a hex vector, and list
// every packet type and error code as the codec defines them.

const protocolDoc = "../docs/PROTOCOL.md"

// hexBlocks returns the contents of the document's ```hex fenced blocks,
// decoded, with the line each starts on.
func hexBlocks(t *testing.T, doc string) map[int][]byte {
	t.Helper()
	blocks := map[int][]byte{}
	var (
		in    bool
		start int
		buf   strings.Builder
	)
	for i, line := range strings.Split(doc, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case !in && trimmed == "```hex":
			in, start = true, i+1
			buf.Reset()
		case in && trimmed == "```":
			in = false
			b, err := hex.DecodeString(strings.Join(strings.Fields(buf.String()), ""))
			if err != nil {
				t.Errorf("%s:%d: hex block: %v", protocolDoc, start, err)
				continue
			}
			blocks[start] = b
		case in:
			buf.WriteString(line)
			buf.WriteByte(' ')
		}
	}
	if in {
		t.Errorf("%s:%d: hex block never closed", protocolDoc, start)
	}
	return blocks
}

func readProtocolDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(protocolDoc)
	if err != nil {
		t.Fatalf("the wire specification must exist: %v", err)
	}
	return string(b)
}

func TestProtocolDocVectors(t *testing.T) {
	t.Parallel()
	blocks := hexBlocks(t, readProtocolDoc(t))
	vectors := loadVectors(t)
	quoted := map[string]bool{}
	for _, b := range blocks {
		quoted[string(b)] = true
	}
	for _, v := range vectors {
		if !quoted[string(v.hex)] {
			t.Errorf("vector %q (%s) is not quoted in %s; add it as a ```hex block:\n%s",
				v.name, v.desc, protocolDoc, hexBytes(v.hex))
		}
	}
	known := map[string]bool{}
	for _, v := range vectors {
		known[string(v.hex)] = true
	}
	for line, b := range blocks {
		if !known[string(b)] {
			t.Errorf("%s:%d: hex block is not a vector from testdata/vectors.txt:\n%s", protocolDoc, line, hexBytes(b))
		}
	}
}

// The document's packet type table and error code table name the same
// values as the code.
func TestProtocolDocTables(t *testing.T) {
	t.Parallel()
	doc := strings.Join(strings.Fields(readProtocolDoc(t)), " ") // table cells may be padded
	for _, typ := range allTypes {
		row := fmt.Sprintf("| `0x%02x` | %s |", byte(typ), typ)
		if !strings.Contains(doc, row) {
			t.Errorf("packet type table: no row starting %q", row)
		}
	}
	for _, c := range codeTable {
		fatal := "no"
		if c.fatal {
			fatal = "yes"
		}
		row := fmt.Sprintf("| %d | %s | %s |", c.num, c.text, fatal)
		if !strings.Contains(doc, row) {
			t.Errorf("error code table: no row starting %q", row)
		}
	}
}

// hexBlocks itself must find what it is given, or the tests above prove
// nothing.
func TestHexBlocks(t *testing.T) {
	t.Parallel()
	doc := "text\n```hex\n01 02\n03\n```\n```\n04\n```\n  ```hex\n  ff\n  ```\n"
	got := hexBlocks(t, doc)
	want := map[int][]byte{2: {1, 2, 3}, 9: {0xff}}
	if len(got) != len(want) {
		t.Fatalf("got %d blocks %v, want %d", len(got), got, len(want))
	}
	for line, b := range want {
		if !bytes.Equal(got[line], b) {
			t.Errorf("block at line %d: got %x, want %x", line, got[line], b)
		}
	}
}
