package rooms

import "slices"

// BroadcastOptions selects the recipients of a broadcast.
type BroadcastOptions struct {
	// Rooms are the target rooms: every member of at least one of them
	// receives the message, once. Empty means every member. Rooms that do
	// not exist are ignored.
	Rooms [][]byte

	// Except are excluded rooms: a member of any of them receives nothing.
	// To exclude one member, name its own room (its id). Rooms that do not
	// exist are ignored.
	Except [][]byte

	// Origin is passed to Sink.Deliver untouched. The server names the
	// calling event loop with it.
	Origin any
}

// Broadcast hands msg to the Sink for every member of the union of
// opts.Rooms (every member if opts.Rooms is empty) that is in none of
// opts.Except, each recipient once, grouped by Member.Group, and returns the
// number of recipients. It holds no lock while calling the Sink.
//
// In steady state it does not allocate: it rebuilds the snapshot of a room
// only when its membership changed since the last broadcast to it, and
// reuses pooled scratch space. A broadcast to one room with no exclusion
// hands the Sink views of the room's snapshot.
// Membership changes concurrent with a broadcast may or may not be seen by
// it. It is safe for concurrent use.
func (l *Local) Broadcast(msg []byte, opts BroadcastOptions) int {
	if len(opts.Rooms) == 1 && len(opts.Except) == 0 {
		s := l.roomSnapshot(opts.Rooms[0])
		if s == nil {
			return 0
		}
		for i, sp := range s.spans {
			l.sink.Deliver(opts.Origin, sp.group, msg, s.run(i).members)
		}
		return len(s.members)
	}

	sc := l.scratch.Get().(*scratch)
	defer l.putScratch(sc)
	if len(opts.Rooms) == 0 {
		for i := range l.members {
			if s := l.members[i].snapshot(l.seed); len(s.members) > 0 {
				sc.targets = append(sc.targets, s)
			}
		}
		sc.disjoint = true
	} else {
		sc.targets = l.appendSnapshots(sc.targets, opts.Rooms)
		sc.disjoint = len(sc.targets) == 1
	}
	sc.excepts = l.appendSnapshots(sc.excepts, opts.Except)
	return l.deliver(sc, msg, opts.Origin)
}

// appendSnapshots appends the snapshots of the existing rooms among names to
// ss, once each.
func (l *Local) appendSnapshots(ss []*snapshot, names [][]byte) []*snapshot {
	for _, name := range names {
		if s := l.roomSnapshot(name); s != nil && !slices.Contains(ss, s) {
			ss = append(ss, s)
		}
	}
	return ss
}

// scratch is the reusable state of one broadcast.
type scratch struct {
	targets  []*snapshot // snapshots of the target rooms, distinct
	excepts  []*snapshot // snapshots of the excluded rooms, distinct
	disjoint bool        // no member is in two targets: skip deduplication
	tnext    []int       // per target, the index of its next span
	enext    []int       // per except, the index of its next span
	runs     []run       // the targets' runs of the current group
	ex       []run       // the excepts' runs of the current group
	exCopy   []run       // ex, consumed by filtering one run
	hits     []int       // excluded positions in one run
	seen     keySet      // recipients of the current group, when targets overlap
	buf      []Member    // recipients of the current group
}

// putScratch drops sc's references to members and snapshots and returns it
// to the pool.
func (l *Local) putScratch(sc *scratch) {
	clear(sc.targets)
	clear(sc.excepts)
	clear(sc.runs[:cap(sc.runs)])
	clear(sc.ex[:cap(sc.ex)])
	clear(sc.exCopy[:cap(sc.exCopy)])
	sc.targets, sc.excepts = sc.targets[:0], sc.excepts[:0]
	l.scratch.Put(sc)
}

// deliver walks the groups of sc.targets in ascending order and calls the
// Sink once per group with the group's recipients: the union of the
// targets' members of that group, minus the excepts' members of that group
// (a member is in the same group in every snapshot), each once.
func (l *Local) deliver(sc *scratch, msg []byte, origin any) int {
	sc.tnext = zeroed(sc.tnext, len(sc.targets))
	sc.enext = zeroed(sc.enext, len(sc.excepts))
	n := 0
	for {
		g, ok := nextGroup(sc.targets, sc.tnext)
		if !ok {
			return n
		}
		sc.runs = sc.runs[:0]
		for i, s := range sc.targets {
			if j := sc.tnext[i]; j < len(s.spans) && s.spans[j].group == g {
				sc.runs = append(sc.runs, s.run(j))
				sc.tnext[i]++
			}
		}
		sc.ex = sc.ex[:0]
		for i, s := range sc.excepts {
			j := sc.enext[i]
			for j < len(s.spans) && s.spans[j].group < g {
				j++
			}
			if j < len(s.spans) && s.spans[j].group == g {
				sc.ex = append(sc.ex, s.run(j))
				j++
			}
			sc.enext[i] = j
		}

		var members []Member
		if sc.disjoint || len(sc.runs) == 1 {
			members = sc.collectDisjoint()
		} else {
			members = sc.collectUnion()
		}
		if len(members) > 0 {
			l.sink.Deliver(origin, g, msg, members[:len(members):len(members)])
			n += len(members)
		}
		clear(sc.buf)
	}
}

// collectDisjoint returns the members of sc.runs, which share no member,
// minus those in sc.ex. With one run and nothing excluded from it, that is
// the run itself; otherwise the kept members are copied into sc.buf.
func (sc *scratch) collectDisjoint() []Member {
	sc.buf = sc.buf[:0]
	for _, r := range sc.runs {
		sc.hits = sc.hits[:0]
		if len(sc.ex) > 0 {
			sc.exCopy = append(sc.exCopy[:0], sc.ex...)
			sc.hits = excluded(sc.hits, r, sc.exCopy)
		}
		if len(sc.runs) == 1 && len(sc.hits) == 0 {
			return r.members
		}
		start := 0
		for _, h := range sc.hits {
			sc.buf = append(sc.buf, r.members[start:h]...)
			start = h + 1
		}
		sc.buf = append(sc.buf, r.members[start:]...)
	}
	return sc.buf
}

// collectUnion returns the members of sc.runs, each once, minus those in
// sc.ex, copied into sc.buf.
func (sc *scratch) collectUnion() []Member {
	n := 0
	for _, r := range sc.runs {
		n += len(r.keys)
	}
	sc.seen.prepare(n)
	defer sc.seen.clear()
	sc.buf = sc.buf[:0]
	for ri, r := range sc.runs {
		sc.hits = sc.hits[:0]
		if len(sc.ex) > 0 {
			sc.exCopy = append(sc.exCopy[:0], sc.ex...)
			sc.hits = excluded(sc.hits, r, sc.exCopy)
		}
		last := ri == len(sc.runs)-1 // its keys need not go in the set
		hits := sc.hits
		for i := range r.keys {
			if len(hits) > 0 && hits[0] == i {
				hits = hits[1:]
				continue
			}
			if last && !sc.seen.has(&r.keys[i]) || !last && sc.seen.add(&r.keys[i]) {
				sc.buf = append(sc.buf, r.members[i])
			}
		}
	}
	return sc.buf
}

// excluded appends to hits the positions in r of the members of the runs in
// ex, in ascending order: it walks the union of ex in key order and looks
// each one up in what is left of r. It consumes ex.
func excluded(hits []int, r run, ex []run) []int {
	pos := 0
	for len(r.keys) > 0 {
		k, ok := popMin(ex)
		if !ok {
			break
		}
		i, found := r.search(k)
		pos += i
		r.drop(i)
		if found {
			hits = append(hits, pos)
			pos++
			r.drop(1)
		}
	}
	return hits
}

// popMin returns the smallest first key of rs and drops it from every run
// that starts with it. ok is false when every run is empty.
func popMin(rs []run) (k key, ok bool) {
	min := -1
	for i := range rs {
		if len(rs[i].keys) > 0 && (min < 0 || rs[i].keys[0].less(rs[min].keys[0])) {
			min = i
		}
	}
	if min < 0 {
		return key{}, false
	}
	k = rs[min].keys[0]
	for i := range rs {
		if len(rs[i].keys) > 0 && rs[i].keys[0] == k {
			rs[i].drop(1)
		}
	}
	return k, true
}

// nextGroup returns the smallest group among the next spans of ss (next[i]
// indexes ss[i].spans); ok is false when every snapshot is exhausted.
func nextGroup(ss []*snapshot, next []int) (g int, ok bool) {
	for i, s := range ss {
		if j := next[i]; j < len(s.spans) && (!ok || s.spans[j].group < g) {
			g, ok = s.spans[j].group, true
		}
	}
	return g, ok
}

// zeroed returns s resized to n zeros, reusing its array when it can.
func zeroed(s []int, n int) []int {
	s = slices.Grow(s[:0], n)[:n]
	clear(s)
	return s
}
