package daemon_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coaching/intercom_exporter/engagement"
	"github.com/coaching/intercom_exporter/intercom/intercomtest"
)

// exceptionsWorkspace is the hand-made workspace plus contacts with a call
// in February's engaged window (2025-12-07..2026-02-28) that billing
// leaves out, and some that are no exception:
//
//	x1 Acme, no registration, owner Alice, Phone 2026-02-10 -> missing_registration
//	x6 Acme, no registration, Phone 2025-12-07 (first day of the window) -> missing_registration
//	x2 Globex, Registration Date "early March", Video 2026-01-15 -> invalid_registration
//	x3 Globex, Registration Date 2026-03-02 (UTC midnight), Phone 2026-02-20 -> registered_after_month
//	x4 Acme, no registration, Email 2026-02-10: not a call, no exception
//	x5 Acme, no registration, Phone 2025-12-06: before the window, no exception
//	x7 Acme, no registration, Phone 2026-03-01: after the month, no exception
//
// The hand-made contacts add none: c1 and c2 are billed, c3's call (1007)
// is before the window, c5's session is an Email.
func exceptionsWorkspace() *intercomtest.Workspace {
	ws := smallWorkspace()
	x1 := contact("x1", "Acme", nil)
	x1.OwnerID = "101"
	ws.AddContact(x1)
	ws.AddContact(contact("x2", "Globex", map[string]any{intercomtest.AttrRegistrationDate: "early March"}))
	ws.AddContact(contact("x3", "Globex", map[string]any{intercomtest.AttrRegistrationDate: unix(2026, 3, 2, 0)}))
	for _, id := range []string{"x4", "x5", "x6", "x7"} {
		ws.AddContact(contact(id, "Acme", nil))
	}
	ws.AddConversation(conversation("3001", "closed", "Phone", "102", unix(2026, 2, 10, 9), "x1"))
	ws.AddConversation(conversation("3002", "closed", "Video Conference", "102", unix(2026, 1, 15, 9), "x2"))
	ws.AddConversation(conversation("3003", "closed", "Phone", "102", unix(2026, 2, 20, 9), "x3"))
	ws.AddConversation(conversation("3004", "closed", "Email", "102", unix(2026, 2, 10, 9), "x4"))
	ws.AddConversation(conversation("3005", "closed", "Phone", "102", unix(2025, 12, 6, 9), "x5"))
	ws.AddConversation(conversation("3006", "closed", "Phone", "102", unix(2025, 12, 7, 9), "x6"))
	ws.AddConversation(conversation("3007", "closed", "Phone", "102", unix(2026, 3, 1, 9), "x7"))
	// Closed without a known channel: 3008 (SMS) and 3009 (none) in the
	// window, 3010 just before it, 3011 open.
	ws.AddConversation(conversation("3008", "closed", "SMS", "102", unix(2026, 2, 5, 9), "x4"))
	ws.AddConversation(conversation("3009", "closed", "", "102", unix(2025, 12, 7, 0), "x4"))
	ws.AddConversation(conversation("3010", "closed", "", "102", unix(2025, 12, 6, 23), "x4"))
	ws.AddConversation(conversation("3011", "open", "", "102", unix(2026, 2, 5, 9), "x4"))
	return ws
}

var februaryExceptions = []engagement.BillingException{
	{ContactID: "x1", Name: "Name x1", Email: "x1@example.com", Employer: "Acme", Coach: "Alice Coach",
		LastCall: engagement.DateDay(2026, 2, 10), Reason: engagement.ExceptionMissingRegistration, Qualifying: "3001"},
	{ContactID: "x2", Name: "Name x2", Email: "x2@example.com", Employer: "Globex", Coach: "Bob Coach",
		RegistrationValue: "early March", LastCall: engagement.DateDay(2026, 1, 15), Reason: engagement.ExceptionInvalidRegistration, Qualifying: "3002"},
	{ContactID: "x3", Name: "Name x3", Email: "x3@example.com", Employer: "Globex", Coach: "Bob Coach",
		RegistrationValue: "1772409600", LastCall: engagement.DateDay(2026, 2, 20), Reason: engagement.ExceptionRegisteredAfterMonth, Qualifying: "3003"},
	{ContactID: "x6", Name: "Name x6", Email: "x6@example.com", Employer: "Acme", Coach: "Bob Coach",
		LastCall: engagement.DateDay(2025, 12, 7), Reason: engagement.ExceptionMissingRegistration, Qualifying: "3006"},
}

const februaryExceptionsMetric = `
# HELP intercom_billing_exceptions Billing exceptions of the previous calendar month (contacts with a call in its engaged window left out of the cohort) by employer and reason (docs/reports.md). Cached: refreshed from Intercom every 1m0s, not per scrape.
# TYPE intercom_billing_exceptions gauge
intercom_billing_exceptions{employer="Acme",month="2026-02",reason="invalid_registration"} 0
intercom_billing_exceptions{employer="Acme",month="2026-02",reason="missing_registration"} 2
intercom_billing_exceptions{employer="Acme",month="2026-02",reason="registered_after_month"} 0
intercom_billing_exceptions{employer="Globex",month="2026-02",reason="invalid_registration"} 1
intercom_billing_exceptions{employer="Globex",month="2026-02",reason="missing_registration"} 0
intercom_billing_exceptions{employer="Globex",month="2026-02",reason="registered_after_month"} 1
`

func TestBillingExceptions_ListsCallsLeftOutOfTheCohortWithTheirReasonAndZeroFilledMetric(t *testing.T) {
	srv := startFake(t, exceptionsWorkspace(), intercomtest.Options{})
	exp := newExporter(t, newEnv(srv), fixedNow, nil)
	require.NoError(t, exp.Refresh(context.Background()))
	got, err := exp.Model().BillingExceptions(february)
	require.NoError(t, err)
	assert.ElementsMatch(t, februaryExceptions, got)
	assert.NoError(t, testutil.CollectAndCompare(exp, strings.NewReader(februaryExceptionsMetric), "intercom_billing_exceptions"))

	// The landing page's counts: 4 exceptions; 2 closed conversations
	// without a known channel in the window (3008, 3009; 1005 and 1008
	// are in March); unreadable values: Registration Date c2, c3, x2.
	st := exp.Status()
	assert.Equal(t, "2026-02", st.BillingMonth)
	assert.Equal(t, 4, st.BillingExceptions)
	assert.Equal(t, 2, st.NoChannel)
	assert.Equal(t, map[string]int{"Registration Date": 3, "Enrolled Date": 0, "Last Coaching Call": 1}, st.InvalidValues)
}

// Exceptions freeze with their month's cohort: fixing x1's registration
// after the freeze changes the live list, not the frozen one, also after a
// restart.
func TestBillingExceptions_FreezeWithTheirMonth(t *testing.T) {
	ws := exceptionsWorkspace()
	srv := startFake(t, ws, intercomtest.Options{})
	e := newEnv(srv)
	e["STATE_DIR"] = t.TempDir()
	clk := &clock{t: time.Date(2026, 3, 6, 0, 0, 0, 0, time.UTC)}
	exp := newExporter(t, e, clk.Now, nil)
	require.NoError(t, exp.Refresh(context.Background()))
	frozen, at, ok := exp.FrozenBillingExceptions(february)
	require.True(t, ok)
	assert.Equal(t, clk.Now(), at)
	assert.Equal(t, februaryExceptions, frozen, "frozen in contact id order")

	x1 := contact("x1", "Acme", map[string]any{intercomtest.AttrRegistrationDate: unix(2026, 1, 5, 0)})
	x1.OwnerID, x1.UpdatedAt = "101", clk.Now().Unix()+60
	ws.AddContact(x1)
	clk.Add(15 * time.Minute)
	require.NoError(t, exp.Refresh(context.Background()))
	live, err := exp.Model().BillingExceptions(february)
	require.NoError(t, err)
	assert.Len(t, live, 3, "x1 is billed now")
	frozen, _, _ = exp.FrozenBillingExceptions(february)
	assert.Equal(t, februaryExceptions, frozen)
	assert.NoError(t, testutil.CollectAndCompare(exp, strings.NewReader(februaryExceptionsMetric), "intercom_billing_exceptions"))
	exp.FlushState()

	again := newExporter(t, e, clk.Now, nil)
	again.Restore()
	frozen, _, ok = again.FrozenBillingExceptions(february)
	require.True(t, ok)
	assert.Equal(t, februaryExceptions, frozen)
	assert.Equal(t, 2, again.Status().NoChannel, "created_at of the other conversations is saved")
}
