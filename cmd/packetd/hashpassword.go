package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// hashPassword is `packetd hash-password [-cost n]`: it reads a password
// (one line) from stdin and prints its bcrypt hash for -auth-file.
func hashPassword(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("packetd hash-password", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cost := fs.Int("cost", bcrypt.DefaultCost, "bcrypt cost (4-31; each step doubles the time of a check)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: packetd hash-password [-cost n] < password-file")
		fmt.Fprintln(stderr, "Reads one line from stdin and prints its bcrypt hash for the credentials file (-auth-file).")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("hash-password: unexpected argument %q (the password is read from stdin)", fs.Arg(0))
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("hash-password: %w", err)
	}
	pass := strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	switch {
	case pass == "":
		return errors.New("hash-password: empty password")
	case len(pass) > 72:
		return errors.New("hash-password: bcrypt uses at most 72 bytes of a password")
	case *cost < bcrypt.MinCost || *cost > bcrypt.MaxCost:
		return fmt.Errorf("hash-password: -cost %d outside %d-%d", *cost, bcrypt.MinCost, bcrypt.MaxCost)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pass), *cost)
	if err != nil {
		return fmt.Errorf("hash-password: %w", err)
	}
	_, err = fmt.Fprintln(stdout, string(h))
	return err
}
