package store

import "time"

// Message is a QoS 1 message that some persistent session has not yet
// acknowledged. It is stored once, whatever the number of recipients.
type Message struct {
	Seq        uint64   // assigned by the broker: at least 1, increasing, never reused
	Frame      []byte   // the encoded packet, opaque to the store
	Recipients []uint32 // Num of each persistent session the message must reach
	Time       int64    // when it was published, unix nanoseconds (for age limits)
}

// Session is a persistent session: its settings and how far it has
// acknowledged. The record is always written whole.
type Session struct {
	ClientID  string // the key: 1 to MaxClientIDLen bytes
	Num       uint32 // small number, unique among live sessions; messages name recipients by it
	SID       uint64
	Rooms     []string
	Expiry    time.Duration
	KeepAlive time.Duration
	Window    int
	Floor     uint64   // every message with Seq <= Floor is acknowledged or dropped
	Done      []uint64 // Seqs above Floor acknowledged or dropped (out-of-order acks), sorted
	Missed    uint64   // messages dropped by the overflow policy, not yet reported to the client
	LastSeen  int64    // unix nanoseconds
	Created   int64    // unix nanoseconds
}

// State is what Load returns: everything committed, in key order.
type State struct {
	Sessions []Session // by ClientID (bytewise)
	Messages []Message // by Seq

	// NextSeq is one more than the largest Seq ever committed, including
	// messages since deleted, and than any session's Floor or Done. It is at
	// least 1: Seq 0 is never a message, so a Floor of 0 acknowledges nothing.
	NextSeq uint64

	// NextNum is one more than the largest Num of any stored session or
	// named as a recipient by any stored message, and at least 1. A Num from
	// NextNum up cannot pick up another session's messages.
	NextNum uint32
}

// MaxClientIDLen is the longest ClientID the store accepts (bbolt's key limit).
const MaxClientIDLen = 32768
