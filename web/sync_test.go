package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coaching/intercom_exporter/daemon"
	"github.com/coaching/intercom_exporter/engagement"
	"github.com/coaching/intercom_exporter/intercom"
)

func postSync(t *testing.T, s *Server, target string, header ...string) response {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	return response{rec.Code, rec.Header(), rec.Body.String()}
}

func TestSync_AnswersTheSummaryAndPassesDryRun(t *testing.T) {
	started := time.Date(2026, 11, 10, 12, 1, 0, 0, time.UTC)
	syncer := &fakeSyncer{sum: engagement.Summary{
		Mode: engagement.ModeApply, Result: engagement.ResultSuccess, Started: started, Duration: 1.5,
		DataTimestamp: fixtureNow, Planned: 3, Written: 3, Unchanged: 7,
		Changes: []engagement.Change{{ContactID: "c1", LastCall: 1, Status: engagement.StatusEngaged}},
	}}
	s := newTestServer(t, func(o *Options) { o.Syncer = syncer })
	for _, tc := range []struct {
		target string
		dryRun bool
	}{{"/sync", false}, {"/sync?dry_run=true", true}, {"/sync?dry_run=false", false}, {"/sync?dry_run=1", true}} {
		r := postSync(t, s, tc.target)
		if r.code != http.StatusOK || r.header.Get("Content-Type") != "application/json; charset=utf-8" {
			t.Fatalf("%s: %d %v %s", tc.target, r.code, r.header, r.body)
		}
		var got map[string]any
		if err := json.Unmarshal([]byte(r.body), &got); err != nil {
			t.Fatal(err)
		}
		if got["mode"] != "apply" || got["planned"] != float64(3) || got["written"] != float64(3) || got["unchanged"] != float64(7) ||
			got["duration_seconds"] != 1.5 || got["changes"] == nil {
			t.Errorf("%s: summary %v", tc.target, got)
		}
		if r.header.Get("X-Data-Timestamp") != fixtureTimestamp {
			t.Errorf("X-Data-Timestamp %q", r.header.Get("X-Data-Timestamp"))
		}
		if last := syncer.dryRuns[len(syncer.dryRuns)-1]; last != tc.dryRun {
			t.Errorf("%s: dryRun %v, want %v", tc.target, last, tc.dryRun)
		}
	}
}

func TestSync_ErrorsMapToStatusWithOneLineJSONReason(t *testing.T) {
	started := time.Date(2026, 11, 10, 11, 59, 0, 0, time.UTC)
	tests := []struct {
		name    string
		sum     engagement.Summary
		err     error
		code    int
		reason  string
		started string
	}{
		{name: "busy", err: fmt.Errorf("sync: %w", &engagement.BusyError{Started: started}), code: http.StatusConflict,
			reason: "a sync run started at 2026-11-10T11:59:00Z is still going on", started: "2026-11-10T11:59:00Z"},
		{name: "off", err: engagement.ErrOff, code: http.StatusNotFound, reason: "SYNC_MODE=off"},
		{name: "stopping", err: daemon.ErrStopping, code: http.StatusServiceUnavailable, reason: "the exporter is stopping"},
		{name: "attributes missing", err: &engagement.AttributesError{Problems: []string{"attribute \"Engagement Status\" does not exist"}},
			code: http.StatusBadGateway, reason: "engagement sync blocked: attribute"},
		{name: "refresh failed", err: fmt.Errorf("sync not run: %w", fmt.Errorf("refresh:\n%w", daemon.ErrIntercom)),
			code: http.StatusBadGateway, reason: "sync not run: refresh: reading Intercom failed"},
		{name: "intercom answered an error", err: fmt.Errorf("sync: %w", &intercom.APIError{Method: "GET", Endpoint: "/admins", Status: 500}),
			code: http.StatusBadGateway, reason: "sync: "},
		{name: "deadline", err: fmt.Errorf("sync: %w", context.DeadlineExceeded), code: http.StatusGatewayTimeout,
			reason: "context deadline exceeded"},
		{name: "internal", err: errors.New("planning failed:\nan index is out of range"), code: http.StatusInternalServerError,
			reason: "planning failed: an index is out of range"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestServer(t, func(o *Options) { o.Syncer = &fakeSyncer{err: tc.err} })
			r := postSync(t, s, "/sync")
			if r.code != tc.code {
				t.Errorf("code %d, want %d", r.code, tc.code)
			}
			var body struct{ Error, Started string }
			if err := json.Unmarshal([]byte(r.body), &body); err != nil {
				t.Fatalf("%v: %s", err, r.body)
			}
			if !strings.Contains(body.Error, tc.reason) || strings.Contains(body.Error, "\n") || body.Started != tc.started {
				t.Errorf("body %+v, want reason %q started %q", body, tc.reason, tc.started)
			}
		})
	}
	// A run that happened but wrote nothing because every write failed.
	s := newTestServer(t, func(o *Options) {
		o.Syncer = &fakeSyncer{sum: engagement.Summary{Mode: engagement.ModeApply, Result: engagement.ResultFailed, Planned: 2, Failed: 2}}
	})
	if r := postSync(t, s, "/sync"); r.code != http.StatusBadGateway || !strings.Contains(r.body, `"result": "failed"`) {
		t.Errorf("failed run: %d %s", r.code, r.body)
	}
}

func TestSync_RefusalsAndBadInput(t *testing.T) {
	syncer := &fakeSyncer{}
	s := newTestServer(t, func(o *Options) { o.Syncer = syncer })
	for _, tc := range []struct {
		target string
		header []string
		code   int
		reason string
	}{
		{"/sync?dry_run=perhaps", nil, 400, `dry_run \"perhaps\" is neither true nor false`},
		{"/sync?dryrun=true", nil, 400, `unknown query parameter \"dryrun\"; this endpoint takes dry_run`},
		{"/sync", []string{"Origin", "https://evil.example"}, 403, "cross-origin"},
		{"/sync", []string{"Sec-Fetch-Site", "cross-site"}, 403, "cross-origin"},
	} {
		r := postSync(t, s, tc.target, tc.header...)
		if r.code != tc.code || !strings.Contains(r.body, tc.reason) {
			t.Errorf("%s %v: %d %s, want %d %q", tc.target, tc.header, r.code, r.body, tc.code, tc.reason)
		}
	}
	if r := postSync(t, s, "/sync", "Origin", "http://example.com"); r.code != http.StatusOK {
		t.Errorf("same-origin POST: %d %s", r.code, r.body)
	}
	if syncer.calls != 1 {
		t.Errorf("%d sync calls, want 1 (refused requests never run)", syncer.calls)
	}

	off := newTestServer(t, func(o *Options) { o.Syncer = nil })
	if r := postSync(t, off, "/sync"); r.code != http.StatusNotFound || !strings.Contains(r.body, "SYNC_MODE=off") {
		t.Errorf("mode off: %d %s", r.code, r.body)
	}
	locked := newTestServer(t, func(o *Options) { o.AllowUnauthenticated = false; o.Syncer = syncer })
	if r := postSync(t, locked, "/sync?dry_run=true"); r.code != http.StatusForbidden || !strings.Contains(r.body, "basic_auth_users") {
		t.Errorf("no access: %d %s", r.code, r.body)
	}
	if syncer.calls != 1 {
		t.Errorf("%d sync calls after a 403, want 1", syncer.calls)
	}
}
