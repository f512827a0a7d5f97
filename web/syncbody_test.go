package web

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func postSyncBody(t *testing.T, s *Server, target, body string) response {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, target, strings.NewReader(body))
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	return response{rec.Code, rec.Header(), rec.Body.String()}
}

// The original app's callers: POST /API/intercom is POST /sync, and the
// body's dryRun is honoured; a dry run can only be asked for, never undone.
func TestSyncBody_DryRunFromBodyOrQueryOnBothPaths(t *testing.T) {
	for _, path := range []string{"/sync", "/API/intercom"} {
		for _, tc := range []struct {
			query, body string
			dryRun      bool
		}{
			{"", "", false},
			{"", "  \n", false},
			{"", `{}`, false},
			{"", `{"dryRun": true}`, true},
			{"", `{"dryRun": false}`, false},
			{"", `{"lookbackDays": 365, "dryRun": true}`, true},
			{"", ` {"dryRun":true} ` + "\n", true},
			{"?dry_run=true", `{"dryRun": false}`, true},
			{"?dry_run=false", `{"dryRun": true}`, true},
		} {
			syncer := &fakeSyncer{}
			s := newTestServer(t, func(o *Options) { o.Syncer = syncer; o.LookbackDays = 365 })
			r := postSyncBody(t, s, path+tc.query, tc.body)
			if r.code != http.StatusOK {
				t.Errorf("%s%s %q: %d %s", path, tc.query, tc.body, r.code, r.body)
				continue
			}
			if len(syncer.dryRuns) != 1 || syncer.dryRuns[0] != tc.dryRun {
				t.Errorf("%s%s %q: dry runs %v, want [%v]", path, tc.query, tc.body, syncer.dryRuns, tc.dryRun)
			}
		}
	}
}

func TestSyncBody_StrictDecodingRefusesWithTheReason(t *testing.T) {
	tests := []struct {
		name, body string
		code       int
		reason     string
	}{
		{"not an object", `[true]`, 400, "one JSON object"},
		{"a bare value", `true`, 400, "one JSON object"},
		{"wrong case key", `{"dryrun": true}`, 400, `unknown key \"dryrun\"`},
		{"other key", `{"dryRun": true, "force": true}`, 400, `unknown key \"force\"`},
		{"duplicate key", `{"dryRun": true, "dryRun": false}`, 400, `key \"dryRun\" appears twice`},
		{"null dryRun", `{"dryRun": null}`, 400, "dryRun must be true or false, not null"},
		{"string dryRun", `{"dryRun": "true"}`, 400, `dryRun must be true or false, not \"true\"`},
		{"number dryRun", `{"dryRun": 1}`, 400, "dryRun must be true or false, not 1"},
		{"lookbackDays other than LOOKBACK_DAYS", `{"lookbackDays": 30}`, 400, "LOOKBACK_DAYS=365"},
		{"lookbackDays fractional", `{"lookbackDays": 365.0}`, 400, "lookbackDays must be an integer"},
		{"lookbackDays exponent", `{"lookbackDays": 3.65e2}`, 400, "lookbackDays must be an integer"},
		{"lookbackDays text", `{"lookbackDays": "365"}`, 400, "lookbackDays must be an integer"},
		{"lookbackDays null", `{"lookbackDays": null}`, 400, "lookbackDays must be an integer"},
		{"second object", `{"dryRun": true}{"dryRun": false}`, 400, "nothing may follow"},
		{"trailing garbage", `{"dryRun": true} x`, 400, "nothing may follow"},
		{"unterminated", `{"dryRun": true`, 400, "not valid JSON"},
		{"trailing comma", `{"dryRun": true,}`, 400, "not valid JSON"},
		{"over 4 KiB", `{"dryRun": true}` + strings.Repeat(" ", 4096), 413, "larger than 4096 bytes"},
	}
	for _, path := range []string{"/sync", "/API/intercom"} {
		for _, tt := range tests {
			t.Run(path+" "+tt.name, func(t *testing.T) {
				syncer := &fakeSyncer{}
				s := newTestServer(t, func(o *Options) { o.Syncer = syncer; o.LookbackDays = 365 })
				r := postSyncBody(t, s, path, tt.body)
				if r.code != tt.code || !strings.Contains(r.body, tt.reason) {
					t.Errorf("%d %s, want %d %q", r.code, r.body, tt.code, tt.reason)
				}
				var e syncError
				if err := json.Unmarshal([]byte(r.body), &e); err != nil || strings.Contains(e.Error, "\n") {
					t.Errorf("reason is not one line of JSON: %q", r.body)
				}
				if syncer.calls != 0 {
					t.Errorf("a refused body ran the sync %d times", syncer.calls)
				}
			})
		}
	}
}

// Exactly 4 KiB is accepted; the limit is on the body, whitespace included.
func TestSyncBody_FourKiBIsAccepted(t *testing.T) {
	body := `{"dryRun": true}`
	body += strings.Repeat(" ", 4096-len(body))
	syncer := &fakeSyncer{}
	s := newTestServer(t, func(o *Options) { o.Syncer = syncer })
	if r := postSyncBody(t, s, "/API/intercom", body); r.code != http.StatusOK || len(syncer.dryRuns) != 1 || !syncer.dryRuns[0] {
		t.Errorf("%d %s, dry runs %v", r.code, r.body, syncer.dryRuns)
	}
}

// The alias has POST /sync's access rule and answers: 403 without member
// access, 404 when the sync is off, 405 for GET.
func TestSyncBody_APIIntercomHasTheSameAccessRuleAsSync(t *testing.T) {
	syncer := &fakeSyncer{}
	locked := newTestServer(t, func(o *Options) { o.AllowUnauthenticated = false; o.Syncer = syncer })
	for _, path := range []string{"/sync", "/API/intercom"} {
		if r := postSyncBody(t, locked, path, `{"dryRun": true}`); r.code != http.StatusForbidden || !strings.Contains(r.body, "basic_auth_users") {
			t.Errorf("%s without access: %d %s", path, r.code, r.body)
		}
		if r := do(t, newTestServer(t).Handler(), http.MethodGet, path); r.code != http.StatusMethodNotAllowed {
			t.Errorf("GET %s: %d", path, r.code)
		}
	}
	if syncer.calls != 0 {
		t.Errorf("%d sync calls after 403s", syncer.calls)
	}
	off := newTestServer(t, func(o *Options) { o.Syncer = nil })
	if r := postSyncBody(t, off, "/API/intercom", `{"dryRun": true}`); r.code != http.StatusNotFound {
		t.Errorf("mode off: %d %s", r.code, r.body)
	}
}
