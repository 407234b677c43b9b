package codec_test

import (
	"bytes"
	"fmt"
	"reflect"

	"github.com/packetd/packetd/codec"
)

// This file holds what several test files share: a fresh decode target per
// packet type, and comparison of decoded bodies.

// allTypes lists every packet type of protocol version 1.
var allTypes = []codec.Type{
	codec.TypeHello, codec.TypeWelcome, codec.TypeJoin, codec.TypeLeave,
	codec.TypeEmit, codec.TypeMessage, codec.TypeAck, codec.TypePing,
	codec.TypePong, codec.TypeError, codec.TypeBye,
}

// newBody returns an empty decode target for the body of a packet of type t.
func newBody(t codec.Type) codec.Body {
	switch t {
	case codec.TypeHello:
		return new(codec.Hello)
	case codec.TypeWelcome:
		return new(codec.Welcome)
	case codec.TypeJoin, codec.TypeLeave:
		return new(codec.Rooms)
	case codec.TypeEmit:
		return new(codec.Emit)
	case codec.TypeMessage:
		return new(codec.Message)
	case codec.TypeAck:
		return new(codec.Empty)
	case codec.TypePing, codec.TypePong:
		return new(codec.Ping)
	case codec.TypeError, codec.TypeBye:
		return new(codec.Error)
	}
	panic(fmt.Sprintf("no body type for %v", t))
}

// emptyBodyValid reports whether a packet of type t may have an empty body:
// every field of the type is optional.
func emptyBodyValid(t codec.Type) bool {
	switch t {
	case codec.TypeHello, codec.TypeAck, codec.TypePing, codec.TypePong, codec.TypeBye:
		return true
	}
	return false
}

// sameBody reports whether two decoded bodies carry the same fields. An empty
// byte slice equals a nil one (both encode as an absent field), except for
// Emit.Data and Message.Data, where nil means absent and anything else is a
// msgpack value.
func sameBody(a, b codec.Body) bool {
	return reflect.DeepEqual(canonical(a), canonical(b))
}

func canonical(v codec.Body) codec.Body {
	nilIfEmpty := func(b []byte) []byte {
		if len(b) == 0 {
			return nil
		}
		return b
	}
	list := func(l [][]byte) [][]byte {
		if len(l) == 0 {
			return nil
		}
		out := make([][]byte, len(l))
		for i, s := range l {
			out[i] = bytes.Clone(s)
			if out[i] == nil {
				out[i] = []byte{}
			}
		}
		return out
	}
	switch v := v.(type) {
	case *codec.Hello:
		c := *v
		c.ClientID, c.User, c.Pass, c.Token = nilIfEmpty(c.ClientID), nilIfEmpty(c.User), nilIfEmpty(c.Pass), nilIfEmpty(c.Token)
		if c.Pad < 0 {
			c.Pad = 0
		}
		return &c
	case *codec.Welcome:
		c := *v
		c.SessionID, c.Server = nilIfEmpty(c.SessionID), nilIfEmpty(c.Server)
		// What Append writes: next and pub_next when set, when resumed, or
		// when not 0.
		c.HasNext = c.HasNext || c.Resumed || c.Next != 0
		c.HasPubNext = c.HasPubNext || c.Resumed || c.PubNext != 0
		return &c
	case *codec.Rooms:
		return &codec.Rooms{Rooms: list(v.Rooms)}
	case *codec.Emit:
		return &codec.Emit{Rooms: list(v.Rooms), Except: list(v.Except),
			Event: nilIfEmpty(v.Event), Data: bytes.Clone(v.Data), Echo: v.Echo}
	case *codec.Message:
		return &codec.Message{Rooms: list(v.Rooms), From: nilIfEmpty(v.From),
			Event: nilIfEmpty(v.Event), Data: bytes.Clone(v.Data)}
	case *codec.Error:
		return &codec.Error{Code: v.Code, Msg: nilIfEmpty(v.Msg)}
	case *codec.Ping:
		return &codec.Ping{Token: nilIfEmpty(v.Token)}
	}
	return v
}

// strs turns strings into the [][]byte room lists the bodies use.
func strs(s ...string) [][]byte {
	l := make([][]byte, len(s))
	for i := range s {
		l[i] = []byte(s[i])
	}
	return l
}
