package web

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coaching/intercom_exporter/engagement"
)

// requestAs runs one request on h, with basic auth when user is not "".
func requestAs(t *testing.T, h http.Handler, method, target, user, password string) response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return response{rec.Code, rec.Header(), rec.Body.String()}
}

func TestAccess_EmptiedWebConfigRefusesMemberDataWhileServing(t *testing.T) {
	dir := t.TempDir()
	path := writeWebConfig(t, dir, basicAuthConfig(t))
	logs := &logBuffer{}
	sv := serve(t, Options{WebConfigFile: path, Logger: slog.New(slog.NewTextHandler(logs, nil)),
		Syncer: &fakeSyncer{sum: engagement.Summary{Result: engagement.ResultSuccess}}}, "http", nil)
	if r := sv.request(t, http.MethodGet, "/billing.csv?month=2026-10", testUser, testPassword); r.code != http.StatusOK {
		t.Fatalf("before the edit: %d %s", r.code, r.body)
	}
	for _, tc := range []struct{ name, content, logged string }{
		{"comment only", "# empty\n", "no longer names basic_auth_users"},
		{"empty users", "basic_auth_users: {}\n", "no longer names basic_auth_users"},
		{"empty file", "", "no longer names basic_auth_users"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			for _, req := range []struct{ method, path string }{
				{http.MethodGet, "/billing.csv"}, {http.MethodGet, "/caseload.csv"},
				{http.MethodGet, "/sessions.csv?from=2026-10-01&to=2026-10-01&format=json"}, {http.MethodPost, "/sync"},
			} {
				r := sv.request(t, req.method, req.path)
				if r.code != http.StatusForbidden {
					t.Errorf("%s %s without credentials: %d, want 403", req.method, req.path, r.code)
				}
				if strings.Contains(r.body, "Zoe") || r.header.Get("X-Data-Timestamp") != "" {
					t.Errorf("%s %s: the refusal carries data: %s", req.method, req.path, r.body)
				}
			}
			if !strings.Contains(logs.String(), tc.logged) {
				t.Errorf("the reason is not logged: %s", logs.String())
			}
			// Not member data: still served.
			if r := sv.request(t, http.MethodGet, "/healthz"); r.code != http.StatusOK {
				t.Errorf("/healthz: %d", r.code)
			}
		})
	}
	// A broken file: exporter-toolkit answers 500 to everything, and
	// nothing of the member data goes out, with or without credentials.
	if err := os.WriteFile(path, []byte("basic_auth_users: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, auth := range [][]string{nil, {testUser, testPassword}} {
		r := sv.request(t, http.MethodGet, "/billing.csv?month=2026-10", auth...)
		if r.code == http.StatusOK || strings.Contains(r.body, "Zoe") || r.header.Get("X-Data-Timestamp") != "" {
			t.Errorf("broken file, credentials %v: %d %s", auth != nil, r.code, r.body)
		}
	}
	// Users back: served again, to them only.
	if err := os.WriteFile(path, []byte(basicAuthConfig(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := sv.request(t, http.MethodGet, "/billing.csv?month=2026-10", testUser, testPassword); r.code != http.StatusOK {
		t.Errorf("users restored: %d %s", r.code, r.body)
	}
	if r := sv.request(t, http.MethodGet, "/billing.csv?month=2026-10"); r.code != http.StatusUnauthorized {
		t.Errorf("users restored, no credentials: %d", r.code)
	}
}

func TestAccess_BrokenOrMissingWebConfigRefusesMemberData(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spoil func(t *testing.T, path string)
	}{
		{"not YAML", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte("basic_auth_users: [\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"unknown key", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte("basic_auth_user:\n  finance: x\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"removed", func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		for _, unauth := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/ALLOW_UNAUTHENTICATED=%v", tc.name, unauth), func(t *testing.T) {
				path := writeWebConfig(t, t.TempDir(), basicAuthConfig(t))
				logs := &logBuffer{}
				s := newTestServer(t, func(o *Options) {
					o.WebConfigFile = path
					o.AllowUnauthenticated = unauth
					o.Logger = slog.New(slog.NewTextHandler(logs, nil))
				})
				h := s.Handler()
				if r := requestAs(t, h, http.MethodGet, "/billing.csv?month=2026-10", testUser, testPassword); r.code != http.StatusOK {
					t.Fatalf("before: %d %s", r.code, r.body)
				}
				tc.spoil(t, path)
				for _, user := range []string{"", testUser} {
					if r := requestAs(t, h, http.MethodGet, "/billing.csv", user, testPassword); r.code != http.StatusForbidden || strings.Contains(r.body, "Zoe") {
						t.Errorf("GET /billing.csv as %q: %d %s, want 403", user, r.code, r.body)
					}
					if r := requestAs(t, h, http.MethodPost, "/sync", user, testPassword); r.code != http.StatusForbidden {
						t.Errorf("POST /sync as %q: %d, want 403", user, r.code)
					}
				}
				if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "WEB_CONFIG_FILE") {
					t.Errorf("the reason is not logged at ERROR: %s", logs.String())
				}
				if n := strings.Count(logs.String(), "Member data and writes are refused"); n != 1 {
					t.Errorf("the same reason is logged %d times for 4 requests, want once", n)
				}
			})
		}
	}
}

func TestAccess_CredentialsAreCheckedAgainstTheCurrentFile(t *testing.T) {
	// The handler checks the password itself, so a file edited between
	// exporter-toolkit's read and ours never lets a request through.
	path := writeWebConfig(t, t.TempDir(), basicAuthConfig(t))
	h := newTestServer(t, func(o *Options) { o.WebConfigFile = path; o.AllowUnauthenticated = false }).Handler()
	for _, tc := range []struct{ user, password string }{
		{"", ""}, {testUser, "wrong"}, {"nobody", testPassword},
	} {
		r := requestAs(t, h, http.MethodGet, "/billing.csv", tc.user, tc.password)
		if r.code != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") == "" {
			t.Errorf("%q/%q: %d %v, want 401 with a challenge", tc.user, tc.password, r.code, r.header)
		}
	}
	// A password change takes effect on the next request.
	if err := os.WriteFile(path, []byte(fmt.Sprintf("basic_auth_users:\n  %s: %s\n", testUser, bcryptHash(t, "new password"))), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := requestAs(t, h, http.MethodGet, "/billing.csv?month=2026-10", testUser, testPassword); r.code != http.StatusUnauthorized {
		t.Errorf("old password after the change: %d, want 401", r.code)
	}
	if r := requestAs(t, h, http.MethodGet, "/billing.csv?month=2026-10", testUser, "new password"); r.code != http.StatusOK {
		t.Errorf("new password: %d %s", r.code, r.body)
	}
}

// rolesConfig names four users, each with the password "pw-<name>".
func rolesConfig(t *testing.T) string {
	var b strings.Builder
	b.WriteString("basic_auth_users:\n")
	for _, u := range []string{"prometheus", "finance", "grafana", "ops"} {
		fmt.Fprintf(&b, "  %s: %s\n", u, bcryptHash(t, "pw-"+u))
	}
	return b.String()
}

func TestAccess_Roles(t *testing.T) {
	path := writeWebConfig(t, t.TempDir(), rolesConfig(t))
	h := newTestServer(t, func(o *Options) {
		o.WebConfigFile = path
		o.AllowUnauthenticated = false
		o.SyncUsers = []string{"ops"}
		o.MemberUsers = []string{"finance", "grafana"}
	}).Handler()
	type want map[string]int // user -> status
	for _, tc := range []struct {
		method, target string
		want           want
	}{
		// Not member data: every authenticated user.
		{http.MethodGet, "/metrics", want{"prometheus": 200, "finance": 200, "grafana": 200, "ops": 200}},
		{http.MethodGet, "/", want{"prometheus": 200, "finance": 200, "grafana": 200, "ops": 200}},
		// Member data: MEMBER_USERS only, CSV and JSON alike.
		{http.MethodGet, "/billing.csv?month=2026-10", want{"prometheus": 403, "finance": 200, "grafana": 200, "ops": 403}},
		{http.MethodGet, "/caseload.csv?format=json", want{"prometheus": 403, "finance": 200, "grafana": 200, "ops": 403}},
		{http.MethodGet, "/participants.csv", want{"prometheus": 403, "finance": 200, "grafana": 200, "ops": 403}},
		{http.MethodGet, "/sessions.csv?from=2026-10-01&to=2026-10-31&format=json", want{"prometheus": 403, "finance": 200, "grafana": 200, "ops": 403}},
		// Writes: SYNC_USERS only (the Grafana data source reads, never writes).
		{http.MethodPost, "/sync", want{"prometheus": 403, "finance": 403, "grafana": 403, "ops": 200}},
		{http.MethodPost, "/sync?dry_run=true", want{"prometheus": 403, "finance": 403, "grafana": 403, "ops": 200}},
		{http.MethodPost, "/refresh", want{"prometheus": 403, "finance": 403, "grafana": 403, "ops": 202}},
	} {
		for user, code := range tc.want {
			r := requestAs(t, h, tc.method, tc.target, user, "pw-"+user)
			if r.code != code {
				t.Errorf("%s %s as %s: %d, want %d (%s)", tc.method, tc.target, user, r.code, code, strings.TrimSpace(r.body))
			}
			if code == http.StatusForbidden {
				role := "MEMBER_USERS"
				if tc.method == http.MethodPost {
					role = "SYNC_USERS"
				}
				if !strings.Contains(r.body, role) || strings.Contains(r.body, "Zoe") {
					t.Errorf("%s %s as %s: the 403 does not name %s, or carries data: %s", tc.method, tc.target, user, role, r.body)
				}
			}
		}
	}
}

func TestAccess_UnsetRolesLetEveryAuthenticatedUserReadAndWrite(t *testing.T) {
	path := writeWebConfig(t, t.TempDir(), rolesConfig(t))
	h := newTestServer(t, func(o *Options) { o.WebConfigFile = path; o.AllowUnauthenticated = false }).Handler()
	for _, user := range []string{"prometheus", "finance", "grafana", "ops"} {
		if r := requestAs(t, h, http.MethodGet, "/billing.csv?month=2026-10", user, "pw-"+user); r.code != http.StatusOK {
			t.Errorf("GET /billing.csv as %s: %d", user, r.code)
		}
		if r := requestAs(t, h, http.MethodPost, "/sync", user, "pw-"+user); r.code != http.StatusOK {
			t.Errorf("POST /sync as %s: %d", user, r.code)
		}
	}
}

func TestAccess_OneRoleSetLeavesTheOtherOpen(t *testing.T) {
	path := writeWebConfig(t, t.TempDir(), rolesConfig(t))
	h := newTestServer(t, func(o *Options) {
		o.WebConfigFile = path
		o.AllowUnauthenticated = false
		o.SyncUsers = []string{"ops"}
	}).Handler()
	if r := requestAs(t, h, http.MethodGet, "/billing.csv?month=2026-10", "prometheus", "pw-prometheus"); r.code != http.StatusOK {
		t.Errorf("MEMBER_USERS unset, read as prometheus: %d, want 200", r.code)
	}
	if r := requestAs(t, h, http.MethodPost, "/sync", "finance", "pw-finance"); r.code != http.StatusForbidden {
		t.Errorf("SYNC_USERS=ops, write as finance: %d, want 403", r.code)
	}
}

func TestAccess_RolesWithoutBasicAuthRefuse(t *testing.T) {
	// Roles name users; without basic auth there are none to match, so
	// the guarded side is refused rather than opened.
	h := newTestServer(t, func(o *Options) { o.SyncUsers = []string{"ops"} }).Handler()
	if r := do(t, h, http.MethodPost, "/sync"); r.code != http.StatusForbidden || !strings.Contains(r.body, "SYNC_USERS") {
		t.Errorf("POST /sync: %d %s, want 403 naming SYNC_USERS", r.code, r.body)
	}
	if r := get(t, h, "/billing.csv?month=2026-10"); r.code != http.StatusOK {
		t.Errorf("GET /billing.csv (MEMBER_USERS unset, ALLOW_UNAUTHENTICATED): %d", r.code)
	}
}

// slowReaderServer serves a 40,000-row billing file over loopback with a
// short write timeout; done receives when a handler returns.
func slowReaderServer(t *testing.T, timeout time.Duration) (addr string, done chan struct{}) {
	t.Helper()
	s := newTestServer(t, func(o *Options) {
		o.Source = newSource(bigModel("S", 40_000, fixtureNow))
		o.WriteTimeout = timeout
	})
	done = make(chan struct{}, 8)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { done <- struct{}{} }()
		s.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	return ts.Listener.Addr().String(), done
}

func dialGet(t *testing.T, addr, target string, smallBuffer bool) net.Conn {
	t.Helper()
	d := net.Dialer{}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if tc, ok := c.(*net.TCPConn); ok && smallBuffer {
		_ = tc.SetReadBuffer(4 << 10)
	}
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, addr); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSlowReader_ClientThatStopsReadingIsDropped(t *testing.T) {
	addr, done := slowReaderServer(t, 300*time.Millisecond)
	c := dialGet(t, addr, "/billing.csv?month=2026-10&format=json", true)
	// Read the start of the answer, then stop reading altogether. The file
	// (several MB) is far larger than the socket buffers.
	if _, err := io.ReadFull(c, make([]byte, 1024)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the handler still holds a client that stopped reading")
	}
}

func TestSlowReader_SlowButSteadyDownloadIsComplete(t *testing.T) {
	// Each pause is shorter than the write timeout, the whole download much
	// longer: a per-write deadline lets it finish, a whole-response one
	// would not.
	timeout := time.Second
	addr, _ := slowReaderServer(t, timeout)
	c := dialGet(t, addr, "/billing.csv?month=2026-10", false)
	br := bufio.NewReaderSize(c, 64<<10)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	start := time.Now()
	var n int64
	buf := make([]byte, 512<<10)
	for {
		time.Sleep(timeout / 5)
		k, err := io.ReadFull(resp.Body, buf)
		n += int64(k)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			t.Fatalf("after %d bytes and %s: %v", n, time.Since(start), err)
		}
	}
	if elapsed := time.Since(start); elapsed < timeout {
		t.Fatalf("the download took %s, not longer than the write timeout %s: the test proves nothing", elapsed, timeout)
	}
	// Every one of the 40,000 rows holds at least its id, name and e-mail
	// (over 40 bytes); a cut download would end in an error above.
	if n < 40_000*40 {
		t.Errorf("only %d bytes arrived", n)
	}
	t.Logf("%d bytes in %s", n, time.Since(start))
}
