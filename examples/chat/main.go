// Command chat is the README's tour: a line-based chat over packetd. Each
// line typed on stdin is emitted to the room; every message the room
// receives is printed.
//
//	go run ./examples/chat -url tcp://127.0.0.1:7070 -room lobby -name alice
//	go run ./examples/chat -url udp://127.0.0.1:7070 -room lobby -name bob
//	go run ./examples/chat -url tls://127.0.0.1:7443 -ca ca.pem -room lobby -name carol
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/packetd/packetd/client"
)

func main() {
	url := flag.String("url", "tcp://127.0.0.1:7070", "server: tcp://host:port, udp://host:port or tls://host:port")
	room := flag.String("room", "lobby", "room to join")
	name := flag.String("name", "anon", "name shown to others")
	opts := &client.Options{}
	flag.StringVar(&opts.User, "user", "", "user name, for a server with a credentials file")
	flag.StringVar(&opts.Password, "pass", "", "password of -user")
	flag.StringVar(&opts.Token, "token", "", "a token (JWT), for a server that takes tokens")
	caFile := flag.String("ca", "", "tls://: PEM file of the CA that signed the server's certificate (default: the system's roots)")
	certFile := flag.String("cert", "", "tls://: PEM client certificate, for a server that asks for one (mTLS)")
	keyFile := flag.String("key", "", "tls://: PEM private key of -cert")
	flag.Parse()
	var err error
	if opts.TLSConfig, err = tlsConfig(*caFile, *certFile, *keyFile); err != nil {
		fmt.Fprintln(os.Stderr, "chat:", err)
		os.Exit(1)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, *url, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chat:", err)
		os.Exit(1)
	}
	defer c.Close()
	if err := c.Join(ctx, *room); err != nil {
		fmt.Fprintln(os.Stderr, "chat: join:", err)
		os.Exit(1)
	}
	fmt.Printf("joined %q as %s (session %s)\n", *room, *name, c.SessionID())

	go func() {
		for m := range c.Messages() {
			var line struct {
				Name string `msgpack:"name"`
				Text string `msgpack:"text"`
			}
			if err := m.Decode(&line); err != nil {
				fmt.Printf("[%s] undecodable %s message: %v\n", m.From, m.Event, err)
				continue
			}
			fmt.Printf("[%s] %s\n", line.Name, line.Text)
		}
		fmt.Println("disconnected:", c.Err())
		os.Exit(0)
	}()

	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		err := c.Emit(client.Emit{
			Rooms: []string{*room},
			Event: "chat",
			Data:  map[string]string{"name": *name, "text": in.Text()},
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, "chat: emit:", err)
			return
		}
	}
}

// tlsConfig returns the TLS configuration the flags describe; nil for
// none (the system's roots, no client certificate).
func tlsConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	if caFile == "" && certFile == "" {
		return nil, nil
	}
	cfg := &tls.Config{}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, errors.New("-ca: no PEM certificate in " + caFile)
		}
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
