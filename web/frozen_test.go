package web

import (
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/coaching/intercom_exporter/daemon"
	"github.com/coaching/intercom_exporter/engagement"
)

// The daemon's exporter is the Source that freezes months.
var _ FrozenBilling = (*daemon.Exporter)(nil)

// frozenSource is the fixture's source with frozen months.
type frozenSource struct {
	*fakeSource
	frozen map[engagement.Month][]engagement.BillingRecord
	at     time.Time
}

func (f *frozenSource) FrozenBilling(m engagement.Month) ([]engagement.BillingRecord, time.Time, bool) {
	recs, ok := f.frozen[m]
	return recs, f.at, ok
}

var (
	october2026 = engagement.Month{Year: 2026, Month: time.October}
	may2026     = engagement.Month{Year: 2026, Month: time.May}
	frozenAt    = time.Date(2026, 11, 6, 3, 15, 0, 0, time.UTC)
)

// October as frozen on 2026-11-06: different from the live cohort (c6 was
// not billed yet, a member since deleted was, c1's employer was another),
// given out of order, with a name that needs neutralising in a CSV.
func frozenOctober() []engagement.BillingRecord {
	return []engagement.BillingRecord{
		{ContactID: "c9", Name: "=Gone Member", Email: "gone@example.com", Employer: "Beta Ltd",
			Registration: engagement.DateDay(2026, 10, 2), New: true},
		{ContactID: "c1", Name: "Zoe Zed", Email: "zoe@example.com", Employer: "Acme Old", ExternalID: "ext-1",
			Registration: engagement.DateDay(2026, 10, 5), LastCall: engagement.DateDay(2026, 10, 20), HasLastCall: true,
			New: true, Engaged: true, Qualifying: "101"},
		{ContactID: "c2", Name: "Adams, \"Al\"\nJr", Email: "al@example.com", Employer: "Acme", ExternalID: "ext-2",
			Registration: engagement.DateDay(2026, 3, 1), LastCall: engagement.DateDay(2026, 9, 10), HasLastCall: true,
			Engaged: true, Qualifying: "102"},
	}
}

// Sorted by employer, then name: Acme (c2), Acme Old (c1), Beta Ltd (c9).
var frozenOctoberRows = [][]string{
	{"c2", "Adams, \"Al\"\nJr", "al@example.com", "Acme", "2026-03-01", "2026-09-10", "false", "true", "ext-2", "102"},
	{"c1", "Zoe Zed", "zoe@example.com", "Acme Old", "2026-10-05", "2026-10-20", "true", "true", "ext-1", "101"},
	{"c9", "'=Gone Member", "gone@example.com", "Beta Ltd", "2026-10-02", "", "true", "false", "", ""},
}

func frozenServer(t *testing.T) http.Handler {
	t.Helper()
	src := &frozenSource{fakeSource: newSource(fixtureModel()), at: frozenAt,
		frozen: map[engagement.Month][]engagement.BillingRecord{
			october2026: frozenOctober(),
			// Before the data window: live, it cannot be computed any more.
			may2026: {{ContactID: "c4", Name: "Dana Old", Email: "dana@example.com", Employer: "Beta Ltd",
				Registration: engagement.DateDay(2026, 2, 1), LastCall: engagement.DateDay(2026, 5, 20), HasLastCall: true,
				Engaged: true, Qualifying: "90"}},
		}}
	return newTestServer(t, func(o *Options) { o.Source = src }).Handler()
}

func TestBilling_FrozenMonthIsServedAsFrozen(t *testing.T) {
	h := frozenServer(t)
	for _, tc := range []struct {
		target string
		frozen string
		rows   [][]string
	}{
		{"/billing.csv", "2026-11-06T03:15:00Z", frozenOctoberRows},
		{"/billing.csv?month=2026-10", "2026-11-06T03:15:00Z", frozenOctoberRows},
		{"/billing.csv?employer=Acme+Old&employer=Beta%20Ltd", "2026-11-06T03:15:00Z", frozenOctoberRows[1:]},
		{"/billing.csv?live=false", "2026-11-06T03:15:00Z", frozenOctoberRows},
		// The live computation for review.
		{"/billing.csv?live=true", "false", billingOctober},
		{"/billing.csv?live=true&employer=Beta+Ltd", "false", pick(billingOctober, 3)},
		// A month not frozen is live.
		{"/billing.csv?month=2026-11", "false", billingNovember},
		// A frozen month before the data window is still served.
		{"/billing.csv?month=2026-05", "2026-11-06T03:15:00Z",
			[][]string{{"c4", "Dana Old", "dana@example.com", "Beta Ltd", "2026-02-01", "2026-05-20", "false", "true", "", "90"}}},
	} {
		r := get(t, h, tc.target)
		if r.code != http.StatusOK {
			t.Errorf("%s: %d %s", tc.target, r.code, r.body)
			continue
		}
		if got := r.header.Get("X-Billing-Frozen"); got != tc.frozen {
			t.Errorf("%s: X-Billing-Frozen %q, want %q", tc.target, got, tc.frozen)
		}
		header, rows := readCSV(t, r.body)
		if !reflect.DeepEqual(header, BillingColumns) {
			t.Errorf("%s: header %q", tc.target, header)
		}
		if len(rows) != len(tc.rows) || (len(rows) > 0 && !reflect.DeepEqual(rows, tc.rows)) {
			t.Errorf("%s: rows\n%q\nwant\n%q", tc.target, rows, tc.rows)
		}
	}
	// Live, May is outside the data window: 400 with the reason.
	if r := get(t, h, "/billing.csv?month=2026-05&live=true"); r.code != http.StatusBadRequest {
		t.Errorf("live May: %d %s", r.code, r.body)
	}
	// The frozen records are not changed by serving them filtered.
	get(t, h, "/billing.csv?employer=Acme")
	if r := get(t, h, "/billing.csv"); r.code != http.StatusOK {
		t.Fatal(r.code)
	} else if _, rows := readCSV(t, r.body); len(rows) != 3 {
		t.Errorf("after a filtered request, %d rows", len(rows))
	}
}
