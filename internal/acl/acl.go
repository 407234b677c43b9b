// Package acl decides which rooms a session may join and emit to. A List
// is compiled once from patterns in the spirit of MQTT's topic filters,
// with "/" separating a name's levels:
//
//	lobby           exactly "lobby"
//	sensors/+/temp  "+" is one whole level: sensors/a/temp, sensors//temp
//	sensors/#       "#", last level only, is zero or more levels:
//	                sensors, sensors/a, sensors/a/b
//	dev-*           a trailing "*" matches any rest, across levels:
//	                dev-1, dev-1/x (not dev)
//	$*              every name beginning with "$" (sessions' own rooms)
//
// Wildcards in the first level ("+", "#", a bare "*") never match a name
// beginning with "$", as in MQTT, where "#" does not match "$SYS": direct
// messages to other sessions are allowed only by a pattern that begins
// with "$". docs/PROTOCOL.md section 8.3 is the reference.
//
// Concurrency: a compiled List and Perms are immutable and safe for
// concurrent use; Match allocates nothing.
package acl

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxPattern is the longest pattern, in bytes: a room name's limit.
const MaxPattern = 255

// Perms are a session's permissions: the rooms it may JOIN and those it
// may EMIT to. A nil List allows nothing.
type Perms struct {
	Join *List
	Emit *List
}

// CanJoin reports whether the permissions allow joining room.
func (p *Perms) CanJoin(room []byte) bool { return p.Join.Match(room) }

// CanEmit reports whether the permissions allow emitting to room.
func (p *Perms) CanEmit(room []byte) bool { return p.Emit.Match(room) }

// List is a compiled set of patterns; a name matches the List if it
// matches any of them.
type List struct {
	exact map[string]struct{} // patterns without wildcards
	all   bool                // "#" or "*": every name not beginning with "$"
	pats  []pattern           // the others
}

type kind uint8

const (
	literal kind = iota // the level, byte for byte
	plus                // "+": any one level
	hash                // "#": zero or more levels, last only
	prefix              // "text*": the rest of the name begins with text, last only
)

type level struct {
	kind kind
	text []byte // literal: the level; prefix: what the rest must begin with
}

type pattern struct {
	levels    []level
	wildFirst bool // the first level is a wildcard: no match on "$" names
}

// Compile compiles patterns into a List. An invalid pattern is an error
// that names it.
func Compile(patterns []string) (*List, error) {
	l := &List{}
	for _, s := range patterns {
		p, err := parse(s)
		if err != nil {
			return nil, err
		}
		switch {
		case p.levels == nil:
			if l.exact == nil {
				l.exact = make(map[string]struct{})
			}
			l.exact[s] = struct{}{}
		case len(p.levels) == 1 && (p.levels[0].kind == hash || p.levels[0].kind == prefix && len(p.levels[0].text) == 0):
			l.all = true
		default:
			l.pats = append(l.pats, p)
		}
	}
	return l, nil
}

// MustCompile is Compile for patterns known to be valid; it panics on an
// invalid one.
func MustCompile(patterns ...string) *List {
	l, err := Compile(patterns)
	if err != nil {
		panic(err)
	}
	return l
}

// parse parses one pattern; a pattern without wildcards has nil levels.
func parse(s string) (pattern, error) {
	bad := func(why string) (pattern, error) {
		return pattern{}, &PatternError{Pattern: s, Reason: why}
	}
	switch {
	case s == "":
		return bad("empty")
	case len(s) > MaxPattern:
		return bad(fmt.Sprintf("longer than %d bytes", MaxPattern))
	case !utf8.ValidString(s):
		return bad("not UTF-8")
	case !strings.ContainsAny(s, "+#*"):
		return pattern{}, nil
	}
	var p pattern
	parts := strings.Split(s, "/")
	for i, part := range parts {
		last := i == len(parts)-1
		switch {
		case part == "+":
			p.levels = append(p.levels, level{kind: plus})
		case part == "#":
			if !last {
				return bad(`"#" must be the last level`)
			}
			p.levels = append(p.levels, level{kind: hash})
		case strings.ContainsAny(part, "+#"):
			return bad(`"+" and "#" must be a whole level`)
		case strings.Contains(part, "*"):
			if !last || strings.Index(part, "*") != len(part)-1 {
				return bad(`"*" must be the pattern's last character`)
			}
			p.levels = append(p.levels, level{kind: prefix, text: []byte(part[:len(part)-1])})
		default:
			p.levels = append(p.levels, level{kind: literal, text: []byte(part)})
		}
	}
	first := p.levels[0]
	p.wildFirst = first.kind == plus || first.kind == hash || first.kind == prefix && len(first.text) == 0
	return p, nil
}

// Match reports whether name matches one of the List's patterns. A nil
// List matches nothing. It allocates nothing.
func (l *List) Match(name []byte) bool {
	if l == nil {
		return false
	}
	if _, ok := l.exact[string(name)]; ok {
		return true
	}
	dollar := len(name) > 0 && name[0] == '$'
	if l.all && !dollar {
		return true
	}
	for i := range l.pats {
		if p := &l.pats[i]; !(dollar && p.wildFirst) && p.match(name) {
			return true
		}
	}
	return false
}

func (p *pattern) match(name []byte) bool {
	rest, done := name, false // done: every level of name was consumed
	for _, lv := range p.levels {
		switch lv.kind {
		case hash:
			return true
		case prefix:
			return !done && bytes.HasPrefix(rest, lv.text)
		}
		if done {
			return false
		}
		seg := rest
		if j := bytes.IndexByte(rest, '/'); j >= 0 {
			seg, rest = rest[:j], rest[j+1:]
		} else {
			done = true
		}
		if lv.kind == literal && !bytes.Equal(seg, lv.text) {
			return false
		}
	}
	return done
}
