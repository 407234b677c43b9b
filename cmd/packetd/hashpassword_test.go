package main

import (
	"bytes"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestHashPassword(t *testing.T) {
	t.Parallel()
	var out, errs bytes.Buffer
	if err := hashPassword([]string{"-cost", "4"}, strings.NewReader("s3cret\n"), &out, &errs); err != nil {
		t.Fatal(err)
	}
	h := strings.TrimSpace(out.String())
	if err := bcrypt.CompareHashAndPassword([]byte(h), []byte("s3cret")); err != nil {
		t.Errorf("the printed hash %q does not verify s3cret: %v", h, err)
	}
	if cost, _ := bcrypt.Cost([]byte(h)); cost != 4 {
		t.Errorf("cost: got %d, want 4", cost)
	}
	for name, in := range map[string]string{"empty": "\n", "too long": strings.Repeat("x", 73)} {
		if err := hashPassword([]string{"-cost", "4"}, strings.NewReader(in), &out, &errs); err == nil {
			t.Errorf("%s password: no error", name)
		}
	}
}
