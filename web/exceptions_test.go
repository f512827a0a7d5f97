package web

import (
	"encoding/json"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/coaching/intercom_exporter/daemon"
	"github.com/coaching/intercom_exporter/engagement"
)

var _ FrozenBillingExceptions = (*daemon.Exporter)(nil)

// exceptionsModel is the fixture plus three contacts with a call in
// October's engaged window (2026-08-06..2026-10-31) that billing leaves
// out:
//
//	e1 Cy Invalid   Beta Ltd owner a2, Registration "=HYPERLINK(1)", Phone 10-10 (201) -> invalid_registration
//	e2 Ann Missing  Acme     no owner, no registration, Video 08-06 (202, a1) -> missing_registration, coach Alice
//	e3 Bea After    Acme     owner a1, Registration 2026-11-02, Phone 10-30 (203) -> registered_after_month
//
// The fixture's own contacts are none: their October calls are billed or
// outside the window (c4's 105 on 08-01, c5's 106 on 11-03).
func exceptionsModel() *engagement.Model {
	d := fixtureData()
	d.Contacts = append(d.Contacts,
		engagement.Contact{ID: "e1", Name: "Cy Invalid", Email: "cy@example.com", OwnerID: "a2", Employer: "Beta Ltd", RegistrationRaw: `"=HYPERLINK(1)"`},
		engagement.Contact{ID: "e2", Name: "Ann Missing", Email: "ann@example.com", Employer: "Acme"},
		engagement.Contact{ID: "e3", Name: "Bea After", Email: "bea@example.com", OwnerID: "a1", Employer: "Acme",
			Registration: regDay(11, 2), RegistrationRaw: `"2026-11-02"`},
	)
	conv := func(id, channel string, unix int64, admin, contact string) engagement.Conversation {
		return engagement.Conversation{ID: id, CreatedAt: unix, State: "closed", Channel: channel, AdminID: admin,
			ContactIdx: []int32{contactIndex(d.Contacts, contact)}}
	}
	d.Conversations = append(d.Conversations,
		conv("201", "Phone", utcAt(10, 10, 9), "a2", "e1"),
		conv("202", "Video Conference", utcAt(8, 6, 9), "a1", "e2"),
		conv("203", "Phone", utcAt(10, 30, 9), "a1", "e3"),
	)
	return engagement.Build(d, fixtureConfig(), fixtureNow)
}

// Sorted by employer, then name; the formula is neutralised.
var exceptionsOctober = [][]string{
	{"e2", "Ann Missing", "ann@example.com", "Acme", "Alice Coach", "", "2026-08-06", "missing_registration", "202"},
	{"e3", "Bea After", "bea@example.com", "Acme", "Alice Coach", "2026-11-02", "2026-10-30", "registered_after_month", "203"},
	{"e1", "Cy Invalid", "cy@example.com", "Beta Ltd", "Bob Coach", "'=HYPERLINK(1)", "2026-10-10", "invalid_registration", "201"},
}

func TestBillingExceptions_CSVWithTheBillingMonthRules(t *testing.T) {
	h := newTestServer(t, func(o *Options) { o.Source = newSource(exceptionsModel()) }).Handler()
	for _, tc := range []struct {
		target string
		rows   [][]string
	}{
		{"/billing-exceptions.csv", exceptionsOctober},
		{"/billing-exceptions.csv?month=2026-10", exceptionsOctober},
		{"/billing-exceptions.csv?employer=Beta+Ltd", exceptionsOctober[2:]},
		// November to date (window 2026-09-06..11-30): e3 is new in it,
		// e2's call is before the window, e1 stays invalid.
		{"/billing-exceptions.csv?month=2026-11", [][]string{exceptionsOctober[2]}},
	} {
		r := get(t, h, tc.target)
		if r.code != http.StatusOK {
			t.Errorf("%s: %d %s", tc.target, r.code, r.body)
			continue
		}
		if got := r.header.Get("X-Billing-Frozen"); got != "false" {
			t.Errorf("%s: X-Billing-Frozen %q", tc.target, got)
		}
		header, rows := readCSV(t, r.body)
		if !reflect.DeepEqual(header, BillingExceptionColumns) {
			t.Errorf("%s: header %q", tc.target, header)
		}
		if !reflect.DeepEqual(rows, tc.rows) {
			t.Errorf("%s: rows\n%q\nwant\n%q", tc.target, rows, tc.rows)
		}
	}
	for _, target := range []string{
		"/billing-exceptions.csv?month=2026-12",   // future
		"/billing-exceptions.csv?month=2026-08",   // engaged window before the data window
		"/billing-exceptions.csv?month=Oct",       // not YYYY-MM
		"/billing-exceptions.csv?employer=Nobody", // unknown employer
		"/billing-exceptions.csv?reason=missing",  // unknown parameter
		"/billing-exceptions.csv?live=perhaps",    // not a boolean
		"/billing-exceptions.csv?month=2026-10&month=2026-09",
	} {
		if r := get(t, h, target); r.code != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", target, r.code, r.body)
		}
	}
	r := get(t, h, "/billing-exceptions.csv?format=json")
	var got []map[string]any
	if err := json.Unmarshal([]byte(r.body), &got); err != nil || r.code != http.StatusOK {
		t.Fatalf("json: %d %v %s", r.code, err, r.body)
	}
	if len(got) != 3 || got[0]["Reason"] != "missing_registration" || got[2]["Registration Value"] != "=HYPERLINK(1)" {
		t.Errorf("json rows %v", got)
	}
}

type frozenExceptionsSource struct {
	*fakeSource
	xs map[engagement.Month][]engagement.BillingException
}

func (f *frozenExceptionsSource) FrozenBillingExceptions(m engagement.Month) ([]engagement.BillingException, time.Time, bool) {
	xs, ok := f.xs[m]
	return xs, frozenAt, ok
}

func TestBillingExceptions_FrozenMonthIsServedAsFrozenUnlessLive(t *testing.T) {
	frozen := []engagement.BillingException{{ContactID: "e9", Name: "Gone", Email: "gone@example.com", Employer: "Gamma",
		Coach: "Bob Coach", LastCall: engagement.DateDay(2026, 10, 3), Reason: engagement.ExceptionMissingRegistration, Qualifying: "190"}}
	src := &frozenExceptionsSource{fakeSource: newSource(exceptionsModel()),
		xs: map[engagement.Month][]engagement.BillingException{october2026: frozen}}
	h := newTestServer(t, func(o *Options) { o.Source = src }).Handler()
	want := [][]string{{"e9", "Gone", "gone@example.com", "Gamma", "Bob Coach", "", "2026-10-03", "missing_registration", "190"}}
	for _, tc := range []struct {
		target, frozen string
		rows           [][]string
	}{
		{"/billing-exceptions.csv", "2026-11-06T03:15:00Z", want},
		{"/billing-exceptions.csv?employer=Gamma", "2026-11-06T03:15:00Z", want},
		{"/billing-exceptions.csv?live=true", "false", exceptionsOctober},
	} {
		r := get(t, h, tc.target)
		if r.code != http.StatusOK || r.header.Get("X-Billing-Frozen") != tc.frozen {
			t.Errorf("%s: %d %q %s", tc.target, r.code, r.header.Get("X-Billing-Frozen"), r.body)
			continue
		}
		if _, rows := readCSV(t, r.body); !reflect.DeepEqual(rows, tc.rows) {
			t.Errorf("%s: rows %q, want %q", tc.target, rows, tc.rows)
		}
	}
}
