package daemon_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coaching/intercom_exporter/engagement"
	"github.com/coaching/intercom_exporter/intercom"
	"github.com/coaching/intercom_exporter/intercom/intercomtest"
	"github.com/coaching/intercom_exporter/state"
)

// registeredAtUTCMidnight is a workspace whose Registration Date (a date
// attribute) holds dates at 00:00:00 UTC, as Intercom keeps dates set in
// its interface: r1 on 2026-01-31, r2 on 2026-02-01, r3 on 2026-02-28, r4
// on 2026-03-01. Every registration counts by its date, so February's new
// members are r2 and r3 in every timezone.
func registeredAtUTCMidnight(regType string) *intercomtest.Workspace {
	ws := intercomtest.NewWorkspace("UTC")
	ws.AddCoachingAttributes()
	if regType != "date" {
		ws.AddDataAttribute(intercom.DataAttribute{Name: intercomtest.AttrRegistrationDate, Model: "contact",
			DataType: regType, APIWritable: true, Custom: true})
	}
	for id, d := range map[string]int64{
		"r1": unix(2026, 1, 31, 0), "r2": unix(2026, 2, 1, 0),
		"r3": unix(2026, 2, 28, 0), "r4": unix(2026, 3, 1, 0),
	} {
		ws.AddContact(contact(id, "Acme", map[string]any{intercomtest.AttrRegistrationDate: d}))
	}
	return ws
}

func newInFebruary(t *testing.T, ws *intercomtest.Workspace, tz string) []string {
	t.Helper()
	srv := startFake(t, ws, intercomtest.Options{})
	e := newEnv(srv)
	e["TIMEZONE"] = tz
	exp := newExporter(t, e, fixedNow, nil)
	require.NoError(t, exp.Refresh(context.Background()))
	var ids []string
	for _, r := range liveRecords(t, exp, february) {
		if r.New {
			ids = append(ids, r.ContactID)
		}
	}
	slices.Sort(ids)
	return ids
}

func TestBillingNew_DateRegistrationsAtUTCMidnightAreTheSameInEveryTimezone(t *testing.T) {
	for _, tz := range []string{"UTC", "America/New_York", "Asia/Tokyo", "Pacific/Honolulu", "Pacific/Kiritimati"} {
		t.Run(tz, func(t *testing.T) {
			assert.Equal(t, []string{"r2", "r3"}, newInFebruary(t, registeredAtUTCMidnight("date"), tz))
		})
	}
}

// An integer attribute holds instants: 2026-02-01 00:00 UTC is still 31
// January in New York (19:00 EST), and 2026-03-01 00:00 UTC is 28 February
// there; in Tokyo each is the same date (09:00 JST).
func TestBillingNew_IntegerRegistrationsAreInstantsInTheTimezone(t *testing.T) {
	assert.Equal(t, []string{"r3", "r4"}, newInFebruary(t, registeredAtUTCMidnight("integer"), "America/New_York"))
	assert.Equal(t, []string{"r2", "r3"}, newInFebruary(t, registeredAtUTCMidnight("integer"), "Asia/Tokyo"))
}

// Participant bands count days since registration by the same rule: r4
// (1 March, no session) has 13 days without a session on 14 March in Los
// Angeles, band 0-13d; read as an instant (28 February) it would be 14,
// band 14-21d.
func TestParticipants_BandOfADateRegistrationFollowsTheRule(t *testing.T) {
	srv := startFake(t, registeredAtUTCMidnight("date"), intercomtest.Options{})
	e := newEnv(srv)
	e["TIMEZONE"] = "America/Los_Angeles"
	exp := newExporter(t, e, func() time.Time { return time.Date(2026, 3, 14, 20, 0, 0, 0, time.UTC) }, nil)
	require.NoError(t, exp.Refresh(context.Background()))
	var got string
	for _, r := range exp.Model().Participants() {
		if r.Member.Contact.ID == "r4" {
			assert.Equal(t, 13, r.DaysWithout)
			got = r.Band
		}
	}
	assert.Equal(t, "0-13d", got)
}

// A month frozen before the registration rule changed keeps the cohort it
// froze with: here February, frozen with r4 (registered 2026-03-01 at UTC
// midnight) counted as new, as reading it as an instant in New York did.
// Live, under the rule, February's new members are r2 and r3. The month's
// exceptions, not kept back then, are frozen at the first computation.
func TestFrozenBilling_AMonthFrozenBeforeTheRuleKeepsItsCohort(t *testing.T) {
	srv := startFake(t, registeredAtUTCMidnight("date"), intercomtest.Options{})
	e := newEnv(srv)
	e["TIMEZONE"] = "America/New_York"
	e["STATE_DIR"] = t.TempDir()
	old := []engagement.BillingRecord{
		{ContactID: "r3", Name: "Name r3", Email: "r3@example.com", Employer: "Acme", Registration: engagement.DateDay(2026, 2, 27), New: true},
		{ContactID: "r4", Name: "Name r4", Email: "r4@example.com", Employer: "Acme", Registration: engagement.DateDay(2026, 2, 28), New: true},
	}
	frozenAt := time.Date(2026, 3, 6, 5, 0, 0, 0, time.UTC)
	require.NoError(t, state.Save(e["STATE_DIR"], &state.File{SavedAt: frozenAt, Identity: srv.URL(),
		Frozen: []state.Frozen{{Month: february, FrozenAt: frozenAt, Records: old}}}))

	exp := newExporter(t, e, fixedNow, nil)
	exp.Restore()
	require.NoError(t, exp.Refresh(context.Background()))
	recs, at, ok := exp.FrozenBilling(february)
	require.True(t, ok)
	assert.Equal(t, old, recs)
	assert.True(t, frozenAt.Equal(at))
	assert.Equal(t, []string{"r2", "r3"}, func() (ids []string) {
		for _, r := range liveRecords(t, exp, february) {
			if r.New {
				ids = append(ids, r.ContactID)
			}
		}
		slices.Sort(ids)
		return ids
	}())
	xs, _, ok := exp.FrozenBillingExceptions(february)
	assert.True(t, ok, "exceptions frozen at the first computation since")
	assert.Empty(t, xs, "no contact of this workspace has a call")
}
