package intercom

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const testToken = "dG9rOjEyMzQ1Njc4OTA6c2VjcmV0LXRva2Vu" // must never show up in an error

// recorded is one request as the test server saw it.
type recorded struct {
	Method, Path, RawPath, Query string
	Header                       http.Header
	Body                         []byte
	At                           time.Time
}

// recorder is an http.Handler that records requests and answers with the
// responder of the call's index (the last one repeats).
type recorder struct {
	mu       sync.Mutex
	reqs     []recorded
	respond  []func(w http.ResponseWriter, r *http.Request)
	defaults bool // add generous X-RateLimit-* headers to every answer
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	n := len(rc.reqs)
	rc.reqs = append(rc.reqs, recorded{Method: r.Method, Path: r.URL.Path, RawPath: r.URL.EscapedPath(), Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body, At: time.Now()})
	f := rc.respond[min(n, len(rc.respond)-1)]
	rc.mu.Unlock()
	if rc.defaults {
		setRateHeaders(w, 10000, 9999, time.Now().Add(10*time.Second))
	}
	f(w, r)
}

func (rc *recorder) requests() []recorded {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]recorded(nil), rc.reqs...)
}

func setRateHeaders(w http.ResponseWriter, limit, remaining int, reset time.Time) {
	w.Header().Set("X-RateLimit-Limit", strconv.Itoa(limit))
	w.Header().Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
	w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
}

func reply(status int, body string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

// newTestServer starts a recorder answering with respond in turn and a
// client pointing at it with fast retries.
func newTestServer(t *testing.T, opts []Option, respond ...func(http.ResponseWriter, *http.Request)) (*Client, *recorder) {
	t.Helper()
	rc := &recorder{respond: respond, defaults: true}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	all := append([]Option{WithRetry(4, time.Millisecond, 5*time.Millisecond), WithLogger(discardLogger())}, opts...)
	c, err := New(srv.URL, testToken, "2.10", all...)
	require.NoError(t, err)
	return c, rc
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// observed records Observer calls.
type observed struct {
	mu       sync.Mutex
	requests []string // "METHOD endpoint code"
	limits   []RateLimitStatus
}

func (o *observed) ObserveRequest(method, endpoint, code string, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.requests = append(o.requests, method+" "+endpoint+" "+code)
}

func (o *observed) ObserveRateLimit(limit, remaining int, reset time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.limits = append(o.limits, RateLimitStatus{Limit: limit, Remaining: remaining, Reset: reset, Seen: true})
}

func (o *observed) reqs() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.requests...)
}

// newHTTPTestServer serves h for the test and returns its URL.
func newHTTPTestServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// newClientFor is a client of url with fast retries and no logs.
func newClientFor(t *testing.T, url string, opts ...Option) *Client {
	t.Helper()
	all := append([]Option{WithRetry(4, time.Millisecond, 5*time.Millisecond), WithLogger(discardLogger())}, opts...)
	c, err := New(url, testToken, "2.10", all...)
	require.NoError(t, err)
	return c
}
