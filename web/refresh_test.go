package web

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestRefresh_PostAsksForARefreshAndAnswers202(t *testing.T) {
	ref := &fakeRefresher{}
	h := newTestServer(t, func(o *Options) { o.Refresher = ref }).Handler()
	r := do(t, h, http.MethodPost, "/refresh")
	if r.code != http.StatusAccepted {
		t.Fatalf("POST /refresh: %d %s, want 202", r.code, r.body)
	}
	var body refreshAccepted
	if err := json.Unmarshal([]byte(r.body), &body); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	// The fixture's data timestamp, so a caller can tell when the refresh
	// it asked for is published.
	want := fixtureModel().Now.Format(time.RFC3339)
	if body.Status != "refresh requested" || body.DataTimestamp != want {
		t.Errorf("body %+v, want status \"refresh requested\" and data_timestamp %s", body, want)
	}
	if n := ref.n.Load(); n != 1 {
		t.Errorf("%d refreshes asked for, want 1", n)
	}
}

func TestRefresh_RefusedRequestsAskForNothing(t *testing.T) {
	ref := &fakeRefresher{}
	open := newTestServer(t, func(o *Options) { o.Refresher = ref }).Handler()
	closed := newTestServer(t, func(o *Options) { o.Refresher = ref; o.AllowUnauthenticated = false }).Handler()
	none := newTestServer(t, func(o *Options) { o.Refresher = nil }).Handler()

	cross := httptest.NewRequest(http.MethodPost, "/refresh", nil)
	cross.Header.Set("Origin", "https://evil.example")
	rec := httptest.NewRecorder()
	open.ServeHTTP(rec, cross)

	for _, tc := range []struct {
		name string
		got  response
		code int
		says string
	}{
		{"GET", do(t, open, http.MethodGet, "/refresh"), http.StatusMethodNotAllowed, ""},
		{"unknown parameter", do(t, open, http.MethodPost, "/refresh?now=yes"), http.StatusBadRequest, "now"},
		{"no basic auth, not allowed unauthenticated", do(t, closed, http.MethodPost, "/refresh"), http.StatusForbidden, "basic auth"},
		{"cross-origin", response{rec.Code, rec.Header(), rec.Body.String()}, http.StatusForbidden, "cross-origin"},
		{"no refresher", do(t, none, http.MethodPost, "/refresh"), http.StatusNotFound, "not available"},
	} {
		if tc.got.code != tc.code || !strings.Contains(tc.got.body, tc.says) {
			t.Errorf("%s: %d %q, want %d saying %q", tc.name, tc.got.code, tc.got.body, tc.code, tc.says)
		}
	}
	if n := ref.n.Load(); n != 0 {
		t.Errorf("%d refreshes asked for by refused requests, want 0", n)
	}
}
