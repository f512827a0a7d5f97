package web

import (
	"net/http"
	"strings"
	"testing"
)

func TestReports_BadInputBeforeTheFirstRefreshIs400(t *testing.T) {
	h := newTestServer(t, func(o *Options) { o.Source = newSource(nil) }).Handler()
	for _, tc := range []struct{ target, reason string }{
		{"/billing.csv?month=2026-13", "not in the form YYYY-MM"},
		{"/billing.csv?month=0000-01", "the year is out of range"},
		{"/billing.csv?live=maybe", `live "maybe" is neither true nor false`},
		{"/billing.csv?emplyer=Acme", `unknown query parameter "emplyer"`},
		{"/billing.csv?format=xlsx", `unknown format "xlsx"`},
		{"/caseload.csv?lookback_days=0", `lookback_days "0" is not a positive integer`},
		{"/caseload.csv?lookback_days=%2B7", `lookback_days "+7" is not a positive integer`},
		{"/caseload.csv?lookback_days=+7", `lookback_days " 7" is not a positive integer`},
		{"/participants.csv?from=2026-02-30", `from: "2026-02-30" is not a date`},
		{"/sessions.csv?from=2026-10-02&to=2026-10-01", "from 2026-10-02 is after to 2026-10-01"},
	} {
		r := get(t, h, tc.target)
		if r.code != http.StatusBadRequest || !strings.Contains(r.body, tc.reason) {
			t.Errorf("%s: %d %q, want 400 saying %q", tc.target, r.code, r.body, tc.reason)
		}
	}
	// Good input, no data yet: 503.
	for _, target := range []string{"/billing.csv?month=2026-10", "/caseload.csv?lookback_days=7", "/sessions.csv?from=2026-10-01&to=2026-10-02"} {
		if r := get(t, h, target); r.code != http.StatusServiceUnavailable {
			t.Errorf("%s: %d, want 503", target, r.code)
		}
	}
}

func TestReports_LookbackDaysIsDigitsOnly(t *testing.T) {
	h := newTestServer(t).Handler()
	for _, v := range []string{"+7", "%2B7", "07x", "%207", "7%20", "0x7", "-0"} {
		if r := get(t, h, "/caseload.csv?lookback_days="+v); r.code != http.StatusBadRequest {
			t.Errorf("lookback_days=%s: %d, want 400", v, r.code)
		}
	}
	// A leading zero is still a number in 1..120.
	if r := get(t, h, "/caseload.csv?lookback_days=07"); r.code != http.StatusOK {
		t.Errorf("lookback_days=07: %d, want 200", r.code)
	}
}

func TestReports_MonthYearZeroSaysOutOfRange(t *testing.T) {
	h := newTestServer(t).Handler()
	r := get(t, h, "/billing.csv?month=0000-01")
	if r.code != http.StatusBadRequest || !strings.Contains(r.body, "the year is out of range") || strings.Contains(r.body, "-001") {
		t.Errorf("%d %q, want 400 saying the year is out of range and no year -001", r.code, r.body)
	}
	// Year 1 is a real month: refused only for lying before the data.
	if r := get(t, h, "/billing.csv?month=0001-01"); r.code != http.StatusBadRequest || strings.Contains(r.body, "-00") {
		t.Errorf("month=0001-01: %d %q", r.code, r.body)
	}
}

func TestSync_OffAnswers405ToOtherMethodsAnd404ToPost(t *testing.T) {
	h := newTestServer(t, func(o *Options) { o.Syncer = nil }).Handler()
	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
		r := do(t, h, m, "/sync")
		if r.code != http.StatusMethodNotAllowed || r.header.Get("Allow") != "POST" {
			t.Errorf("%s /sync with the sync off: %d Allow=%q, want 405 Allow=POST", m, r.code, r.header.Get("Allow"))
		}
	}
	if r := do(t, h, http.MethodPost, "/sync"); r.code != http.StatusNotFound || !strings.Contains(r.body, "SYNC_MODE=off") {
		t.Errorf("POST /sync with the sync off: %d %q, want 404", r.code, r.body)
	}
}
