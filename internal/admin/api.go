package admin

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/broker"
	"github.com/packetd/packetd/rooms"
)

// Pagination of the listings: ?limit=N (default defaultLimit, at most
// maxLimit) and ?after=KEY, the last key of the previous page; a page
// that is not the last says where the next starts in "next".
const (
	defaultLimit = 100
	maxLimit     = 1000
)

// roomJSON is one room in GET /api/rooms.
type roomJSON struct {
	Name    string `json:"name"`
	Members int    `json:"members"`
}

type roomsJSON struct {
	Rooms []roomJSON `json:"rooms"`
	Total int        `json:"total"`          // rooms matching the query, all pages
	Next  string     `json:"next,omitempty"` // the ?after= of the next page
}

// sessionJSON is one session in GET /api/sessions and /api/sessions/{id}.
type sessionJSON struct {
	ID           string     `json:"id"`
	ClientID     string     `json:"client_id"`
	Transport    string     `json:"transport,omitempty"`
	Remote       string     `json:"remote,omitempty"`
	Identity     string     `json:"identity,omitempty"`
	Online       bool       `json:"online"`
	Persistent   bool       `json:"persistent"`
	Rooms        []string   `json:"rooms"`
	Queued       int        `json:"queued"`
	QueuedBytes  int        `json:"queued_bytes"`
	Inflight     int        `json:"inflight"`
	KeepAlive    float64    `json:"keepalive_seconds"`
	OfflineSince *time.Time `json:"offline_since,omitempty"`
}

type sessionsJSON struct {
	Sessions []sessionJSON `json:"sessions"`
	Total    int           `json:"total"`
	Next     string        `json:"next,omitempty"`
}

type errorJSON struct {
	Error string `json:"error"`
}

func toJSON(i broker.SessionInfo) sessionJSON {
	out := sessionJSON{ID: i.ID, ClientID: i.ClientID, Transport: i.Transport, Identity: i.Identity,
		Online: i.Online, Persistent: i.Persistent, Rooms: i.Rooms, Queued: i.Queued, QueuedBytes: i.QueuedBytes,
		Inflight: i.Inflight, KeepAlive: i.KeepAlive.Seconds()}
	if out.Rooms == nil {
		out.Rooms = []string{}
	}
	if i.Remote.IsValid() {
		out.Remote = i.Remote.String()
	}
	if !i.OfflineSince.IsZero() {
		t := i.OfflineSince.UTC()
		out.OfflineSince = &t
	}
	return out
}

// page reads ?limit and ?after.
func page(r *http.Request) (limit int, after string, ok bool) {
	limit = defaultLimit
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 0, "", false
		}
		limit = min(n, maxLimit)
	}
	return limit, r.URL.Query().Get("after"), true
}

// startAfter returns the index of the first element of list, sorted by
// key, whose key is greater than after ("" starts at 0).
func startAfter[T any](list []T, key func(T) string, after string) int {
	if after == "" {
		return 0
	}
	i, found := slices.BinarySearchFunc(list, after, func(x T, k string) int { return strings.Compare(key(x), k) })
	if found {
		i++
	}
	return i
}

// GET /api/rooms[?prefix=P][&limit=N][&after=NAME]: the rooms sorted by
// name, with their member counts. Sessions' own rooms are not listed.
func (s *Server) listRooms(w http.ResponseWriter, r *http.Request) {
	limit, after, ok := page(r)
	if !ok {
		writeJSON(w, http.StatusBadRequest, errorJSON{"limit must be a positive integer"})
		return
	}
	all := s.broker.Adapter().RoomSizes()
	if prefix := r.URL.Query().Get("prefix"); prefix != "" {
		all = slices.DeleteFunc(all, func(rs rooms.RoomSize) bool { return !strings.HasPrefix(rs.Name, prefix) })
	}
	start := startAfter(all, func(rs rooms.RoomSize) string { return rs.Name }, after)
	end := min(start+limit, len(all))
	out := roomsJSON{Rooms: make([]roomJSON, 0, end-start), Total: len(all)}
	for _, rs := range all[start:end] {
		out.Rooms = append(out.Rooms, roomJSON{Name: rs.Name, Members: rs.Members})
	}
	if end < len(all) && end > 0 {
		out.Next = all[end-1].Name
	}
	writeJSON(w, http.StatusOK, out)
}

// GET /api/sessions[?client=ID][&room=NAME][&limit=N][&after=SID]: the
// sessions sorted by id, online and offline, optionally only those of a
// client id or in a room.
func (s *Server) listSessions(w http.ResponseWriter, r *http.Request) {
	limit, after, ok := page(r)
	if !ok {
		writeJSON(w, http.StatusBadRequest, errorJSON{"limit must be a positive integer"})
		return
	}
	q := r.URL.Query()
	var ids []string
	if room := q.Get("room"); room != "" {
		ids = s.broker.Adapter().Members(room)
		slices.Sort(ids)
	} else {
		ids = s.broker.SessionIDs()
	}
	if client := q.Get("client"); client != "" {
		// Filtering needs each session's client id: read them all.
		ids = slices.DeleteFunc(ids, func(id string) bool {
			info, ok := s.broker.LookupSession(id)
			return !ok || info.ClientID != client
		})
	}
	start := startAfter(ids, func(id string) string { return id }, after)
	end := min(start+limit, len(ids))
	out := sessionsJSON{Sessions: make([]sessionJSON, 0, end-start), Total: len(ids)}
	for _, id := range ids[start:end] {
		// A session that ended since the ids were read is left out.
		if info, ok := s.broker.LookupSession(id); ok {
			out.Sessions = append(out.Sessions, toJSON(info))
		}
	}
	if end < len(ids) && end > 0 {
		out.Next = ids[end-1]
	}
	writeJSON(w, http.StatusOK, out)
}

// GET /api/sessions/{id}: one session ("$" and 16 hex digits; the "$"
// may be left out).
func (s *Server) getSession(w http.ResponseWriter, r *http.Request) {
	info, ok := s.broker.LookupSession(r.PathValue("id"))
	if !ok {
		writeJSON(w, http.StatusNotFound, errorJSON{"no such session"})
		return
	}
	writeJSON(w, http.StatusOK, toJSON(info))
}

type disconnectedJSON struct {
	Disconnected string `json:"disconnected"`
	Code         int    `json:"code"`
}

// DELETE /api/sessions/{id} and POST /api/sessions/{id}/disconnect: end
// the session (broker.Disconnect: BYE 307, persistent state deleted).
func (s *Server) disconnect(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	info, ok := s.broker.LookupSession(id)
	if !ok || !s.broker.Disconnect(info.ID) {
		writeJSON(w, http.StatusNotFound, errorJSON{"no such session"})
		return
	}
	s.log.Info("admin: session disconnected", "session", info.ID, "client", info.ClientID, "from", r.RemoteAddr)
	writeJSON(w, http.StatusOK, disconnectedJSON{Disconnected: info.ID, Code: int(codec.CodeDisconnected)})
}

// backup streams a consistent copy of the data file (docs/OPERATIONS.md,
// "Upgrades and backups"); 409 when the store is in memory.
func (s *Server) backup(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="packetd.db"`)
	w.Header().Set("Cache-Control", "no-store")
	n, err := s.broker.Backup(w)
	switch {
	case errors.Is(err, broker.ErrNoBackup):
		w.Header().Del("Content-Disposition")
		writeJSON(w, http.StatusConflict, errorJSON{"the store is in memory (-memory): there is no data file to back up"})
	case err != nil && n == 0:
		w.Header().Del("Content-Disposition")
		writeJSON(w, http.StatusInternalServerError, errorJSON{err.Error()})
		s.log.Error("admin: backup failed", "err", err)
	case err != nil: // the status went out with the first bytes
		s.log.Error("admin: backup failed part way: the client got a torn copy", "bytes", n, "err", err)
		panic(http.ErrAbortHandler) // abort the response, so the copy cannot pass for whole
	default:
		s.log.Info("admin: backup taken", "bytes", n, "from", r.RemoteAddr)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
