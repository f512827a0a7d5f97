package main

import (
	"bytes"
	"encoding/json"

	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/sethvargo/go-envconfig"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coaching/intercom_exporter/intercom/intercomtest"
)

// syncBuffer is a bytes.Buffer safe for the daemon's log writes and the
// test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestVersionFlag(t *testing.T) {
	var out bytes.Buffer
	code := run([]string{"-version"}, envconfig.MapLookuper(nil), &out, io.Discard)
	assert.Equal(t, 0, code)
	assert.Contains(t, out.String(), "intercom_exporter, version")
}

func TestInvalidConfiguration_ExitsOneWithOneMessageListingEveryProblem(t *testing.T) {
	const token = "tok_main_test_do_not_print"
	var stderr bytes.Buffer
	code := run(nil, envconfig.MapLookuper(map[string]string{
		"INTERCOM_ACCESS_TOKEN": token,
		"TIMEZONE":              "Nowhere/Special",
		"LOOKBACK_DAYS":         "many",
		"SYNC_SCHEDULE":         "0 6 31 2 *",
		"LOG_LEVEL":             "chatty",
	}), io.Discard, &stderr)
	assert.Equal(t, 1, code)
	msg := stderr.String()
	assert.Contains(t, msg, "invalid configuration (4 problems)")
	for _, key := range []string{"TIMEZONE", "LOOKBACK_DAYS", "SYNC_SCHEDULE", "LOG_LEVEL"} {
		assert.Contains(t, msg, key+":")
	}
	assert.NotContains(t, msg, token)

	stderr.Reset()
	assert.Equal(t, 1, run(nil, envconfig.MapLookuper(nil), io.Discard, &stderr))
	assert.Contains(t, stderr.String(), "INTERCOM_ACCESS_TOKEN is not set")
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// The whole daemon (configuration, exporter, web server) against the fake
// with a generated workspace; totals re-derived from the generator's raw
// data without the engagement package. SIGTERM stops it with exit code 0.
func TestDaemon_EndToEndAgainstTheFake(t *testing.T) {
	const token = "tok_daemon_e2e_7731"
	ws := intercomtest.Generate(intercomtest.GenerateOptions{
		Seed: 3, Participants: 300, Conversations: 2500, Coaches: 5, Employers: 8, Now: time.Now(),
	})
	fake := intercomtest.NewServer(ws, intercomtest.Options{Token: token})
	defer fake.Close()
	addr := freePort(t)
	logs := &syncBuffer{}
	env := envconfig.MapLookuper(map[string]string{
		"INTERCOM_ACCESS_TOKEN": token,
		"INTERCOM_API_BASE":     fake.URL(),
		"LISTEN_ADDRESS":        addr,
		"SYNC_MODE":             "dry-run",
		"LOG_LEVEL":             "debug",
	})
	done := make(chan int, 1)
	go func() { done <- run(nil, env, io.Discard, logs) }()

	base := "http://" + addr
	require.Eventually(t, func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 20*time.Millisecond, "ready once reports are published")

	resp, err := http.Get(base + "/metrics")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	require.NoError(t, err)
	sum := func(name string) float64 {
		total := 0.0
		f, ok := fams[name]
		require.True(t, ok, "%s is exported", name)
		for _, m := range f.GetMetric() {
			total += m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
		return total
	}
	dataNow := time.Unix(int64(sum("intercom_data_timestamp_seconds")), 0)
	sessions, enrolled := deriveTotals(ws, dataNow)
	assert.Equal(t, float64(sessions), sum("intercom_sessions"))
	assert.Equal(t, float64(enrolled), sum("intercom_participants"))
	assert.Equal(t, 1.0, sum("intercom_up"))
	assert.Equal(t, 1.0, sum("intercom_exporter_build_info"))
	assert.Positive(t, sum("go_goroutines"))
	assert.Contains(t, string(body), `intercom_sessions{band="0-7d"`)

	// The sync endpoint is wired (dry-run: plans, writes nothing). The
	// member data is refused without basic auth or ALLOW_UNAUTHENTICATED.
	resp, err = http.Post(base+"/sync?dry_run=true", "", nil)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.Zero(t, fake.Count("PUT", intercomtest.EndpointContact))

	// POST /refresh is a write: refused like POST /sync without basic auth.
	resp, err = http.Post(base+"/refresh", "", nil)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)

	// SIGHUP asks for a refresh now, one that reads the workspace and the
	// contacts too (the scheduled ones in between read conversations only).
	me := fake.Count(http.MethodGet, intercomtest.EndpointMe)
	require.NoError(t, syscall.Kill(syscall.Getpid(), syscall.SIGHUP))
	require.Eventually(t, func() bool { return fake.Count(http.MethodGet, intercomtest.EndpointMe) > me },
		20*time.Second, 20*time.Millisecond, "SIGHUP made a refresh")
	assert.Contains(t, logs.String(), "SIGHUP: refresh requested")

	require.NoError(t, syscall.Kill(syscall.Getpid(), syscall.SIGTERM))
	select {
	case code := <-done:
		assert.Equal(t, 0, code)
	case <-time.After(40 * time.Second):
		t.Fatal("the daemon did not stop on SIGTERM")
	}
	assert.NotContains(t, logs.String(), token)
	assert.Contains(t, logs.String(), "Stopped intercom_exporter")
}

// deriveTotals counts, from raw data, the closed session-channel
// conversations created in the last 365 days (UTC) and the contacts with a
// readable registration date.
func deriveTotals(ws *intercomtest.Workspace, now time.Time) (sessions, enrolled int) {
	today := now.UTC().Unix() / 86400
	for _, c := range ws.Conversations() {
		var ch string
		_ = json.Unmarshal(c.CustomAttributes["Channel"], &ch)
		switch strings.ToLower(strings.TrimSpace(ch)) {
		case "phone", "video conference", "email", "chat":
		default:
			continue
		}
		if c.State == "closed" && c.CreatedAt/86400 >= today-365 {
			sessions++
		}
	}
	for _, c := range ws.Contacts() {
		for _, a := range []string{"Registration Date", "Enrolled Date"} {
			if validTime(c.CustomAttributes[a]) {
				enrolled++
				break
			}
		}
	}
	return sessions, enrolled
}

func validTime(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	if s == "" || s == "null" {
		return false
	}
	if strings.HasPrefix(s, `"`) {
		_ = json.Unmarshal(raw, &s)
		if _, err := time.Parse("2006-01-02", s); err == nil {
			return true
		}
		if tm, err := time.Parse(time.RFC3339, s); err == nil {
			return tm.Unix() > 0
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	return err == nil && f > 0 && f < 1e11
}

// The links to Intercom name the workspace's region by the API base's host
// alone: a proxy's base URL may carry a user and password.
func TestAPIHost_IsTheHostOfTheBaseOnly(t *testing.T) {
	for base, want := range map[string]string{
		"https://api.intercom.io":                 "api.intercom.io",
		"https://api.eu.intercom.io/":             "api.eu.intercom.io",
		"https://user:secret@proxy.example:8443/": "proxy.example",
		"http://127.0.0.1:40123":                  "127.0.0.1",
		"://not a url":                            "",
	} {
		if got := apiHost(base); got != want {
			t.Errorf("apiHost(%q) = %q, want %q", base, got, want)
		}
	}
}
