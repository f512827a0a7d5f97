package web

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/coaching/intercom_exporter/daemon"
	"github.com/coaching/intercom_exporter/engagement"
)

// The daemon names the employers merged into "(other)".
var _ MergedEmployers = (*daemon.Exporter)(nil)

// ids lists the first column of a CSV body (contact or conversation ids).
func ids(t *testing.T, r response) []string {
	t.Helper()
	if r.code != http.StatusOK {
		t.Fatalf("code %d: %s", r.code, r.body)
	}
	_, rows := readCSV(t, r.body)
	out := []string{}
	for _, row := range rows {
		out = append(out, row[0])
	}
	return out
}

// jsonRows parses a JSON report body.
func jsonRows(t *testing.T, r response) []map[string]any {
	t.Helper()
	if r.code != http.StatusOK {
		t.Fatalf("code %d: %s", r.code, r.body)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(r.body), &rows); err != nil {
		t.Fatalf("JSON does not parse: %v\n%s", err, r.body)
	}
	return rows
}

// An empty value, ".*" and "$__all" (a dashboard's All) mean no filter,
// on every filter, alone or beside other values; var-<name> is <name>.
func TestFilters_AllValuesMeanNoFilter(t *testing.T) {
	h := newTestServer(t).Handler()
	for _, tc := range []struct{ base, param string }{
		{"/caseload.csv?", "coach"},
		{"/caseload.csv?", "employer"},
		{"/caseload.csv?", "channels"},
		{"/caseload.csv?", "band"},
		{"/participants.csv?", "coach"},
		{"/participants.csv?", "band"},
		{"/sessions.csv?from=2026-10-01&to=2026-11-10&", "channel"},
		{"/sessions.csv?from=2026-10-01&to=2026-11-10&", "band"},
		{"/billing.csv?", "employer"},
	} {
		want := get(t, h, tc.base).body
		for _, v := range []string{"", "%20", ".*", "%24__all", "$__all"} {
			for _, name := range []string{tc.param, "var-" + tc.param} {
				target := tc.base + name + "=" + v
				if r := get(t, h, target); r.code != http.StatusOK || r.body != want {
					t.Errorf("%s: %d, want the unfiltered rows\n%s", target, r.code, r.body)
				}
			}
		}
		// All beside a value is still All.
		target := tc.base + tc.param + "=Nope&" + tc.param + "=.*"
		if r := get(t, h, target); r.code != http.StatusOK || r.body != want {
			t.Errorf("%s: %d, want the unfiltered rows", target, r.code)
		}
	}
	// Parameters that are not filters keep refusing an empty value.
	if r := get(t, h, "/caseload.csv?lookback_days="); r.code != http.StatusBadRequest {
		t.Errorf("empty lookback_days: %d", r.code)
	}
}

func TestFilters_VarSpellingFiltersLikeTheName(t *testing.T) {
	h := newTestServer(t).Handler()
	// Beta Ltd's members with a session in the lookback: c3 Carl Chat, c4 Dana Old.
	if got := ids(t, get(t, h, "/caseload.csv?var-employer=Beta+Ltd")); !reflect.DeepEqual(got, []string{"c3", "c4"}) {
		t.Errorf("var-employer=Beta Ltd: %v", got)
	}
	// Repeated, mixed spellings add up (OR): Bob's members (c2, c3 and c6,
	// whose last session 109 was Bob's) and c5 (unassigned).
	if got := ids(t, get(t, h, "/caseload.csv?var-coach=unassigned&coach=Bob+Coach")); !reflect.DeepEqual(got, []string{"c2", "c6", "c3", "c5"}) {
		t.Errorf("coach=unassigned|Bob Coach: %v", got)
	}
	for _, target := range []string{"/caseload.csv?var-employer=Nope", "/billing.csv?var-coach=Alice+Coach", "/caseload.csv?var-lookback_days=3"} {
		if r := get(t, h, target); r.code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", target, r.code)
		}
	}
}

// Caseload bands by days since the last session (fixture): c1 1d, c5 7d,
// c7 1d in 0-7d; c2 9d, c3 26d in 8-28d; c6 39d in 29-56d; c4 101d in 57d+.
// Participants by days without a session: c1 1d, c2 9d, c5 7d in 0-13d;
// c8 21 days since its registration (10-20) in 14-21d; c3 26d in 22-28d;
// c4 101d, c6 39d in 29d+.
func TestFilters_Band(t *testing.T) {
	h := newTestServer(t).Handler()
	for target, want := range map[string][]string{
		"/caseload.csv?band=0-7d":                         {"c7", "c1", "c5"},
		"/caseload.csv?band=8-28d":                        {"c2", "c3"},
		"/caseload.csv?band=29-56d":                       {"c6"},
		"/caseload.csv?band=57d%2B":                       {"c4"},
		"/caseload.csv?band=57d+":                         {"c4"},       // the + decoded to a space
		"/caseload.csv?band=57D%2B&band=29-56d":           {"c6", "c4"}, // Acme before Beta Ltd
		"/caseload.csv?band=0-7d&channels=Phone":          {"c5"},
		"/participants.csv?band=0-13d":                    {"c2", "c1", "c5"},
		"/participants.csv?band=14-21d":                   {"c8"},
		"/participants.csv?band=22-28d":                   {"c3"},
		"/participants.csv?band=29d%2B":                   {"c6", "c4"},
		"/participants.csv?band=29d%2B&coach=Alice+Coach": {"c4"}, // c6 is Bob's
		// Sessions 2026-10-01..11-10 in 0-7d: 106 (11-03, 7 days) and 110 (11-09).
		"/sessions.csv?from=2026-10-01&to=2026-11-10&band=0-7d": {"110", "106"},
	} {
		if got := ids(t, get(t, h, target)); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %v, want %v", target, got, want)
		}
	}
	for target, reason := range map[string]string{
		"/caseload.csv?band=29d%2B":     `unknown band "29d+"; the bands of this report are 0-7d, 8-28d, 29-56d, 57d+`,
		"/participants.csv?band=57d%2B": `unknown band "57d+"; the bands of this report are 0-13d, 14-21d, 22-28d, 29d+`,
		"/caseload.csv?band=recent":     `unknown band "recent"`,
		"/billing.csv?band=0-7d":        `unknown query parameter "band"`,
	} {
		if r := get(t, h, target); r.code != http.StatusBadRequest || !strings.Contains(r.body, reason) {
			t.Errorf("%s: %d %q, want 400 with %q", target, r.code, r.body, reason)
		}
	}
}

// mergingSource is the fixture's source whose metrics merged employers.
type mergingSource struct {
	*fakeSource
	merged map[string][]string
}

func (m *mergingSource) MergedEmployers(model *engagement.Model) map[string][]string {
	if model != m.Model() {
		return nil
	}
	return m.merged
}

func TestFilters_OtherEmployerIsTheMergedEmployers(t *testing.T) {
	src := &mergingSource{fakeSource: newSource(fixtureModel()), merged: map[string][]string{
		"intercom_caseload_members": {"Beta Ltd"},
		"intercom_billing_members":  {"Beta Ltd"},
		"intercom_sessions":         {"unknown"},
	}}
	h := newTestServer(t, func(o *Options) { o.Source = src }).Handler()
	for target, want := range map[string][]string{
		"/caseload.csv?employer=(other)":                               {"c3", "c4"},
		"/caseload.csv?employer=%28other%29&employer=Acme":             {"c7", "c2", "c6", "c1", "c3", "c4"},
		"/billing.csv?employer=(other)":                                {"c8"},
		"/sessions.csv?from=2026-11-01&to=2026-11-10&employer=(other)": {"106"},
	} {
		if got := ids(t, get(t, h, target)); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %v, want %v", target, got, want)
		}
	}
	// The participants' family merged nothing: (other) names nobody.
	if r := get(t, h, "/participants.csv?employer=(other)"); r.code != http.StatusBadRequest ||
		!strings.Contains(r.body, `employer "(other)" stands for no employer now`) {
		t.Errorf("participants (other): %d %q", r.code, r.body)
	}
}

// Participant rows carry what the original rows had (fixture):
//
//	c1: sessions 101 (10-20 Phone, Bob) and 110 (11-09 Chat, Alice); registered 10-05, 36 days ago.
//	c4: 105 (08-01 Phone, Alice) in the lookback, 113 (06-01) outside it; registered 02-01, 282 days ago.
//	c6: 99 and 108 (10-01 Phone, Alice), 109 (10-02 Email, Bob); registered 09-01, 70 days ago.
//	c8: no session; registered 10-20, 21 days ago.
func TestParticipants_JSONHasFirstSessionChannelsAndCoaches(t *testing.T) {
	h := newTestServer(t).Handler()
	rows := jsonRows(t, get(t, h, "/participants.csv?format=json"))
	byID := map[string]map[string]any{}
	for _, r := range rows {
		byID[r["User ID"].(string)] = r
		if len(r) != len(ParticipantColumns)+len(ParticipantJSONColumns) {
			t.Errorf("%v has %d keys", r["User ID"], len(r))
		}
	}
	for id, want := range map[string]map[string]any{
		"c1": {"First Session Date": "2026-10-20", "Last Session Date": "2026-11-09", "Days Since Registration": 36.0, "Days Without Session": 1.0, "Channels": "Phone+Chat", "Coaches": "Alice Coach, Bob Coach"},
		"c4": {"First Session Date": "2026-08-01", "Last Session Date": "2026-08-01", "Days Since Registration": 282.0, "Days Without Session": 101.0, "Channels": "Phone", "Coaches": "Alice Coach"},
		"c6": {"First Session Date": "2026-10-01", "Last Session Date": "2026-10-02", "Days Since Registration": 70.0, "Days Without Session": 39.0, "Channels": "Phone+Email", "Coaches": "Alice Coach, Bob Coach"},
		"c8": {"First Session Date": "", "Last Session Date": "", "Days Since Registration": 21.0, "Days Without Session": 21.0, "Channels": "", "Coaches": ""},
	} {
		for col, v := range want {
			if got := byID[id][col]; got != v {
				t.Errorf("%s %q = %#v, want %#v", id, col, got, v)
			}
		}
	}
	// The CSV keeps its columns.
	header, _ := readCSV(t, get(t, h, "/participants.csv").body)
	if !reflect.DeepEqual(header, ParticipantColumns) {
		t.Errorf("participants CSV header %v", header)
	}
	header, _ = readCSV(t, get(t, h, "/caseload.csv").body)
	if !reflect.DeepEqual(header, CaseloadColumns) {
		t.Errorf("caseload CSV header %v", header)
	}
	header, _ = readCSV(t, get(t, h, "/billing.csv").body)
	if !reflect.DeepEqual(header, BillingColumns) {
		t.Errorf("billing CSV header %v", header)
	}
}

// Billing rows in JSON carry their reason: October 2026 of the fixture.
func TestBilling_JSONHasReason(t *testing.T) {
	rows := jsonRows(t, get(t, newTestServer(t).Handler(), "/billing.csv?format=json"))
	got := map[string]any{}
	for _, r := range rows {
		got[r["User ID"].(string)] = r["Reason"]
	}
	want := map[string]any{"c1": "new_and_engaged", "c2": "engaged", "c6": "engaged", "c8": "new"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("reasons %v, want %v", got, want)
	}
}

func TestMemberLinks_OnTheWorkspaceHostWithTheAppID(t *testing.T) {
	for base, host := range map[string]string{
		"api.intercom.io":    "app.intercom.com",
		"api.eu.intercom.io": "app.eu.intercom.com",
		"API.AU.intercom.io": "app.au.intercom.com",
		"127.0.0.1":          "app.intercom.com",
		"":                   "app.intercom.com",
	} {
		if got := appHost(base); got != host {
			t.Errorf("appHost(%q) = %q, want %q", base, got, host)
		}
	}
	src := newSource(fixtureModel())
	src.status.WorkspaceID, src.status.APIHost = "ab12cd", "api.eu.intercom.io"
	h := newTestServer(t, func(o *Options) { o.Source = src }).Handler()
	for _, target := range []string{"/caseload.csv?format=json&employer=Beta+Ltd", "/participants.csv?format=json&employer=Beta+Ltd", "/billing.csv?format=json&employer=Beta+Ltd"} {
		rows := jsonRows(t, get(t, h, target))
		if len(rows) == 0 {
			t.Fatalf("%s: no rows", target)
		}
		for _, r := range rows {
			want := "https://app.eu.intercom.com/a/apps/ab12cd/users/" + r["User ID"].(string) + "/all-conversations"
			if r["Intercom URL"] != want {
				t.Errorf("%s: %v link %v, want %s", target, r["User ID"], r["Intercom URL"], want)
			}
		}
	}
	// Before GET /me was read there is no link.
	rows := jsonRows(t, get(t, newTestServer(t).Handler(), "/caseload.csv?format=json"))
	if rows[0]["Intercom URL"] != "" {
		t.Errorf("link without an app id: %v", rows[0]["Intercom URL"])
	}
}

// Today 2026-11-10: the data can bill October 2026 onwards (see the
// fixture), and the current month to date.
func TestBillingMonths_ListsServedMonthsPreviousFirst(t *testing.T) {
	h := newTestServer(t).Handler()
	r := get(t, h, "/billing-months.json")
	if r.header.Get("X-Data-Timestamp") != fixtureTimestamp || r.header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Errorf("headers %v", r.header)
	}
	want := []map[string]any{
		{"Month": "2026-10", "Label": "2026-10", "Frozen": false, "Frozen At": "", "Month To Date": false},
		{"Month": "2026-11", "Label": "2026-11 (month to date)", "Frozen": false, "Frozen At": "", "Month To Date": true},
	}
	if got := jsonRows(t, r); !reflect.DeepEqual(got, want) {
		t.Errorf("months %v, want %v", got, want)
	}

	// Frozen months are marked; one older than the data window is still
	// served (from its frozen copy), so it is listed too.
	src := &frozenSource{fakeSource: newSource(fixtureModel()), at: frozenAt,
		frozen: map[engagement.Month][]engagement.BillingRecord{october2026: frozenOctober(), may2026: nil}}
	h = newTestServer(t, func(o *Options) { o.Source = src }).Handler()
	want = []map[string]any{
		{"Month": "2026-10", "Label": "2026-10 (frozen 2026-11-06)", "Frozen": true, "Frozen At": "2026-11-06T03:15:00Z", "Month To Date": false},
		{"Month": "2026-05", "Label": "2026-05 (frozen 2026-11-06)", "Frozen": true, "Frozen At": "2026-11-06T03:15:00Z", "Month To Date": false},
		{"Month": "2026-11", "Label": "2026-11 (month to date)", "Frozen": false, "Frozen At": "", "Month To Date": true},
	}
	if got := jsonRows(t, get(t, h, "/billing-months.json")); !reflect.DeepEqual(got, want) {
		t.Errorf("frozen months %v, want %v", got, want)
	}
	// Every listed month is one /billing.csv serves.
	for _, row := range want {
		if r := get(t, h, "/billing.csv?month="+row["Month"].(string)); r.code != http.StatusOK {
			t.Errorf("month %v listed but /billing.csv answers %d: %s", row["Month"], r.code, r.body)
		}
	}
	if r := get(t, h, "/billing-months.json?month=2026-10"); r.code != http.StatusBadRequest ||
		!strings.Contains(r.body, `unknown query parameter "month"; this endpoint takes none`) {
		t.Errorf("a parameter: %d", r.code)
	}
	if r := do(t, h, http.MethodPost, "/billing-months.json"); r.code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", r.code)
	}
	if r := get(t, newTestServer(t, func(o *Options) { o.Source = newSource(nil) }).Handler(), "/billing-months.json"); r.code != http.StatusServiceUnavailable {
		t.Errorf("before the first refresh: %d", r.code)
	}
}
