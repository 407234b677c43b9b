package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/packetd/packetd/client"
	"github.com/packetd/packetd/internal/server"
)

func TestSmoke(t *testing.T) {
	var cfg server.Config
	cfg.TCP.Addr = "127.0.0.1:0"
	cfg.UDP.Addr = "127.0.0.1:0"
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a, err := client.Dial(ctx, "tcp://"+srv.TCPAddr().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := client.Dial(ctx, "udp://"+srv.UDPAddr().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Join(ctx, "room"); err != nil {
		t.Fatal(err)
	}
	if err := b.Join(ctx, "room"); err != nil {
		t.Fatal(err)
	}
	if err := a.Emit(client.Emit{Rooms: []string{"room"}, Event: "hi", Data: "from tcp"}); err != nil {
		t.Fatal(err)
	}
	m := <-b.Messages()
	t.Logf("udp got %+v", m)
	if err := b.Emit(client.Emit{Rooms: []string{"room"}, Event: "hi", Data: "from udp"}); err != nil {
		t.Fatal(err)
	}
	m = <-a.Messages()
	t.Logf("tcp got %+v", m)
	a.Close()
	b.Close()
	t.Log(srv.Stats.Snapshot())
}
