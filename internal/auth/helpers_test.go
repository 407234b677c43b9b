package auth_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"
)

// keys are the test's token keys, written to files in a temporary
// directory.
type keys struct {
	dir      string
	hmac     []byte
	edPriv   ed25519.PrivateKey
	edPub    ed25519.PublicKey
	hmacFile string
	edFile   string
}

func newKeys(t testing.TB) *keys {
	t.Helper()
	k := &keys{dir: t.TempDir(), hmac: []byte(rand.Text() + rand.Text())}
	var err error
	if k.edPub, k.edPriv, err = ed25519.GenerateKey(rand.Reader); err != nil {
		t.Fatal(err)
	}
	k.hmacFile = filepath.Join(k.dir, "hmac.key")
	writeFile(t, k.hmacFile, append(append([]byte(nil), k.hmac...), '\n'))
	k.edFile = filepath.Join(k.dir, "ed25519.pem")
	writeFile(t, k.edFile, pemPublic(t, k.edPub))
	return k
}

func pemPublic(t testing.TB, pub ed25519.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// claims returns valid claims for sub with the given permissions.
func claims(sub string, join, emit []string) jwt.MapClaims {
	return jwt.MapClaims{"sub": sub, "exp": time.Now().Add(time.Hour).Unix(),
		"packetd": map[string]any{"join": join, "emit": emit}}
}

func sign(t testing.TB, m jwt.SigningMethod, key any, c jwt.MapClaims) []byte {
	t.Helper()
	s, err := jwt.NewWithClaims(m, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(s)
}

func hash(t testing.TB, pass string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

var remote = netip.MustParseAddrPort("192.0.2.7:4000")

func newKeysPair() (ed25519.PublicKey, ed25519.PrivateKey, error) {
	return ed25519.GenerateKey(rand.Reader)
}
