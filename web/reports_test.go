package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/coaching/intercom_exporter/collector"
	"github.com/coaching/intercom_exporter/engagement"
)

// Hand-worked rows of the fixture (see fixture_test.go). Stable order:
// employer, then name ignoring case, then id.

// Billing, October 2026: engaged window 09-05..10-31 (first day minus 56).
//
//	c2: registered 03-01 (not new); call 102 on 09-10 is in the window: engaged.
//	c6: registered 09-01 (not new); calls 99 and 108 on 10-01 at the same
//	    time: the newest is 108 (larger id as numbers); 109 is Email, not a call.
//	c1: registered 10-05 (new); call 101 on 10-20: engaged. Chat 110 is no call.
//	c8: registered 10-20 (new); no call: not engaged, no dates.
//	c3: not new, no call: out. c4: call 105 on 08-01 is before the window;
//	    its stored Last Coaching Call (10-20) is never billing evidence: out.
//	c5: registered 11-02, after October: out. c7: not enrolled: out.
var billingOctober = [][]string{
	{"c2", "Adams, \"Al\"\nJr", "al@example.com", "Acme", "2026-03-01", "2026-09-10", "false", "true", "ext-2", "102"},
	{"c6", "Finn Twice", "finn@example.com", "Acme", "2026-09-01", "2026-10-01", "false", "true", "", "108"},
	{"c1", "Zoe Zed", "zoe@example.com", "Acme", "2026-10-05", "2026-10-20", "true", "true", "ext-1", "101"},
	{"c8", "Gus Never", "gus@example.com", "Beta Ltd", "2026-10-20", "", "true", "false", "", ""},
}

// Billing, November 2026 (the current month, to date): window 09-06..11-30.
//
//	c2: 102 on 09-10 >= 09-06: engaged. c6: 108. c1: 101 (not new now).
//	c5: registered 11-02 (new), call 106 on 11-03: new and engaged; employer unknown.
//	c8: registered in October (not new), no call: out.
var billingNovember = [][]string{
	{"c2", "Adams, \"Al\"\nJr", "al@example.com", "Acme", "2026-03-01", "2026-09-10", "false", "true", "ext-2", "102"},
	{"c6", "Finn Twice", "finn@example.com", "Acme", "2026-09-01", "2026-10-01", "false", "true", "", "108"},
	{"c1", "Zoe Zed", "zoe@example.com", "Acme", "2026-10-05", "2026-10-20", "false", "true", "ext-1", "101"},
	{"c5", "Eve Future", "eve@example.com", "unknown", "2026-11-02", "2026-11-03", "true", "true", "", "106"},
}

// Caseload over the whole lookback (120 days): members with a session in it.
//
//	c7: 110 Chat (1d); coach of its last session a1.
//	c2: 102 Video (61d) and 103 Email (9d): last 103; no owner, so the coach
//	    of 103, Bob. Mix in configured order: Video Conference+Email.
//	c6: 99, 108 Phone (40d), 109 Email (39d): last 109; coach of 109, Bob.
//	c1: 101 Phone (21d), 110 Chat (1d): owner a1.
//	c3: 104 Chat (26d), owner a2.
//	c4: 105 Phone (101d); 113 is outside the lookback; coach of 105, Alice.
//	c5: 106 Phone (7d), unassigned, employer unknown.
var caseloadAll = [][]string{
	{"c7", "aaron lower", "aaron@example.com", "Acme", "Alice Coach", "0-7d", "1", "2026-11-09", "Chat", "1", ""},
	{"c2", "Adams, \"Al\"\nJr", "al@example.com", "Acme", "Bob Coach", "8-28d", "9", "2026-11-01", "Video Conference+Email", "2", "ext-2"},
	{"c6", "Finn Twice", "finn@example.com", "Acme", "Bob Coach", "29-56d", "39", "2026-10-02", "Phone+Email", "3", ""},
	{"c1", "Zoe Zed", "zoe@example.com", "Acme", "Alice Coach", "0-7d", "1", "2026-11-09", "Phone+Chat", "2", "ext-1"},
	{"c3", "Carl Chat", "carl@example.com", "Beta Ltd", "Bob Coach", "8-28d", "26", "2026-10-15", "Chat", "1", ""},
	{"c4", "Dana Old", "dana@example.com", "Beta Ltd", "Alice Coach", "57d+", "101", "2026-08-01", "Phone", "1", ""},
	{"c5", "Eve Future", "eve@example.com", "unknown", "unassigned", "0-7d", "7", "2026-11-03", "Phone", "1", ""},
}

// Caseload with lookback_days=30: sessions of at most 30 days: 101 (21),
// 103 (9), 104 (26), 106 (7), 110 (1). c6 and c4 drop out; c2 keeps only
// 103 (Email, 1 session).
var caseload30 = [][]string{
	caseloadAll[0],
	{"c2", "Adams, \"Al\"\nJr", "al@example.com", "Acme", "Bob Coach", "8-28d", "9", "2026-11-01", "Email", "1", "ext-2"},
	caseloadAll[3],
	caseloadAll[4],
	caseloadAll[6],
}

// Participants: every enrolled contact (c7 is not).
//
//	c2: last session 103 (9d): 0-13d; last call 102 (61d > 56): Unengaged.
//	c6: last session 109 (39d): 29d+; last call 108 (40d): At Risk.
//	c1: last session 110 (1d): 0-13d; last call 101 (21d): Engaged.
//	c3: last session 104 (26d): 22-28d; no call at all: No Call.
//	c4: last session 105 (101d): 29d+; last call = later of 105 (08-01) and the
//	    stored 10-20: 21d: Engaged.
//	c8: no session: days since registration 10-20 = 21: 14-21d; No Call.
//	c5: last session 106 (7d): 0-13d; last call 106: Engaged.
var participantsAll = [][]string{
	{"c2", "Adams, \"Al\"\nJr", "al@example.com", "Acme", "Bob Coach", "0-13d", "9", "2026-11-01", "2026-03-01", "Unengaged", "ext-2"},
	{"c6", "Finn Twice", "finn@example.com", "Acme", "Bob Coach", "29d+", "39", "2026-10-02", "2026-09-01", "At Risk", ""},
	{"c1", "Zoe Zed", "zoe@example.com", "Acme", "Alice Coach", "0-13d", "1", "2026-11-09", "2026-10-05", "Engaged", "ext-1"},
	{"c3", "Carl Chat", "carl@example.com", "Beta Ltd", "Bob Coach", "22-28d", "26", "2026-10-15", "2026-06-01", "No Call", ""},
	{"c4", "Dana Old", "dana@example.com", "Beta Ltd", "Alice Coach", "29d+", "101", "2026-08-01", "2026-02-01", "Engaged", ""},
	{"c8", "Gus Never", "gus@example.com", "Beta Ltd", "unassigned", "14-21d", "21", "", "2026-10-20", "No Call", ""},
	{"c5", "Eve Future", "eve@example.com", "unknown", "unassigned", "0-13d", "7", "2026-11-03", "2026-11-02", "Engaged", ""},
}

// Sessions 2026-09-01..2026-11-10 (105 on 08-01 is before; 111, 112, 114
// are not sessions). Order: employer of the first contact, time, id.
var sessionsSepNov = [][]string{
	{"102", "2026-09-10", "Video Conference", "Alice Coach", "Acme", "57d+", "c2"},
	{"99", "2026-10-01", "Phone", "Alice Coach", "Acme", "29-56d", "c6"},
	{"108", "2026-10-01", "Phone", "Alice Coach", "Acme", "29-56d", "c6"},
	{"109", "2026-10-02", "Email", "Bob Coach", "Acme", "29-56d", "c6"},
	{"101", "2026-10-20", "Phone", "Bob Coach", "Acme", "8-28d", "c1"},
	{"103", "2026-11-01", "Email", "Bob Coach", "Acme", "8-28d", "c2"},
	{"110", "2026-11-09", "Chat", "Alice Coach", "Acme", "0-7d", "c7 c1"},
	{"104", "2026-10-15", "Chat", "Bob Coach", "Beta Ltd", "8-28d", "c3"},
	{"106", "2026-11-03", "Phone", "unassigned", "unknown", "0-7d", "c5"},
}

func pick(rows [][]string, idx ...int) [][]string {
	out := make([][]string, 0, len(idx))
	for _, i := range idx {
		out = append(out, rows[i])
	}
	return out
}

func TestReports_EveryColumnAndFilter(t *testing.T) {
	h := newTestServer(t).Handler()
	tests := []struct {
		name, target string
		columns      []string
		want         [][]string
	}{
		{"billing defaults to the previous month", "/billing.csv", BillingColumns, billingOctober},
		{"billing month", "/billing.csv?month=2026-10", BillingColumns, billingOctober},
		{"billing current month to date", "/billing.csv?month=2026-11", BillingColumns, billingNovember},
		{"billing one employer", "/billing.csv?employer=Beta+Ltd", BillingColumns, pick(billingOctober, 3)},
		{"billing employers are OR", "/billing.csv?month=2026-11&employer=unknown&employer=Beta%20Ltd", BillingColumns, pick(billingNovember, 3)},
		{"billing employer filter is trimmed", "/billing.csv?employer=%20Acme%20", BillingColumns, pick(billingOctober, 0, 1, 2)},
		{"billing known employer without rows in the month", "/billing.csv?month=2026-10&employer=unknown", BillingColumns, nil},
		{"billing live accepted", "/billing.csv?live=true", BillingColumns, billingOctober},

		{"caseload", "/caseload.csv", CaseloadColumns, caseloadAll},
		{"caseload lookback_days", "/caseload.csv?lookback_days=30", CaseloadColumns, caseload30},
		{"caseload lookback_days at the maximum", "/caseload.csv?lookback_days=120", CaseloadColumns, caseloadAll},
		{"caseload coach", "/caseload.csv?coach=Alice+Coach", CaseloadColumns, pick(caseloadAll, 0, 3, 5)},
		{"caseload coach OR", "/caseload.csv?coach=Alice+Coach&coach=unassigned", CaseloadColumns, pick(caseloadAll, 0, 3, 5, 6)},
		{"caseload employer", "/caseload.csv?employer=Beta+Ltd", CaseloadColumns, pick(caseloadAll, 4, 5)},
		{"caseload channels mix with %2B", "/caseload.csv?channels=Phone%2BEmail", CaseloadColumns, pick(caseloadAll, 2)},
		{"caseload channels mix any order and spelling", "/caseload.csv?channels=email%2Bvideo%20conference", CaseloadColumns, pick(caseloadAll, 1)},
		{"caseload channels with an unencoded plus", "/caseload.csv?channels=chat+phone", CaseloadColumns, pick(caseloadAll, 3)},
		{"caseload channels OR", "/caseload.csv?channels=Chat&channels=PHONE", CaseloadColumns, pick(caseloadAll, 0, 4, 5, 6)},
		{"caseload filters AND", "/caseload.csv?coach=Bob+Coach&employer=Acme&channels=Phone,Email", CaseloadColumns, pick(caseloadAll, 2)},

		{"participants", "/participants.csv", ParticipantColumns, participantsAll},
		{"participants coach", "/participants.csv?coach=unassigned", ParticipantColumns, pick(participantsAll, 5, 6)},
		{"participants employer", "/participants.csv?employer=Acme", ParticipantColumns, pick(participantsAll, 0, 1, 2)},
		// Registrations 09-01 (c6), 10-05 (c1), 10-20 (c8): both ends inclusive.
		{"participants registration range", "/participants.csv?from=2026-09-01&to=2026-10-20", ParticipantColumns, pick(participantsAll, 1, 2, 5)},
		{"participants from only", "/participants.csv?from=2026-10-21", ParticipantColumns, pick(participantsAll, 6)},
		{"participants to only", "/participants.csv?to=2026-03-01", ParticipantColumns, pick(participantsAll, 0, 4)},
		{"participants filters AND", "/participants.csv?employer=Beta+Ltd&coach=Alice+Coach&from=2026-01-01", ParticipantColumns, pick(participantsAll, 4)},

		{"sessions", "/sessions.csv?from=2026-09-01&to=2026-11-10", SessionColumns, sessionsSepNov},
		{"sessions one day", "/sessions.csv?from=2026-10-01&to=2026-10-01", SessionColumns, pick(sessionsSepNov, 1, 2)},
		{"sessions channel any spelling", "/sessions.csv?from=2026-09-01&to=2026-11-10&channel=%20phone%20", SessionColumns, pick(sessionsSepNov, 1, 2, 4, 8)},
		{"sessions channel OR", "/sessions.csv?from=2026-09-01&to=2026-11-10&channel=CHAT&channel=video+conference", SessionColumns, pick(sessionsSepNov, 0, 6, 7)},
		{"sessions coach", "/sessions.csv?from=2026-09-01&to=2026-11-10&coach=Bob+Coach", SessionColumns, pick(sessionsSepNov, 3, 4, 5, 7)},
		{"sessions employer", "/sessions.csv?from=2026-09-01&to=2026-11-10&employer=unknown&employer=Beta+Ltd", SessionColumns, pick(sessionsSepNov, 7, 8)},
		{"sessions filters AND", "/sessions.csv?from=2026-09-01&to=2026-11-10&employer=Acme&coach=Alice+Coach&channel=Phone", SessionColumns, pick(sessionsSepNov, 1, 2)},
		// The whole data window: 07-13..11-10 adds 105 (08-01, Beta Ltd).
		{"sessions whole window", "/sessions.csv?from=2026-07-13&to=2026-11-10&employer=Beta+Ltd", SessionColumns,
			[][]string{{"105", "2026-08-01", "Phone", "Alice Coach", "Beta Ltd", "57d+", "c4"}, sessionsSepNov[7]}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := get(t, h, tc.target)
			if r.code != http.StatusOK {
				t.Fatalf("code %d: %s", r.code, r.body)
			}
			if got := r.header.Get("Content-Type"); got != "text/csv; charset=utf-8" {
				t.Errorf("Content-Type %q", got)
			}
			if got := r.header.Get("X-Data-Timestamp"); got != fixtureTimestamp {
				t.Errorf("X-Data-Timestamp %q, want %q", got, fixtureTimestamp)
			}
			header, rows := readCSV(t, r.body)
			if !reflect.DeepEqual(header, tc.columns) {
				t.Errorf("header %q, want %q", header, tc.columns)
			}
			if len(rows) != len(tc.want) {
				t.Fatalf("%d rows, want %d:\n%s", len(rows), len(tc.want), r.body)
			}
			for i := range rows {
				for j, col := range tc.columns {
					if rows[i][j] != tc.want[i][j] {
						t.Errorf("row %d column %q = %q, want %q", i, col, rows[i][j], tc.want[i][j])
					}
				}
			}
		})
	}
}

func TestReports_ContentDispositionNamesReportAndPeriod(t *testing.T) {
	h := newTestServer(t).Handler()
	for target, want := range map[string]string{
		"/billing.csv":                                    `attachment; filename="billing-2026-10.csv"`,
		"/billing.csv?month=2026-11":                      `attachment; filename="billing-2026-11.csv"`,
		"/caseload.csv":                                   `attachment; filename="caseload-2026-11-10.csv"`,
		"/participants.csv":                               `attachment; filename="participants-2026-11-10.csv"`,
		"/sessions.csv?from=2026-10-01&to=2026-10-31":     `attachment; filename="sessions-2026-10-01_2026-10-31.csv"`,
		"/sessions.csv?from=2026-10-01&to=2026-10-31&x=1": "",
	} {
		r := get(t, h, target)
		if got := r.header.Get("Content-Disposition"); got != want {
			t.Errorf("%s: Content-Disposition %q, want %q", target, got, want)
		}
	}
}

func TestBilling_NothingIsFrozenWithoutState(t *testing.T) {
	r := get(t, newTestServer(t).Handler(), "/billing.csv")
	if got := r.header.Get("X-Billing-Frozen"); got != "false" {
		t.Errorf("X-Billing-Frozen %q, want false", got)
	}
}

func TestReports_StableOrderAcrossRequestsAndInputOrder(t *testing.T) {
	// The same data with contacts and conversations in reverse order must
	// give byte-identical files.
	data := fixtureData()
	n := int32(len(data.Contacts))
	for i, j := 0, len(data.Contacts)-1; i < j; i, j = i+1, j-1 {
		data.Contacts[i], data.Contacts[j] = data.Contacts[j], data.Contacts[i]
	}
	for i := range data.Conversations { // contacts are listed by index
		idx := make([]int32, len(data.Conversations[i].ContactIdx))
		for k, x := range data.Conversations[i].ContactIdx {
			idx[k] = n - 1 - x
		}
		data.Conversations[i].ContactIdx = idx
	}
	for i, j := 0, len(data.Conversations)-1; i < j; i, j = i+1, j-1 {
		data.Conversations[i], data.Conversations[j] = data.Conversations[j], data.Conversations[i]
	}
	reversed := newTestServer(t, func(o *Options) {
		o.Source = newSource(engagementBuild(data))
	}).Handler()
	h := newTestServer(t).Handler()
	for _, target := range []string{"/billing.csv", "/caseload.csv", "/participants.csv", "/sessions.csv?from=2026-07-13&to=2026-11-10",
		"/billing.csv?format=json"} {
		a, b, c := get(t, h, target), get(t, h, target), get(t, reversed, target)
		if a.body != b.body || a.body != c.body {
			t.Errorf("%s: order is not stable:\n%s\n---\n%s", target, a.body, c.body)
		}
	}
}

func TestReports_JSONFormatHasTheSameRowsTyped(t *testing.T) {
	h := newTestServer(t).Handler()
	r := get(t, h, "/billing.csv?format=json")
	if r.code != http.StatusOK {
		t.Fatalf("code %d: %s", r.code, r.body)
	}
	if got := r.header.Get("Content-Type"); got != "application/json; charset=utf-8" {
		t.Errorf("Content-Type %q", got)
	}
	if got := r.header.Get("X-Data-Timestamp"); got != fixtureTimestamp {
		t.Errorf("X-Data-Timestamp %q", got)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(r.body), &rows); err != nil {
		t.Fatalf("JSON does not parse: %v\n%s", err, r.body)
	}
	if len(rows) != len(billingOctober) {
		t.Fatalf("%d rows, want %d", len(rows), len(billingOctober))
	}
	for i, row := range rows {
		if len(row) != len(BillingColumns)+len(BillingJSONColumns) {
			t.Errorf("row %d has %d keys, want %d", i, len(row), len(BillingColumns)+len(BillingJSONColumns))
		}
		for j, col := range BillingColumns {
			want := any(billingOctober[i][j])
			if col == "isNewParticipant" || col == "engagedDuringMonth" {
				want = billingOctober[i][j] == "true"
			}
			if !reflect.DeepEqual(row[col], want) {
				t.Errorf("row %d %q = %#v, want %#v", i, col, row[col], want)
			}
		}
	}

	// Numbers are numbers; every report answers JSON.
	var caseload []map[string]any
	r = get(t, h, "/caseload.csv?format=JSON&employer=Beta+Ltd")
	if err := json.Unmarshal([]byte(r.body), &caseload); err != nil {
		t.Fatal(err)
	}
	if len(caseload) != 2 || caseload[1]["Days Since Last Session"] != float64(101) || caseload[1]["Sessions"] != float64(1) {
		t.Errorf("caseload JSON: %v", caseload)
	}
	for _, target := range []string{"/participants.csv?format=json", "/sessions.csv?from=2026-10-01&to=2026-10-01&format=json"} {
		var v []map[string]any
		r := get(t, h, target)
		if err := json.Unmarshal([]byte(r.body), &v); err != nil || len(v) == 0 {
			t.Errorf("%s: %v %s", target, err, r.body)
		}
	}
	// No rows is an empty array, not null.
	r = get(t, h, "/billing.csv?format=json&month=2026-10&employer=unknown")
	if strings.TrimSpace(r.body) != "[\n]" {
		t.Errorf("empty JSON = %q", r.body)
	}
}

func TestReports_HeadSendsHeadersOnly(t *testing.T) {
	r := do(t, newTestServer(t).Handler(), http.MethodHead, "/billing.csv")
	if r.code != http.StatusOK || r.body != "" || r.header.Get("X-Data-Timestamp") != fixtureTimestamp {
		t.Errorf("HEAD: %d %q %v", r.code, r.body, r.header)
	}
}

func TestReports_BadInputIs400WithOneLineReason(t *testing.T) {
	h := newTestServer(t).Handler()
	tests := []struct{ target, reason string }{
		{"/billing.csv?month=2026-1", `month "2026-1" is not in the form YYYY-MM`},
		{"/billing.csv?month=October", `month "October" is not in the form YYYY-MM`},
		{"/billing.csv?month=2026-13", `not in the form YYYY-MM`},
		{"/billing.csv?month=2026-12", "month 2026-12 is in the future (today is 2026-11-10)"},
		// September needs sessions from 09-01 - 56 = 07-07, before 07-13.
		{"/billing.csv?month=2026-09", "month 2026-09 needs sessions from 2026-07-07, before the data window starts (2026-07-13, LOOKBACK_DAYS=120); the earliest month that can be billed is 2026-10"},
		{"/billing.csv?month=2026-10&month=2026-11", "query parameter month is given 2 times; give it once"},
		{"/billing.csv?month=", "query parameter month is empty"},
		{"/billing.csv?live=maybe", `live "maybe" is neither true nor false`},
		{"/billing.csv?emplyer=Acme", `unknown query parameter "emplyer"; this endpoint takes month, employer, live, format`},
		{"/billing.csv?format=xlsx", `unknown format "xlsx"; use csv or json`},
		{"/billing.csv?month=2026-10;x", "the query string does not parse"},
		{"/billing.csv?month=%zz", "the query string does not parse"},
		{"/caseload.csv?lookback_days=0", `lookback_days "0" is not an integer in 1..120 (LOOKBACK_DAYS)`},
		{"/caseload.csv?lookback_days=121", `lookback_days "121" is not an integer in 1..120 (LOOKBACK_DAYS)`},
		{"/caseload.csv?lookback_days=7.5", `lookback_days "7.5" is not an integer in 1..120`},
		{"/caseload.csv?lookback_days=-3", `lookback_days "-3" is not an integer in 1..120`},
		{"/caseload.csv?channels=Fax", `channels "Fax" is not a channel mix of Phone, Video Conference, Email, Chat`},
		{"/caseload.csv?channels=Phone%2BVideo", `channels "Phone+Video" is not a channel mix`},
		{"/caseload.csv?channel=Phone", `unknown query parameter "channel"; this endpoint takes coach, employer, channels, band, lookback_days, format`},
		{"/participants.csv?from=2026-02-30", `from: "2026-02-30" is not a date in the form YYYY-MM-DD`},
		{"/participants.csv?to=yesterday", `to: "yesterday" is not a date in the form YYYY-MM-DD`},
		{"/participants.csv?from=2026-10-02&to=2026-10-01", "from 2026-10-02 is after to 2026-10-01"},
		{"/participants.csv?month=2026-10", `unknown query parameter "month"`},
		{"/sessions.csv", "from and to are required (YYYY-MM-DD), e.g. ?from=2026-10-11&to=2026-11-10"},
		{"/sessions.csv?from=2026-10-01", "from and to are required"},
		{"/sessions.csv?from=2026-10-01&to=2026-9-30", `to: "2026-9-30" is not a date in the form YYYY-MM-DD`},
		{"/sessions.csv?from=2026-10-02&to=2026-10-01", "from 2026-10-02 is after to 2026-10-01"},
		{"/sessions.csv?from=2026-07-01&to=2026-11-10", "the range 2026-07-01 to 2026-11-10 spans 132 days, longer than the lookback (LOOKBACK_DAYS=120)"},
		{"/sessions.csv?from=2026-07-12&to=2026-07-20", "from 2026-07-12 is before the data window, which starts on 2026-07-13 (LOOKBACK_DAYS=120)"},
		{"/sessions.csv?from=2026-11-01&to=2026-11-11", "to 2026-11-11 is after today (2026-11-10): the data window ends today"},
		{"/sessions.csv?from=2026-10-01&to=2026-10-31&channel=Fax", `unknown channel "Fax"; the session channels are Phone, Video Conference, Email, Chat`},
		{"/sessions.csv?from=2026-10-01&to=2026-10-31&channels=Phone", `unknown query parameter "channels"`},
		{"/sessions.csv?from=2026-10-01&to=2026-10-31&format=", "query parameter format is empty"},
		{"/sessions.csv?from=" + strings.Repeat("9", 1001) + "&to=2026-10-31", "query parameter from is longer than 1000 characters"},
	}
	for _, tc := range tests {
		t.Run(tc.target, func(t *testing.T) {
			r := get(t, h, tc.target)
			if r.code != http.StatusBadRequest {
				t.Fatalf("code %d, want 400: %s", r.code, r.body)
			}
			if got := r.header.Get("Content-Type"); got != "text/plain; charset=utf-8" {
				t.Errorf("Content-Type %q", got)
			}
			if r.header.Get("Content-Disposition") != "" || r.header.Get("X-Data-Timestamp") != "" {
				t.Errorf("an error carries report headers: %v", r.header)
			}
			if !strings.HasSuffix(r.body, "\n") || strings.Count(r.body, "\n") != 1 {
				t.Errorf("reason is not one line: %q", r.body)
			}
			if !strings.Contains(r.body, tc.reason) {
				t.Errorf("reason %q does not say %q", strings.TrimSpace(r.body), tc.reason)
			}
		})
	}
}

func TestReports_WrongMethodIs405WithAllow(t *testing.T) {
	h := newTestServer(t).Handler()
	for _, tc := range []struct{ method, target, allow string }{
		{http.MethodPost, "/billing.csv", "GET, HEAD"},
		{http.MethodPut, "/caseload.csv", "GET, HEAD"},
		{http.MethodDelete, "/participants.csv", "GET, HEAD"},
		{http.MethodPost, "/sessions.csv?from=2026-10-01&to=2026-10-01", "GET, HEAD"},
		{http.MethodPost, "/", "GET, HEAD"},
		{http.MethodPost, "/metrics", "GET, HEAD"},
		{http.MethodPost, "/healthz", "GET, HEAD"},
		{http.MethodPost, "/readyz", "GET, HEAD"},
		{http.MethodGet, "/sync", "POST"},
	} {
		r := do(t, h, tc.method, tc.target)
		if r.code != http.StatusMethodNotAllowed || r.header.Get("Allow") != tc.allow {
			t.Errorf("%s %s: %d Allow %q, want 405 Allow %q", tc.method, tc.target, r.code, r.header.Get("Allow"), tc.allow)
		}
	}
	if r := get(t, h, "/nothing-here"); r.code != http.StatusNotFound {
		t.Errorf("unknown path: %d", r.code)
	}
}

func TestReports_BeforeFirstRefreshAre503WithRetryAfter(t *testing.T) {
	src := newSource(nil)
	src.status = ready(false, "Intercom answered 503")
	h := newTestServer(t, func(o *Options) { o.Source = src }).Handler()
	for _, target := range []string{"/billing.csv", "/caseload.csv?format=json", "/participants.csv", "/sessions.csv?from=2026-10-01&to=2026-10-01", "/readyz"} {
		r := get(t, h, target)
		if r.code != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
			t.Errorf("%s: %d Retry-After %q, want 503 with Retry-After", target, r.code, r.header.Get("Retry-After"))
		}
		if !strings.Contains(r.body, "no reports yet") || !strings.Contains(r.body, "Intercom answered 503") {
			t.Errorf("%s: body %q", target, r.body)
		}
	}
	if r := get(t, h, "/healthz"); r.code != http.StatusOK {
		t.Errorf("/healthz %d before the first refresh", r.code)
	}
	src.model.Store(fixtureModel())
	src.status = ready(true, "")
	for target, code := range map[string]int{"/billing.csv": 200, "/readyz": 200, "/healthz": 200} {
		if r := get(t, h, target); r.code != code {
			t.Errorf("%s after the refresh: %d", target, r.code)
		}
	}
}

func TestMetrics_ServedWithDataTimestamp(t *testing.T) {
	r := get(t, newTestServer(t).Handler(), "/metrics")
	if r.code != 200 || r.body != "intercom_up 1\n" || r.header.Get("X-Data-Timestamp") != fixtureTimestamp {
		t.Errorf("/metrics: %d %q %v", r.code, r.body, r.header)
	}
}

func TestReports_FormulaInjectionIsNeutralised(t *testing.T) {
	// One enrolled contact registered in October per leading character, so
	// each is in October's billing cohort (new).
	leads := []string{"=", "+", "-", "@", "\t", "\r"}
	var data = fixtureData()
	data.Contacts = nil
	data.Conversations = nil
	for i, c := range leads {
		data.Contacts = append(data.Contacts, contact(i, c+"SUM(A1:A9)", c+"cmd|' /C calc'!A0", c+"Employer"))
	}
	h := newTestServer(t, func(o *Options) { o.Source = newSource(engagementBuild(data)) }).Handler()
	r := get(t, h, "/billing.csv")
	_, rows := readCSV(t, r.body)
	if len(rows) != len(leads) {
		t.Fatalf("%d rows, want %d:\n%q", len(rows), len(leads), r.body)
	}
	seen := map[string]bool{}
	for _, row := range rows {
		for j, cell := range row {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Errorf("column %q begins with %q: %q", BillingColumns[j], cell[0], cell)
			}
		}
		// Name and Email keep their text after the quote (the employer is
		// trimmed, so only = + - @ reach it); a CR is written as a newline
		// so that the file reads back the same.
		for _, cell := range row[1:3] {
			if !strings.HasPrefix(cell, "'") {
				t.Errorf("cell %q is not prefixed with '", cell)
			}
		}
		seen[row[1]] = true
	}
	for _, c := range leads {
		want := "'" + strings.ReplaceAll(c, "\r", "\n") + "SUM(A1:A9)"
		if !seen[want] {
			t.Errorf("no name %q in %v", want, seen)
		}
	}
}

func TestReports_CommasQuotesAndNewlinesRoundTrip(t *testing.T) {
	tricky := []string{`Smith, John`, `O"Brien "The Coach"`, "two\nlines", "crlf\r\nline", `"`, `,`, " leading space", `\.`, "tab\tinside", "ünïcödé, ok"}
	data := fixtureData()
	data.Contacts, data.Conversations = nil, nil
	for i, s := range tricky {
		data.Contacts = append(data.Contacts, contact(i, s, s, "Acme"))
	}
	h := newTestServer(t, func(o *Options) { o.Source = newSource(engagementBuild(data)) }).Handler()
	_, rows := readCSV(t, get(t, h, "/billing.csv").body)
	got := map[string]bool{}
	for _, row := range rows {
		if row[1] != row[2] {
			t.Errorf("Name and Email differ: %q", row[1:3])
		}
		got[row[1]] = true
	}
	for _, s := range tricky {
		want := strings.ReplaceAll(s, "\r\n", "\n")
		if !got[want] {
			t.Errorf("%q did not round-trip; got %v", s, got)
		}
	}
}

// contact i is enrolled on 2026-10-05 (new in October).
func contact(i int, name, email, employer string) engagement.Contact {
	return engagement.Contact{ID: fmt.Sprintf("x%03d", i), Name: name, Email: email, Employer: employer, Registration: regDay(10, 5)}
}

func engagementBuild(data engagement.Data) *engagement.Model {
	return engagement.Build(data, fixtureConfig(), fixtureNow)
}

func ready(ok bool, lastErr string) collector.Status {
	return collector.Status{Ready: ok, Up: ok, LastError: lastErr, Interval: 15 * time.Minute}
}

func TestDayString_MatchesEngagement(t *testing.T) {
	for d := engagement.DateDay(1999, 12, 25); d < engagement.DateDay(2031, 1, 10); d++ {
		if got, want := dayString(d), d.String(); got != want {
			t.Fatalf("dayString(%d) = %q, want %q", d, got, want)
		}
	}
	for _, d := range []engagement.Day{engagement.DateDay(1, 1, 1), engagement.DateDay(10000, 1, 1), engagement.DateDay(-5, 3, 3)} {
		if got, want := dayString(d), d.String(); got != want {
			t.Errorf("dayString(%d) = %q, want %q", d, got, want)
		}
	}
}

func TestReports_UnknownCoachOrEmployerIs400(t *testing.T) {
	h := newTestServer(t).Handler()
	for _, tc := range []struct{ target, reason string }{
		{"/billing.csv?employer=Nope", `unknown employer "Nope": employers are spelled as the employer label of the metrics (case matters)`},
		{"/billing.csv?employer=Acme&employer=acme", `unknown employer "acme"`},
		{"/billing.csv?month=2026-11&employer=Nope&live=true", `unknown employer "Nope"`},
		{"/caseload.csv?coach=alice%20coach", `unknown coach "alice coach": coaches are spelled as the coach label of the metrics (case matters); see /caseload.csv`},
		{"/caseload.csv?employer=Nope", `unknown employer "Nope"`},
		{"/participants.csv?coach=Nobody", `unknown coach "Nobody"`},
		{"/participants.csv?employer=Beta", `unknown employer "Beta"`},
		{"/sessions.csv?from=2026-10-01&to=2026-11-10&coach=Carol", `unknown coach "Carol"`},
		{"/sessions.csv?from=2026-10-01&to=2026-11-10&employer=ACME", `unknown employer "ACME"`},
		{"/caseload.csv?employer=(other)", `employer "(other)" stands for no employer now: the metrics merge the employers with the fewest members into it only beyond MAX_SERIES_PER_FAMILY`},
		{"/billing.csv?employer=%28other%29", `employer "(other)" stands for no employer now`},
	} {
		r := get(t, h, tc.target)
		if r.code != http.StatusBadRequest || !strings.Contains(r.body, tc.reason) || strings.Count(r.body, "\n") != 1 {
			t.Errorf("%s: %d %q, want 400 with %q", tc.target, r.code, r.body, tc.reason)
		}
	}
	// Known values with no rows in the period are a true empty answer.
	for _, target := range []string{
		"/sessions.csv?from=2026-11-10&to=2026-11-10&coach=Bob+Coach",
		"/participants.csv?from=2026-11-10&employer=Beta+Ltd",
	} {
		if r := get(t, h, target); r.code != http.StatusOK || strings.Count(r.body, "\n") != 1 {
			t.Errorf("%s: %d %q, want 200 with the header row only", target, r.code, r.body)
		}
	}
}

func TestReports_FilterLabelsIncludeThoseOfSessions(t *testing.T) {
	data := fixtureData()
	data.Admins = append(data.Admins, engagement.Admin{ID: "a3", Name: "Cara Coach"})
	data.Contacts[4].Employer = "Gamma" // c5: no member is "unknown" any more
	data.Conversations = append(data.Conversations,
		engagement.Conversation{ID: "115", CreatedAt: utcAt(11, 8, 9), State: "closed", Channel: "Phone", AdminID: "a3", ContactIdx: []int32{contactIndex(data.Contacts, "c3")}},
		engagement.Conversation{ID: "116", CreatedAt: utcAt(11, 8, 10), State: "closed", Channel: "Phone", AdminID: "a1"})
	cfg := fixtureConfig()
	cfg.MemberCoach = engagement.MemberCoachOwner
	m := engagement.Build(data, cfg, fixtureNow)
	for _, mem := range m.Members {
		if mem.Coach == "Cara Coach" || mem.Employer == engagement.UnknownEmployer {
			t.Fatalf("fixture: member %s has coach %q employer %q; want them only on sessions", mem.Contact.ID, mem.Coach, mem.Employer)
		}
	}
	h := newTestServer(t, func(o *Options) { o.Source = newSource(m) }).Handler()
	for target, want := range map[string]string{
		"/sessions.csv?from=2026-11-01&to=2026-11-10&coach=Cara+Coach": "115,",
		"/sessions.csv?from=2026-11-01&to=2026-11-10&employer=unknown": "116,",
	} {
		if r := get(t, h, target); r.code != http.StatusOK || !strings.Contains(r.body, want) {
			t.Errorf("%s: %d %q, want 200 with session %s", target, r.code, r.body, want)
		}
	}
	// The coach of sessions only is known to the member reports too: no rows.
	if r := get(t, h, "/caseload.csv?coach=Cara+Coach"); r.code != http.StatusOK || strings.Count(r.body, "\n") != 1 {
		t.Errorf("caseload of a session-only coach: %d %q", r.code, r.body)
	}
}
