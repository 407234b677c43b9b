package admin_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/packetd/packetd/internal/server"
	"github.com/packetd/packetd/internal/testutil"
)

// start starts a server with the admin listener on 127.0.0.1:0 and
// returns it with the listener's base URL.
func start(t *testing.T, configure func(*server.Config)) (*testutil.Server, string) {
	t.Helper()
	srv := testutil.Start(t, func(c *server.Config) {
		c.Admin.Addr = "127.0.0.1:0"
		if configure != nil {
			configure(c)
		}
	})
	return srv, "http://" + srv.AdminAddr().String()
}

// get fetches url and returns the status code and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	return do(t, http.MethodGet, url)
}

func do(t *testing.T, method, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, url, err)
	}
	return resp.StatusCode, string(b)
}

// getJSON fetches url, expects 200 and decodes the body into v.
func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	code, body := get(t, url)
	if code != http.StatusOK {
		t.Fatalf("GET %s: got status %d, want 200: %s", url, code, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("GET %s: %v in %s", url, err, body)
	}
}

// scrape fetches /metrics and returns every sample by its series as the
// text format writes it, such as `packetd_packets_in_total{type="emit"}`.
func scrape(t *testing.T, base string) map[string]float64 {
	t.Helper()
	code, body := get(t, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: got status %d, want 200", code)
	}
	out := make(map[string]float64)
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("/metrics: bad sample %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

// want checks series in a scrape.
func want(t *testing.T, m map[string]float64, series map[string]float64) {
	t.Helper()
	for s, w := range series {
		got, ok := m[s]
		switch {
		case !ok:
			t.Errorf("%s: missing from /metrics", s)
		case got != w:
			t.Errorf("%s: got %v, want %v", s, got, w)
		}
	}
}
