package auth

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"

	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/acl"
)

// File authenticates HELLO's user and pass against a credentials file, a
// YAML document:
//
//	users:
//	  sensor-7:
//	    hash: "$2a$10$..."            # bcrypt (packetd hash-password)
//	    join: ["control/sensor-7"]
//	    emit: ["sensors/sensor-7/#"]
//	  gateway-1:                      # no hash: TLS client certificate only
//	    join: ["#"]
//
// A user without join or emit patterns may not join or emit anywhere. A
// successful bcrypt check is remembered for ten minutes (keyed by a
// salted SHA-256 of user, password and hash, at most 4096 of them), so a
// device that reconnects does not cost another bcrypt run; Reload forgets
// them.
type File struct {
	path   string
	state  atomic.Pointer[fileState]
	budget *Bucket // bcrypt runs allowed server-wide; nil: no limit

	mu   sync.Mutex         // guards the fields below
	ok   map[[32]byte]int64 // verified credentials: when they expire, unix ns
	salt [16]byte
}

type fileState struct {
	users map[string]*fileUser
}

type fileUser struct {
	hash  []byte // nil: certificate only
	perms *acl.Perms
}

// fileDoc is the file's schema.
type fileDoc struct {
	Users map[string]struct {
		Hash string   `yaml:"hash"`
		Join []string `yaml:"join"`
		Emit []string `yaml:"emit"`
	} `yaml:"users"`
}

const (
	okCacheSize = 4096
	okCacheTTL  = 10 * time.Minute
)

// dummyHash is compared against when the user is unknown, so that an
// unknown user costs as long as a wrong password.
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("packetd"), bcrypt.DefaultCost)
	return h
})

// OpenFile reads the credentials file at path.
func OpenFile(path string) (*File, error) {
	return openFile(path, nil)
}

// openFile is OpenFile with a budget of bcrypt runs: once it is spent,
// credentials not remembered from an earlier success are not checked
// (ErrBusy), so that a flood of wrong passwords cannot keep the event
// loops busy hashing.
func openFile(path string, budget *Bucket) (*File, error) {
	f := &File{path: path, ok: make(map[[32]byte]int64), budget: budget}
	_, _ = rand.Read(f.salt[:])
	st, err := loadFile(path)
	if err != nil {
		return nil, err
	}
	f.state.Store(st)
	return f, nil
}

// Name implements Authenticator.
func (f *File) Name() string { return "password" }

// Reload re-reads the file; if the new one is invalid, the old one stays
// in force and the error says why.
func (f *File) Reload() error {
	st, err := loadFile(f.path)
	if err != nil {
		return err
	}
	f.state.Store(st)
	f.mu.Lock()
	clear(f.ok)
	f.mu.Unlock()
	return nil
}

// Users returns the number of users in force.
func (f *File) Users() int { return len(f.state.Load().users) }

// Authenticate implements Authenticator: it checks req.User and req.Pass.
func (f *File) Authenticate(req *Request) (Grant, error) {
	if len(req.User) == 0 {
		if len(req.Pass) > 0 {
			return Grant{}, deny("pass without user")
		}
		return Grant{}, ErrNoCredentials
	}
	u := f.state.Load().users[string(req.User)]
	switch {
	case u == nil:
		if !f.budget.Allow() {
			return Grant{}, ErrBusy
		}
		_ = bcrypt.CompareHashAndPassword(dummyHash(), req.Pass)
		return Grant{}, errUnknownUser
	case u.hash == nil:
		return Grant{}, errNoPassword
	}
	ok, err := f.verified(req.User, req.Pass, u.hash)
	if err != nil {
		return Grant{}, err
	}
	if !ok {
		return Grant{}, errBadPassword
	}
	return Grant{Principal: string(req.User), Method: f.Name(), Perms: u.perms}, nil
}

// Lookup returns the permissions of user, for a certificate identity.
func (f *File) Lookup(user string) (*acl.Perms, bool) {
	u := f.state.Load().users[user]
	if u == nil {
		return nil, false
	}
	return u.perms, true
}

// verified checks pass against hash, remembering a success; ErrBusy if
// it is not remembered and the budget is spent.
func (f *File) verified(user, pass, hash []byte) (bool, error) {
	h := sha256.New()
	h.Write(f.salt[:])
	for _, b := range [][]byte{user, pass, hash} {
		var n [2]byte
		n[0], n[1] = byte(len(b)>>8), byte(len(b))
		h.Write(n[:])
		h.Write(b)
	}
	var key [32]byte
	h.Sum(key[:0])
	now := time.Now().UnixNano()
	f.mu.Lock()
	exp, ok := f.ok[key]
	f.mu.Unlock()
	if ok && now < exp {
		return true, nil
	}
	if !f.budget.Allow() {
		return false, ErrBusy
	}
	if bcrypt.CompareHashAndPassword(hash, pass) != nil {
		return false, nil
	}
	f.mu.Lock()
	if len(f.ok) >= okCacheSize {
		for k, e := range f.ok { // drop the expired, else any one
			if now >= e || len(f.ok) >= okCacheSize {
				delete(f.ok, k)
			}
		}
	}
	f.ok[key] = now + int64(okCacheTTL)
	f.mu.Unlock()
	return true, nil
}

func loadFile(path string) (*fileState, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: credentials file: %w", err)
	}
	var doc fileDoc
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("auth: credentials file %s: %w", path, err)
	}
	st := &fileState{users: make(map[string]*fileUser, len(doc.Users))}
	for name, u := range doc.Users {
		where := fmt.Sprintf("auth: credentials file %s: user %q", path, name)
		if name == "" || len(name) > codec.MaxUser || !utf8.ValidString(name) {
			return nil, fmt.Errorf("%s: a user name is 1 to %d bytes of UTF-8", where, codec.MaxUser)
		}
		fu := &fileUser{}
		if u.Hash != "" {
			if _, err := bcrypt.Cost([]byte(u.Hash)); err != nil {
				return nil, fmt.Errorf("%s: hash is not a bcrypt hash: %w", where, err)
			}
			fu.hash = []byte(u.Hash)
		}
		if fu.perms, err = compilePerms(u.Join, u.Emit); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		st.users[name] = fu
	}
	return st, nil
}

func compilePerms(join, emit []string) (*acl.Perms, error) {
	j, err := acl.Compile(join)
	if err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	e, err := acl.Compile(emit)
	if err != nil {
		return nil, fmt.Errorf("emit: %w", err)
	}
	return &acl.Perms{Join: j, Emit: e}, nil
}
