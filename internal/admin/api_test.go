package admin_test

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/packetd/packetd/codec"
	"github.com/packetd/packetd/internal/admin"
	"github.com/packetd/packetd/internal/server"
	"github.com/packetd/packetd/internal/testutil"
)

type roomList struct {
	Rooms []struct {
		Name    string `json:"name"`
		Members int    `json:"members"`
	} `json:"rooms"`
	Total int    `json:"total"`
	Next  string `json:"next"`
}

type session struct {
	ID         string   `json:"id"`
	ClientID   string   `json:"client_id"`
	Transport  string   `json:"transport"`
	Remote     string   `json:"remote"`
	Online     bool     `json:"online"`
	Persistent bool     `json:"persistent"`
	Rooms      []string `json:"rooms"`
	Queued     int      `json:"queued"`
}

type sessionList struct {
	Sessions []session `json:"sessions"`
	Total    int       `json:"total"`
	Next     string    `json:"next"`
}

// TestAdminAPI lists rooms and sessions over both transports and
// disconnects sessions through the API: the clients get BYE 307 and the
// sessions are gone.
func TestAdminAPI(t *testing.T) {
	t.Parallel()
	srv, base := start(t, nil)

	tcp := testutil.DialTCP(t, srv)
	tcpID := string(tcp.Hello(0).SessionID)
	tcp.Join(1, "lobby", "other")
	udp := testutil.ListenUDP(t, srv)
	udpID := string(udp.Hello(1, 0, codec.MinHelloDatagram).SessionID)
	udp.Join(2, "lobby")
	dev := testutil.DialTCP(t, srv)
	devID := string(dev.HelloWith(&codec.Hello{ClientID: []byte("dev-9"), Persist: true}).SessionID)
	_ = dev.Close()
	testutil.WaitFor(t, "dev-9 offline", func() bool { return !srv.Broker.Online("dev-9") })

	t.Run("rooms", func(t *testing.T) {
		var rl roomList
		getJSON(t, base+"/api/rooms", &rl)
		got := make(map[string]int)
		for _, r := range rl.Rooms {
			got[r.Name] = r.Members
		}
		if len(got) != 2 || got["lobby"] != 2 || got["other"] != 1 || rl.Total != 2 || rl.Next != "" {
			t.Errorf("GET /api/rooms: got %+v, want lobby with 2 members and other with 1", rl)
		}
		rl = roomList{}
		getJSON(t, base+"/api/rooms?limit=1", &rl)
		if len(rl.Rooms) != 1 || rl.Rooms[0].Name != "lobby" || rl.Next != "lobby" || rl.Total != 2 {
			t.Errorf("GET /api/rooms?limit=1: got %+v, want lobby and next=lobby", rl)
		}
		rl = roomList{}
		getJSON(t, base+"/api/rooms?limit=1&after=lobby", &rl)
		if len(rl.Rooms) != 1 || rl.Rooms[0].Name != "other" || rl.Next != "" {
			t.Errorf("GET /api/rooms?after=lobby: got %+v, want other and no next", rl)
		}
		if code, _ := get(t, base+"/api/rooms?limit=x"); code != http.StatusBadRequest {
			t.Errorf("GET /api/rooms?limit=x: got status %d, want 400", code)
		}
	})

	t.Run("sessions", func(t *testing.T) {
		var sl sessionList
		getJSON(t, base+"/api/sessions", &sl)
		byID := make(map[string]session)
		for _, s := range sl.Sessions {
			byID[s.ID] = s
		}
		if sl.Total != 3 || len(byID) != 3 || !slices.IsSortedFunc(sl.Sessions, func(a, b session) int { return strings.Compare(a.ID, b.ID) }) {
			t.Fatalf("GET /api/sessions: got %+v, want 3 sessions sorted by id", sl)
		}
		tests := []struct {
			name string
			got  session
			want session
		}{
			{"tcp", byID[tcpID], session{ID: tcpID, Transport: "tcp", Remote: tcp.LocalAddr().String(), Online: true, Rooms: []string{"lobby", "other"}}},
			{"udp", byID[udpID], session{ID: udpID, Transport: "udp", Remote: udp.LocalAddr().String(), Online: true, Rooms: []string{"lobby"}}},
			{"offline", byID[devID], session{ID: devID, ClientID: "dev-9", Persistent: true, Rooms: []string{}}},
		}
		for _, tt := range tests {
			if !equal(tt.got, tt.want) {
				t.Errorf("%s: got %+v, want %+v", tt.name, tt.got, tt.want)
			}
		}
		var one session
		getJSON(t, base+"/api/sessions/"+strings.TrimPrefix(tcpID, "$"), &one)
		if !equal(one, byID[tcpID]) {
			t.Errorf("GET /api/sessions/{id}: got %+v, want %+v", one, byID[tcpID])
		}
		sl = sessionList{}
		getJSON(t, base+"/api/sessions?room=other", &sl)
		if len(sl.Sessions) != 1 || sl.Sessions[0].ID != tcpID {
			t.Errorf("GET /api/sessions?room=other: got %+v, want the TCP session alone", sl)
		}
		sl = sessionList{}
		getJSON(t, base+"/api/sessions?client=dev-9", &sl)
		if len(sl.Sessions) != 1 || sl.Sessions[0].ID != devID {
			t.Errorf("GET /api/sessions?client=dev-9: got %+v, want dev-9's alone", sl)
		}
		sl = sessionList{}
		getJSON(t, base+"/api/sessions?limit=2", &sl)
		if len(sl.Sessions) != 2 || sl.Next != sl.Sessions[1].ID {
			t.Errorf("GET /api/sessions?limit=2: got %+v, want 2 and next", sl)
		}
		if code, _ := get(t, base+"/api/sessions/$0000000000000000"); code != http.StatusNotFound {
			t.Errorf("GET an unknown session: got status %d, want 404", code)
		}
	})

	t.Run("disconnect", func(t *testing.T) {
		if code, body := do(t, http.MethodDelete, base+"/api/sessions/"+tcpID); code != http.StatusOK || !strings.Contains(body, `"code": 307`) {
			t.Fatalf("DELETE the TCP session: got %d %s, want 200 with code 307", code, body)
		}
		testutil.CheckError(t, tcp.MustNext(), codec.TypeBye, 0, codec.CodeDisconnected)
		tcp.ExpectEOF()
		if code, _ := do(t, http.MethodPost, base+"/api/sessions/"+strings.TrimPrefix(udpID, "$")+"/disconnect"); code != http.StatusOK {
			t.Fatalf("POST .../disconnect for the UDP session: got status %d, want 200", code)
		}
		testutil.CheckError(t, udp.MustNext(), codec.TypeBye, 0, codec.CodeDisconnected)
		if code, _ := do(t, http.MethodDelete, base+"/api/sessions/"+devID); code != http.StatusOK {
			t.Fatalf("DELETE the offline session: got status %d, want 200", code)
		}
		for _, id := range []string{tcpID, udpID, devID} {
			if code, _ := do(t, http.MethodDelete, base+"/api/sessions/"+id); code != http.StatusNotFound {
				t.Errorf("DELETE %s again: got status %d, want 404", id, code)
			}
		}
		if n := srv.Broker.Sessions(); n != 0 {
			t.Errorf("sessions left: got %d, want 0", n)
		}
		var rl roomList
		getJSON(t, base+"/api/rooms", &rl)
		if rl.Total != 0 {
			t.Errorf("rooms left: got %+v, want none", rl)
		}
		want(t, scrape(t, base), map[string]float64{
			`packetd_admin_disconnects_total`:        3,
			`packetd_packets_out_total{type="bye"}`:  2,
			`packetd_sessions_persistent`:            0,
			`packetd_packets_in_total{type="hello"}`: 3,
			`packetd_connections{transport="udp"}`:   0,
		})
	})

	if code, _ := do(t, http.MethodPut, base+"/api/sessions"); code != http.StatusMethodNotAllowed {
		t.Errorf("PUT /api/sessions: got status %d, want 405", code)
	}
	if code, _ := get(t, base+"/debug/pprof/"); code != http.StatusNotFound {
		t.Errorf("GET /debug/pprof/ without -admin-pprof: got status %d, want 404", code)
	}
}

func equal(a, b session) bool {
	return a.ID == b.ID && a.ClientID == b.ClientID && a.Transport == b.Transport && a.Remote == b.Remote &&
		a.Online == b.Online && a.Persistent == b.Persistent && slices.Equal(a.Rooms, b.Rooms) && a.Queued == b.Queued
}

// TestProbes checks /healthz and /readyz against a readiness that
// changes, and that pprof is served when asked for.
func TestProbes(t *testing.T) {
	t.Parallel()
	var stopping atomic.Bool
	ready := func() error {
		if stopping.Load() {
			return errors.New("shutting down")
		}
		return nil
	}
	s, err := admin.New(admin.Config{Addr: "127.0.0.1:0", Pprof: true}, nil, nil, ready)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Shutdown(t.Context()) })
	base := "http://" + s.Addr().String()
	for _, tt := range []struct {
		path     string
		stopping bool
		code     int
		body     string
	}{
		{"/healthz", false, 200, "ok"},
		{"/readyz", false, 200, "ready"},
		{"/readyz", true, 503, "shutting down"},
		{"/healthz", true, 200, "ok"},
		{"/debug/pprof/", true, 200, "goroutine"},
	} {
		stopping.Store(tt.stopping)
		code, body := get(t, base+tt.path)
		if code != tt.code || !strings.Contains(body, tt.body) {
			t.Errorf("GET %s (stopping %v): got %d %q, want %d with %q", tt.path, tt.stopping, code, body, tt.code, tt.body)
		}
	}
}

// TestReadyzDuringShutdown checks a real server's readiness: 200 once
// started, 503 from the moment Shutdown begins, until the admin listener
// closes last.
func TestReadyzDuringShutdown(t *testing.T) {
	t.Parallel()
	srv, base := start(t, nil)
	testutil.DialTCP(t, srv).Hello(0) // a client to say BYE to
	if code, _ := get(t, base+"/readyz"); code != http.StatusOK {
		t.Fatalf("GET /readyz: got status %d, want 200", code)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(t.Context()) }()
	// Poll until readiness changes: the first answer that is not 200 must
	// be 503 (the listener closes only after everything else).
	client := &http.Client{}
	for {
		resp, err := client.Get(base + "/readyz")
		if err != nil {
			t.Fatalf("GET /readyz during shutdown: %v, want 503 before the listener closes", err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			break
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /readyz during shutdown: got status %d, want 200 or 503", resp.StatusCode)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if _, err := client.Get(base + "/readyz"); err == nil {
		t.Errorf("GET /readyz after Shutdown: got an answer, want the listener closed")
	}
}

// TestRemoteAddressRefused checks that the admin listener refuses an
// address that is not loopback unless told otherwise.
func TestRemoteAddressRefused(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		addr        string
		allowRemote bool
		err         error
	}{
		{"127.0.0.1:0", false, nil},
		{"[::1]:0", false, nil},
		{"localhost:0", false, nil},
		{"0.0.0.0:7071", false, admin.ErrRemote},
		{":7071", false, admin.ErrRemote},
		{"[::]:7071", false, admin.ErrRemote},
		{"192.0.2.1:7071", false, admin.ErrRemote},
		{"example.com:7071", false, admin.ErrRemote},
		{"0.0.0.0:7071", true, nil},
		{"7071", false, admin.ErrAddr},
	} {
		_, err := admin.New(admin.Config{Addr: tt.addr, AllowRemote: tt.allowRemote}, nil, nil, nil)
		if !errors.Is(err, tt.err) {
			t.Errorf("New(%q, allow remote %v): got %v, want %v", tt.addr, tt.allowRemote, err, tt.err)
		}
	}
	// The server refuses to start with it, before binding anything.
	cfg := server.Config{Admin: admin.Config{Addr: "0.0.0.0:0"}}
	cfg.TCP.Addr, cfg.UDP.Addr = "127.0.0.1:0", "127.0.0.1:0"
	if _, err := server.New(cfg); !errors.Is(err, admin.ErrRemote) {
		t.Errorf("server.New with admin address 0.0.0.0:0: got %v, want ErrRemote", err)
	}
}

// TestBrowserRequestsRefused checks the defences against web pages: a
// cross-site POST (CSRF) gets 403 and a Host that is not loopback (DNS
// rebinding) gets 421; neither disconnects anyone.
func TestBrowserRequestsRefused(t *testing.T) {
	t.Parallel()
	srv, base := start(t, nil)
	c := testutil.DialTCP(t, srv)
	id := string(c.Hello(0).SessionID)
	for _, tt := range []struct {
		name   string
		method string
		header map[string]string
		host   string
		code   int
	}{
		{"cross-site POST", http.MethodPost, map[string]string{"Sec-Fetch-Site": "cross-site"}, "", http.StatusForbidden},
		{"cross-origin DELETE", http.MethodDelete, map[string]string{"Origin": "http://evil.example"}, "", http.StatusForbidden},
		{"rebound host", http.MethodGet, nil, "evil.example:7071", http.StatusMisdirectedRequest},
	} {
		url := base + "/api/sessions/" + id
		if tt.method == http.MethodPost {
			url += "/disconnect"
		}
		req, err := http.NewRequest(tt.method, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range tt.header {
			req.Header.Set(k, v)
		}
		if tt.host != "" {
			req.Host = tt.host
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.code {
			t.Errorf("%s: got status %d, want %d", tt.name, resp.StatusCode, tt.code)
		}
	}
	if _, ok := srv.Broker.LookupSession(id); !ok {
		t.Error("the session was disconnected")
	}
	if code, _ := get(t, "http://localhost:"+strings.TrimPrefix(base, "http://127.0.0.1:")+"/healthz"); code != http.StatusOK {
		t.Errorf("GET /healthz with Host localhost: got status %d, want 200", code)
	}
}
