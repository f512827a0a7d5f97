package daemon_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coaching/intercom_exporter/intercom/intercomtest"
)

var reportFamilies = []string{
	"intercom_caseload_members", "intercom_caseload_channel_mix", "intercom_sessions",
	"intercom_participants", "intercom_engagement_contacts", "intercom_billing_members",
}

// The hand-made workspace (helpers_test.go), now = 2026-03-15 12:00 UTC,
// default configuration (UTC, lookback 365, owner coach, engaged 28, at
// risk 56, billing window 56 days).
//
// Conversations read: those updated since 2025-03-15 (1006, updated
// 2025-01-01, is not). Sessions (closed, session channel):
//
//	1001 Phone            2026-03-10  Alice Coach  [c1]      5 days  -> 0-7d
//	1002 Video Conference 2026-02-01  Bob Coach    [c1 c2]  42 days  -> 29-56d
//	1003 Email            2026-03-01  unassigned   [c5]     14 days  -> 8-28d
//	1007 Phone            2025-06-01  999 (unknown admin) [c3] 287 days -> 57d+
//
// not sessions: 1004 (open), 1005 (SMS), 1008 (no channel).
//
// Contacts read: c1..c6 (c7 has no attribute and no conversation).
// Employers: c1 Acme, c2 Globex (trimmed), c3 Acme, c4 unknown, c5 Globex,
// c6 Acme. Member's coach (owner, else last session's): c1 Alice Coach
// (owner 101), c2 Bob Coach (1002), c3 999 (1007), c4 unassigned, c5
// unassigned (1003 is unassigned), c6 unassigned.
//
// Caseload (members with a session): c1 0-7d Phone+Video Conference;
// c2 29-56d Video Conference; c3 57d+ Phone; c5 8-28d Email.
//
// Sessions by coach, employer of the FIRST contact, channel, band: 1001
// Alice/Acme/Phone/0-7d, 1002 Bob/Acme(c1)/Video Conference/29-56d, 1003
// unassigned/Globex/Email/8-28d, 1007 999/Acme/Phone/57d+.
//
// Enrolled: c1 (Registration Date 2026-01-10), c2 (Registration Date
// invalid, Enrolled Date 2026-02-20), c4 (2025-12-01). c3 is not (its
// only registration value is in milliseconds). Days without a session: c1
// 5 -> 0-13d; c2 42 -> 29d+; c4 never, 104 days since registration -> 29d+.
//
// Status: c1 last call 1001 (5 days) Engaged; c2 last call 1002 (42) At
// Risk; c3 stored Last Coaching Call 2026-01-20 is later than 1007, 54 days
// -> At Risk; c4 enrolled without a call -> No Call; c5 (Email only, not
// enrolled) and c6 (stored value in milliseconds, not enrolled): none.
//
// Billing 2026-02 (engaged window 2025-12-07..2026-02-28): c1 registered
// in January, call 1002 on 02-01 -> engaged (Acme); c2 registered 02-20
// and call 1002 -> new_and_engaged (Globex); c4 no call, not new -> out.
//
// Unreadable values among the contacts read: Registration Date c2 (text)
// and c3 (milliseconds) = 2; Enrolled Date 0; Last Coaching Call c6 = 1.
const goldenReports = `
# HELP intercom_billing_members Billing cohort of the previous calendar month by employer and reason (docs/reports.md). Cached: refreshed from Intercom every 1m0s, not per scrape.
# TYPE intercom_billing_members gauge
intercom_billing_members{employer="Acme",month="2026-02",reason="engaged"} 1
intercom_billing_members{employer="Acme",month="2026-02",reason="new"} 0
intercom_billing_members{employer="Acme",month="2026-02",reason="new_and_engaged"} 0
intercom_billing_members{employer="Globex",month="2026-02",reason="engaged"} 0
intercom_billing_members{employer="Globex",month="2026-02",reason="new"} 0
intercom_billing_members{employer="Globex",month="2026-02",reason="new_and_engaged"} 1
# HELP intercom_caseload_channel_mix Members by coach, employer and the set of channels of their sessions in the lookback (docs/reports.md). Cached: refreshed from Intercom every 1m0s, not per scrape.
# TYPE intercom_caseload_channel_mix gauge
intercom_caseload_channel_mix{channels="Email",coach="unassigned",employer="Globex"} 1
intercom_caseload_channel_mix{channels="Phone",coach="999",employer="Acme"} 1
intercom_caseload_channel_mix{channels="Phone+Video Conference",coach="Alice Coach",employer="Acme"} 1
intercom_caseload_channel_mix{channels="Video Conference",coach="Bob Coach",employer="Globex"} 1
# HELP intercom_caseload_members Members (contacts with a coaching session in the lookback) by coach, employer and age band of their last session (docs/reports.md). Cached: refreshed from Intercom every 1m0s, not per scrape.
# TYPE intercom_caseload_members gauge
intercom_caseload_members{band="0-7d",coach="999",employer="Acme"} 0
intercom_caseload_members{band="8-28d",coach="999",employer="Acme"} 0
intercom_caseload_members{band="29-56d",coach="999",employer="Acme"} 0
intercom_caseload_members{band="57d+",coach="999",employer="Acme"} 1
intercom_caseload_members{band="0-7d",coach="Alice Coach",employer="Acme"} 1
intercom_caseload_members{band="8-28d",coach="Alice Coach",employer="Acme"} 0
intercom_caseload_members{band="29-56d",coach="Alice Coach",employer="Acme"} 0
intercom_caseload_members{band="57d+",coach="Alice Coach",employer="Acme"} 0
intercom_caseload_members{band="0-7d",coach="Bob Coach",employer="Globex"} 0
intercom_caseload_members{band="8-28d",coach="Bob Coach",employer="Globex"} 0
intercom_caseload_members{band="29-56d",coach="Bob Coach",employer="Globex"} 1
intercom_caseload_members{band="57d+",coach="Bob Coach",employer="Globex"} 0
intercom_caseload_members{band="0-7d",coach="unassigned",employer="Globex"} 0
intercom_caseload_members{band="8-28d",coach="unassigned",employer="Globex"} 1
intercom_caseload_members{band="29-56d",coach="unassigned",employer="Globex"} 0
intercom_caseload_members{band="57d+",coach="unassigned",employer="Globex"} 0
# HELP intercom_engagement_contacts Contacts by employer and engagement status (docs/reports.md). Cached: refreshed from Intercom every 1m0s, not per scrape.
# TYPE intercom_engagement_contacts gauge
intercom_engagement_contacts{employer="Acme",status="At Risk"} 1
intercom_engagement_contacts{employer="Acme",status="Engaged"} 1
intercom_engagement_contacts{employer="Acme",status="No Call"} 0
intercom_engagement_contacts{employer="Acme",status="Unengaged"} 0
intercom_engagement_contacts{employer="Globex",status="At Risk"} 1
intercom_engagement_contacts{employer="Globex",status="Engaged"} 0
intercom_engagement_contacts{employer="Globex",status="No Call"} 0
intercom_engagement_contacts{employer="Globex",status="Unengaged"} 0
intercom_engagement_contacts{employer="unknown",status="At Risk"} 0
intercom_engagement_contacts{employer="unknown",status="Engaged"} 0
intercom_engagement_contacts{employer="unknown",status="No Call"} 1
intercom_engagement_contacts{employer="unknown",status="Unengaged"} 0
# HELP intercom_participants Enrolled participants by coach, employer and band of days without a session (docs/reports.md). Cached: refreshed from Intercom every 1m0s, not per scrape.
# TYPE intercom_participants gauge
intercom_participants{band="0-13d",coach="Alice Coach",employer="Acme"} 1
intercom_participants{band="14-21d",coach="Alice Coach",employer="Acme"} 0
intercom_participants{band="22-28d",coach="Alice Coach",employer="Acme"} 0
intercom_participants{band="29d+",coach="Alice Coach",employer="Acme"} 0
intercom_participants{band="0-13d",coach="Bob Coach",employer="Globex"} 0
intercom_participants{band="14-21d",coach="Bob Coach",employer="Globex"} 0
intercom_participants{band="22-28d",coach="Bob Coach",employer="Globex"} 0
intercom_participants{band="29d+",coach="Bob Coach",employer="Globex"} 1
intercom_participants{band="0-13d",coach="unassigned",employer="unknown"} 0
intercom_participants{band="14-21d",coach="unassigned",employer="unknown"} 0
intercom_participants{band="22-28d",coach="unassigned",employer="unknown"} 0
intercom_participants{band="29d+",coach="unassigned",employer="unknown"} 1
# HELP intercom_sessions Coaching sessions in the lookback by coach, employer of the first listed contact, channel and age band (docs/reports.md). Cached: refreshed from Intercom every 1m0s, not per scrape.
# TYPE intercom_sessions gauge
intercom_sessions{band="0-7d",channel="Phone",coach="999",employer="Acme"} 0
intercom_sessions{band="8-28d",channel="Phone",coach="999",employer="Acme"} 0
intercom_sessions{band="29-56d",channel="Phone",coach="999",employer="Acme"} 0
intercom_sessions{band="57d+",channel="Phone",coach="999",employer="Acme"} 1
intercom_sessions{band="0-7d",channel="Phone",coach="Alice Coach",employer="Acme"} 1
intercom_sessions{band="8-28d",channel="Phone",coach="Alice Coach",employer="Acme"} 0
intercom_sessions{band="29-56d",channel="Phone",coach="Alice Coach",employer="Acme"} 0
intercom_sessions{band="57d+",channel="Phone",coach="Alice Coach",employer="Acme"} 0
intercom_sessions{band="0-7d",channel="Video Conference",coach="Bob Coach",employer="Acme"} 0
intercom_sessions{band="8-28d",channel="Video Conference",coach="Bob Coach",employer="Acme"} 0
intercom_sessions{band="29-56d",channel="Video Conference",coach="Bob Coach",employer="Acme"} 1
intercom_sessions{band="57d+",channel="Video Conference",coach="Bob Coach",employer="Acme"} 0
intercom_sessions{band="0-7d",channel="Email",coach="unassigned",employer="Globex"} 0
intercom_sessions{band="8-28d",channel="Email",coach="unassigned",employer="Globex"} 1
intercom_sessions{band="29-56d",channel="Email",coach="unassigned",employer="Globex"} 0
intercom_sessions{band="57d+",channel="Email",coach="unassigned",employer="Globex"} 0
`

const goldenHealth = `
# HELP intercom_up 1 if the last refresh of Intercom data succeeded, else 0.
# TYPE intercom_up gauge
intercom_up 1
# HELP intercom_refreshes_total Refreshes of Intercom data attempted.
# TYPE intercom_refreshes_total counter
intercom_refreshes_total 1
# HELP intercom_refresh_failures_total Refreshes of Intercom data that failed (the previous reports stay published).
# TYPE intercom_refresh_failures_total counter
intercom_refresh_failures_total 0
# HELP intercom_refresh_interval_seconds The configured interval between refreshes of Intercom data (REFRESH_INTERVAL).
# TYPE intercom_refresh_interval_seconds gauge
intercom_refresh_interval_seconds 60
# HELP intercom_data_timestamp_seconds Start of the last successful read of Intercom: the published reports are current as of then, changed or not (UNIX seconds); time() minus it is the data's age.
# TYPE intercom_data_timestamp_seconds gauge
intercom_data_timestamp_seconds 1.7735760e+09
# HELP intercom_refresh_last_success_timestamp_seconds End of the last successful refresh of Intercom data (UNIX seconds).
# TYPE intercom_refresh_last_success_timestamp_seconds gauge
intercom_refresh_last_success_timestamp_seconds 1.7735760e+09
# HELP intercom_invalid_attribute_values Contacts in the latest snapshot whose value of this time attribute could not be read.
# TYPE intercom_invalid_attribute_values gauge
intercom_invalid_attribute_values{attribute="Enrolled Date"} 0
intercom_invalid_attribute_values{attribute="Last Coaching Call"} 1
intercom_invalid_attribute_values{attribute="Registration Date"} 2
# HELP intercom_merged_employers Employers merged into employer="(other)" by the series budget (MAX_SERIES_PER_FAMILY), by family.
# TYPE intercom_merged_employers gauge
intercom_merged_employers{family="intercom_billing_exceptions"} 0
intercom_merged_employers{family="intercom_billing_members"} 0
intercom_merged_employers{family="intercom_caseload_channel_mix"} 0
intercom_merged_employers{family="intercom_caseload_members"} 0
intercom_merged_employers{family="intercom_engagement_contacts"} 0
intercom_merged_employers{family="intercom_participants"} 0
intercom_merged_employers{family="intercom_sessions"} 0
`

var healthNames = []string{
	"intercom_up", "intercom_refreshes_total", "intercom_refresh_failures_total",
	"intercom_refresh_interval_seconds", "intercom_data_timestamp_seconds",
	"intercom_refresh_last_success_timestamp_seconds", "intercom_invalid_attribute_values",
	"intercom_merged_employers",
}

func TestGolden_SmallWorkspace(t *testing.T) {
	srv := startFake(t, smallWorkspace(), intercomtest.Options{})
	exp := newExporter(t, newEnv(srv), fixedNow, nil)

	require.NoError(t, exp.Refresh(context.Background()))

	require.Equal(t, float64(now.Unix()), 1.773576e9, "the golden timestamps assume this now")
	assert.NoError(t, testutil.CollectAndCompare(exp, strings.NewReader(goldenReports), reportFamilies...))
	assert.NoError(t, testutil.CollectAndCompare(exp, strings.NewReader(goldenHealth), healthNames...))

	// One search for the contacts with any of the three attributes (an OR
	// group), one page of conversations, one search by id for c5 (the only
	// session contact without an attribute): never one GET per contact.
	assert.Equal(t, 0, srv.Count("GET", intercomtest.EndpointContact))
	assert.Equal(t, 1, srv.Count("POST", intercomtest.EndpointConversationsSearch))
	assert.Equal(t, 2, srv.Count("POST", intercomtest.EndpointContactsSearch))

	st := exp.Status()
	assert.True(t, st.Ready)
	assert.True(t, st.Up)
	assert.Equal(t, now, st.DataTimestamp)
	assert.Equal(t, "UTC", st.WorkspaceTimezone)
	require.NotNil(t, exp.Model())
}

func TestLint_ExpositionIsClean(t *testing.T) {
	srv := startFake(t, smallWorkspace(), intercomtest.Options{})
	exp := newExporter(t, newEnv(srv), fixedNow, nil)
	require.NoError(t, exp.Refresh(context.Background()))
	_, err := exp.Sync(context.Background(), false)
	require.NoError(t, err)

	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(exp))
	problems, err := testutil.GatherAndLint(reg)
	require.NoError(t, err)
	assert.Empty(t, problems)
	n, err := testutil.GatherAndCount(reg)
	require.NoError(t, err)
	assert.Positive(t, n)
}

func TestBeforeFirstRefresh_ReportFamiliesAreAbsentNotZero(t *testing.T) {
	srv := startFake(t, smallWorkspace(), intercomtest.Options{})
	exp := newExporter(t, newEnv(srv), fixedNow, nil)

	for _, name := range append(reportFamilies, "intercom_invalid_attribute_values", "intercom_merged_employers",
		"intercom_data_timestamp_seconds", "intercom_refresh_last_success_timestamp_seconds") {
		assert.Zero(t, testutil.CollectAndCount(exp, name), name)
	}
	assert.NoError(t, testutil.CollectAndCompare(exp, strings.NewReader(`
# HELP intercom_up 1 if the last refresh of Intercom data succeeded, else 0.
# TYPE intercom_up gauge
intercom_up 0
`), "intercom_up"))
	assert.False(t, exp.Status().Ready)
	assert.Nil(t, exp.Model())
	assert.Zero(t, srv.Count("POST", intercomtest.EndpointConversationsSearch), "nothing is read before Run or Refresh")
}

func TestScrape_NeverCallsIntercom(t *testing.T) {
	srv := startFake(t, smallWorkspace(), intercomtest.Options{})
	exp := newExporter(t, newEnv(srv), fixedNow, nil)
	require.NoError(t, exp.Refresh(context.Background()))
	before := len(srv.Requests())
	for range 3 {
		testutil.CollectAndCount(exp)
	}
	assert.Equal(t, before, len(srv.Requests()))
}

func TestAdminsForbidden_CoachesShownByIDAndRefreshGoesOn(t *testing.T) {
	srv := startFake(t, smallWorkspace(), intercomtest.Options{AdminsForbidden: true})
	var logs bytes.Buffer
	exp := newExporter(t, newEnv(srv), fixedNow, &logs)
	require.NoError(t, exp.Refresh(context.Background()))

	assert.NoError(t, testutil.CollectAndCompare(exp, strings.NewReader(`
# HELP intercom_caseload_channel_mix Members by coach, employer and the set of channels of their sessions in the lookback (docs/reports.md). Cached: refreshed from Intercom every 1m0s, not per scrape.
# TYPE intercom_caseload_channel_mix gauge
intercom_caseload_channel_mix{channels="Email",coach="unassigned",employer="Globex"} 1
intercom_caseload_channel_mix{channels="Phone",coach="999",employer="Acme"} 1
intercom_caseload_channel_mix{channels="Phone+Video Conference",coach="101",employer="Acme"} 1
intercom_caseload_channel_mix{channels="Video Conference",coach="102",employer="Globex"} 1
# HELP intercom_up 1 if the last refresh of Intercom data succeeded, else 0.
# TYPE intercom_up gauge
intercom_up 1
`), "intercom_caseload_channel_mix", "intercom_up"))
	assert.Contains(t, logs.String(), "admins cannot be read (403)")
	assert.False(t, exp.Status().AdminsKnown)
}

// With MAX_SERIES_PER_FAMILY=8, employer sizes (members read) Acme 3 (c1,
// c3, c6), Globex 2 (c2, c5), unknown 1 (c4):
//   - engagement (3 employers x 4 statuses = 12): unknown merges (still 3
//     groups), then Globex: Acme + (other) = 8 series. (other) = Globex's
//     At Risk 1 + unknown's No Call 1.
//   - billing (2 x 3 = 6) and channel mix (4) fit: nothing merged.
//   - caseload and sessions (4 groups x 4): every employer present merges
//     (2) and they still do not fit (coaches differ); participants (3
//     groups) merges all 3 likewise. A warning says so.
func TestSeriesBudget_MergesSmallestEmployersIntoOther(t *testing.T) {
	srv := startFake(t, smallWorkspace(), intercomtest.Options{})
	e := newEnv(srv)
	e["MAX_SERIES_PER_FAMILY"] = "8"
	var logs bytes.Buffer
	exp := newExporter(t, e, fixedNow, &logs)
	require.NoError(t, exp.Refresh(context.Background()))

	assert.NoError(t, testutil.CollectAndCompare(exp, strings.NewReader(`
# HELP intercom_engagement_contacts Contacts by employer and engagement status (docs/reports.md). Cached: refreshed from Intercom every 1m0s, not per scrape.
# TYPE intercom_engagement_contacts gauge
intercom_engagement_contacts{employer="(other)",status="At Risk"} 1
intercom_engagement_contacts{employer="(other)",status="Engaged"} 0
intercom_engagement_contacts{employer="(other)",status="No Call"} 1
intercom_engagement_contacts{employer="(other)",status="Unengaged"} 0
intercom_engagement_contacts{employer="Acme",status="At Risk"} 1
intercom_engagement_contacts{employer="Acme",status="Engaged"} 1
intercom_engagement_contacts{employer="Acme",status="No Call"} 0
intercom_engagement_contacts{employer="Acme",status="Unengaged"} 0
# HELP intercom_merged_employers Employers merged into employer="(other)" by the series budget (MAX_SERIES_PER_FAMILY), by family.
# TYPE intercom_merged_employers gauge
intercom_merged_employers{family="intercom_billing_exceptions"} 0
intercom_merged_employers{family="intercom_billing_members"} 0
intercom_merged_employers{family="intercom_caseload_channel_mix"} 0
intercom_merged_employers{family="intercom_caseload_members"} 2
intercom_merged_employers{family="intercom_engagement_contacts"} 2
intercom_merged_employers{family="intercom_participants"} 3
intercom_merged_employers{family="intercom_sessions"} 2
`), "intercom_engagement_contacts", "intercom_merged_employers"))
	assert.Equal(t, 8, testutil.CollectAndCount(exp, "intercom_engagement_contacts"))
	assert.Equal(t, 6, testutil.CollectAndCount(exp, "intercom_billing_members"))
	assert.Contains(t, logs.String(), "exceeds MAX_SERIES_PER_FAMILY even with every employer merged")
}
