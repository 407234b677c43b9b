package store

import (
	"encoding/binary"
	"fmt"
)

// loader builds a State from records fed in key order. Bolt and Memory share
// it, so they load the same bytes into the same State.
type loader struct {
	st     State
	maxSeq uint64
	maxNum uint32
}

func (l *loader) session(key, val []byte) error {
	s, _, err := parseSession(key, val)
	if err != nil {
		return fmt.Errorf("%w: session %q: %v", ErrCorrupt, key, err)
	}
	l.maxNum = max(l.maxNum, s.Num)
	l.maxSeq = max(l.maxSeq, s.Floor)
	for _, d := range s.Done {
		l.maxSeq = max(l.maxSeq, d)
	}
	l.st.Sessions = append(l.st.Sessions, s)
	return nil
}

func (l *loader) message(key, val []byte) error {
	if len(key) != 8 {
		return fmt.Errorf("%w: message key of %d bytes, want 8", ErrCorrupt, len(key))
	}
	seq := binary.BigEndian.Uint64(key)
	m, _, err := parseMessage(seq, val)
	if err != nil {
		return fmt.Errorf("%w: message %d: %v", ErrCorrupt, seq, err)
	}
	for _, r := range m.Recipients {
		l.maxNum = max(l.maxNum, r)
	}
	l.maxSeq = max(l.maxSeq, seq)
	l.st.Messages = append(l.st.Messages, m)
	return nil
}

// state returns the State; high is the largest Seq ever committed.
func (l *loader) state(high uint64) *State {
	l.st.NextSeq = max(l.maxSeq, high) + 1
	l.st.NextNum = l.maxNum + 1
	return &l.st
}
