package main

import (
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/packetd/packetd/codec"
)

// rawTCP is a minimal codec-level TCP client for the crash test.
type rawTCP struct {
	c  net.Conn
	fr *codec.FrameReader
}

func dialRaw(t *testing.T, addr string, h *codec.Hello) (*rawTCP, codec.Welcome) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	r := &rawTCP{c: c, fr: codec.NewFrameReader(c, codec.DefaultMaxFrame)}
	r.send(t, codec.Header{Type: codec.TypeHello, ID: 1}, h)
	p := r.next(t)
	var w codec.Welcome
	if p.Type != codec.TypeWelcome || codec.NewDecoder().Decode(p.Type, p.Body, &w) != nil {
		t.Fatalf("got %v, want WELCOME", p.Type)
	}
	return r, w
}

func (r *rawTCP) send(t *testing.T, h codec.Header, body codec.Body) {
	if _, err := r.c.Write(codec.AppendFrame(nil, h, body)); err != nil {
		t.Fatal(err)
	}
}

func (r *rawTCP) next(t *testing.T) codec.Packet {
	t.Helper()
	_ = r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	raw, err := r.fr.ReadFrame()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	p, err := codec.ParsePacket(append([]byte(nil), raw...))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestKillNine: a persistent subscriber is offline while a publisher
// streams QoS 1 messages into packetd; packetd is killed with SIGKILL
// mid-stream and restarted on the same data directory. Every message whose
// ACK reached the publisher must reach the subscriber when it resumes.
func TestKillNine(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := filepath.Join(t.TempDir(), "packetd")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	dir := t.TempDir()
	start := func() (*exec.Cmd, string) {
		cmd := exec.Command(bin, "-tcp", "127.0.0.1:0", "-udp", "off", "-log-format", "json", "-data-dir", dir,
			"-queue-messages", "100000", "-queue-bytes", "100000000")
		return cmd, startLogged(t, cmd)["tcp"]
	}
	hello := &codec.Hello{ClientID: []byte("sensor-sink"), Persist: true}

	srv, addr := start()
	sub, _ := dialRaw(t, addr, hello)
	sub.send(t, codec.Header{Type: codec.TypeJoin, ID: 2}, &codec.Rooms{Rooms: [][]byte{[]byte("r")}})
	if p := sub.next(t); p.Type != codec.TypeAck {
		t.Fatalf("JOIN answered with %v", p.Type)
	}
	sub.c.Close()

	pub, _ := dialRaw(t, addr, &codec.Hello{})
	var mu sync.Mutex
	acked := map[string]bool{}
	ackedEnough := make(chan struct{})
	go func() { // read ACKs until the connection dies with the server
		for {
			_ = pub.c.SetReadDeadline(time.Now().Add(20 * time.Second))
			raw, err := pub.fr.ReadFrame()
			if err != nil {
				return
			}
			if p, err := codec.ParsePacket(raw); err == nil && p.Type == codec.TypeAck {
				mu.Lock()
				acked["m"+strconv.Itoa(int(p.ID))] = true
				if len(acked) == 2000 {
					close(ackedEnough)
				}
				mu.Unlock()
			}
		}
	}()
	// Publish until killed: ids 1, 2, ...; the event names the id.
	stopPub := make(chan struct{})
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		var buf []byte
		for id := uint32(1); ; id++ {
			select {
			case <-stopPub:
				return
			default:
			}
			buf = codec.AppendFrame(buf[:0], codec.Header{Type: codec.TypeEmit, Flags: codec.FlagQoS1, ID: id},
				&codec.Emit{Rooms: [][]byte{[]byte("r")}, Event: []byte("m" + strconv.Itoa(int(id))), Data: []byte{0xc4, 16, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}})
			if _, err := pub.c.Write(buf); err != nil {
				return
			}
		}
	}()
	select {
	case <-ackedEnough:
	case <-time.After(30 * time.Second):
		t.Fatal("no 2,000 ACKs within 30 s")
	}
	if err := srv.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = srv.Wait()
	close(stopPub)
	<-pubDone
	mu.Lock()
	want := len(acked)
	mu.Unlock()

	_, addr = start()
	sub, w := dialRaw(t, addr, hello)
	if !w.Resumed {
		t.Fatal("the persistent session was not restored after kill -9")
	}
	got := map[string]bool{}
	dups := 0
	for {
		mu.Lock()
		complete := true
		for ev := range acked {
			if !got[ev] {
				complete = false
				break
			}
		}
		mu.Unlock()
		if complete {
			break
		}
		p := sub.next(t)
		if p.Type != codec.TypeMessage {
			continue
		}
		var m codec.Message
		if err := codec.NewDecoder().Decode(p.Type, p.Body, &m); err != nil {
			t.Fatal(err)
		}
		if got[string(m.Event)] {
			dups++
		}
		got[string(m.Event)] = true
		sub.send(t, codec.Header{Type: codec.TypeAck, ID: p.ID}, nil)
	}
	t.Logf("publisher saw %d ACKs before the kill; the resumed subscriber received all of them (%d messages, %d duplicates)", want, len(got), dups)
	if len(got) < want {
		t.Fatal(fmt.Sprint("lost messages: ", want-len(got)))
	}
}
