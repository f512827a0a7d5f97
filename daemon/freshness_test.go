package daemon_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coaching/intercom_exporter/engagement"
	"github.com/coaching/intercom_exporter/intercom"
	"github.com/coaching/intercom_exporter/intercom/intercomtest"
)

// gauge is the value of an unlabelled metric of h.
func gauge(t *testing.T, h *harness, name string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	require.NoError(t, reg.Register(h))
	fams, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range fams {
		if f.GetName() == name {
			m := f.GetMetric()[0]
			return m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	t.Fatalf("%s is not exported", name)
	return 0
}

func hasSession(m *engagement.Model, id string) bool {
	for i := range m.Sessions {
		if m.Sessions[i].ConversationID == id {
			return true
		}
	}
	return false
}

// A scheduled refresh a minute later, with nothing changed: one search of
// the conversations, no recomputation (the same model stays published),
// but the data timestamp, the success and the counters advance.
func TestQuickRefresh_NothingChangedRecomputesNothingButAdvancesTheDataTimestamp(t *testing.T) {
	clk := &clock{t: now}
	srv := startFake(t, smallWorkspace(), intercomtest.Options{Now: clk.Now})
	exp := newExporter(t, newEnv(srv), clk.Now, nil)
	require.NoError(t, exp.Refresh(context.Background()))
	first := exp.Model()

	clk.Add(time.Minute)
	srv.ResetRequests()
	require.NoError(t, exp.TryRefresh(context.Background()))
	assert.Len(t, srv.Requests(), 1, "one request")
	assert.Equal(t, 1, srv.Count(http.MethodPost, intercomtest.EndpointConversationsSearch))
	assert.Same(t, first, exp.Model(), "nothing recomputed")
	st := exp.Status()
	assert.True(t, st.DataTimestamp.Equal(now.Add(time.Minute)), "data timestamp %s", st.DataTimestamp)
	assert.True(t, st.Up)
	assert.Equal(t, float64(now.Add(time.Minute).Unix()), gauge(t, exp, "intercom_data_timestamp_seconds"))
	assert.Equal(t, 2.0, gauge(t, exp, "intercom_refreshes_total"))
	assert.Equal(t, 0.0, gauge(t, exp, "intercom_refresh_failures_total"))
	assert.Equal(t, 1.0, gauge(t, exp, "intercom_up"))
}

// Contacts, admins, data attributes and the counts are read every
// SLOW_REFRESH_INTERVAL; nothing changed still recomputes nothing, until
// the day changes.
func TestSlowRefresh_EverySlowIntervalAndADayChangeRecomputes(t *testing.T) {
	clk := &clock{t: now}
	srv := startFake(t, smallWorkspace(), intercomtest.Options{Now: clk.Now})
	exp := newExporter(t, newEnv(srv), clk.Now, nil) // SLOW_REFRESH_INTERVAL=15m
	require.NoError(t, exp.Refresh(context.Background()))
	first := exp.Model()

	// 14 minutes after the full read: still quick.
	clk.Add(14 * time.Minute)
	srv.ResetRequests()
	require.NoError(t, exp.TryRefresh(context.Background()))
	assert.Zero(t, srv.Count(http.MethodGet, intercomtest.EndpointMe))
	assert.Zero(t, srv.Count(http.MethodPost, intercomtest.EndpointContactsSearch))

	// 15 minutes: slow.
	clk.Add(time.Minute)
	srv.ResetRequests()
	require.NoError(t, exp.TryRefresh(context.Background()))
	assert.Equal(t, 1, srv.Count(http.MethodGet, intercomtest.EndpointMe))
	assert.Equal(t, 1, srv.Count(http.MethodGet, intercomtest.EndpointAdmins))
	assert.Equal(t, 1, srv.Count(http.MethodGet, intercomtest.EndpointDataAttributes))
	assert.Positive(t, srv.Count(http.MethodPost, intercomtest.EndpointContactsSearch))
	assert.Same(t, first, exp.Model(), "nothing changed: nothing recomputed")

	// Past midnight (12:15 + 11h45m = 00:00 the next day, UTC): recomputed
	// for the new day though nothing changed.
	clk.Add(11*time.Hour + 45*time.Minute)
	require.NoError(t, exp.TryRefresh(context.Background()))
	assert.NotSame(t, first, exp.Model())
	assert.Equal(t, engagement.DayOf(now, time.UTC)+1, exp.Model().Today)
}

// A quick refresh that reads a session listing a contact the copy lacks
// reads that contact (by id) before publishing: a new member is never
// published without its details.
func TestQuickRefresh_ReadsTheNewContactsAChangedSessionLists(t *testing.T) {
	clk := &clock{t: now}
	ws := smallWorkspace()
	srv := startFake(t, ws, intercomtest.Options{Now: clk.Now})
	exp := newExporter(t, newEnv(srv), clk.Now, nil)
	require.NoError(t, exp.Refresh(context.Background()))

	clk.Add(30 * time.Second)
	c9 := contact("c9", "Initech", nil)
	c9.CreatedAt, c9.UpdatedAt = clk.Now().Unix(), clk.Now().Unix()
	ws.AddContact(c9)
	conv := conversation("1009", "closed", "Phone", "101", clk.Now().Unix()-600, "c9")
	conv.UpdatedAt = clk.Now().Unix()
	ws.AddConversation(conv)

	clk.Add(30 * time.Second)
	srv.ResetRequests()
	require.NoError(t, exp.TryRefresh(context.Background()))
	assert.Zero(t, srv.Count(http.MethodGet, intercomtest.EndpointMe), "a quick refresh")
	assert.Equal(t, 1, srv.Count(http.MethodPost, intercomtest.EndpointContactsSearch), "c9 read by id")
	m := exp.Model()
	require.True(t, hasSession(m, "1009"))
	mem, ok := m.Member("c9")
	require.True(t, ok)
	assert.False(t, mem.Unread)
	assert.Equal(t, "Initech", mem.Employer)
}

// Intercom's search shows a change only some time after it was made. A
// session reopened at t1, with a search lag of 20 s, is not seen by the
// refresh at t1+15s; the next one, at t1+40s, starts INCREMENTAL_OVERLAP
// before t1+15s: with 5m it reads the change, with 10s it starts at
// t1+5s and misses it (which is why the default is minutes).
func TestIncrementalOverlap_CoversTheSearchIndexLag(t *testing.T) {
	for _, tc := range []struct {
		overlap string
		seen    bool
	}{{"5m", true}, {"10s", false}} {
		t.Run(tc.overlap, func(t *testing.T) {
			clk := &clock{t: now}
			ws := smallWorkspace()
			srv := startFake(t, ws, intercomtest.Options{Now: clk.Now, SearchLag: 20 * time.Second})
			e := newEnv(srv)
			e["INCREMENTAL_OVERLAP"] = tc.overlap
			exp := newExporter(t, e, clk.Now, nil)
			require.NoError(t, exp.Refresh(context.Background()))
			require.True(t, hasSession(exp.Model(), "1003"))

			clk.Add(time.Minute)
			t1 := clk.Now().Unix()
			ws.UpdateConversation("1003", func(c *intercom.Conversation) { c.State = "open"; c.UpdatedAt = t1 })
			clk.Add(15 * time.Second)
			require.NoError(t, exp.TryRefresh(context.Background()))
			assert.True(t, hasSession(exp.Model(), "1003"), "not in the search yet")
			clk.Add(25 * time.Second)
			require.NoError(t, exp.TryRefresh(context.Background()))
			assert.Equal(t, !tc.seen, hasSession(exp.Model(), "1003"), "reopened conversation seen: %v", tc.seen)
		})
	}
}

// A full read is bounded by FULL_REFRESH_TIMEOUT, an incremental refresh
// by REFRESH_TIMEOUT: with every answer 300 ms late, the full read
// (several rounds of requests) finishes within its own bound, a quick
// refresh (one request) within a second, and a slow one (four rounds:
// workspace, admins and attributes, searches, counts) does not.
func TestTimeouts_TheFullReadHasItsOwnBound(t *testing.T) {
	clk := &clock{t: now}
	srv := startFake(t, smallWorkspace(), intercomtest.Options{Now: clk.Now, Latency: 300 * time.Millisecond})
	e := newEnv(srv)
	e["REFRESH_TIMEOUT"] = "1s"
	e["FULL_REFRESH_TIMEOUT"] = "1m"
	exp := newExporter(t, e, clk.Now, nil)
	t0 := time.Now()
	require.NoError(t, exp.Refresh(context.Background()))
	require.Greater(t, time.Since(t0), time.Second, "the full read took longer than REFRESH_TIMEOUT")

	clk.Add(time.Minute)
	require.NoError(t, exp.TryRefresh(context.Background()), "a quick refresh")

	clk.Add(time.Minute)
	err := exp.Refresh(context.Background()) // everything that changed
	require.Error(t, err)
	assert.Contains(t, err.Error(), "did not finish within REFRESH_TIMEOUT (1s)")
	assert.False(t, exp.Status().Up)
}

// An incremental refresh that finds the contact attributes changed reads
// in full at once, under the full read's bound, and succeeds.
func TestSlowRefresh_AttributesChangedReadsInFullAtOnce(t *testing.T) {
	clk := &clock{t: now}
	ws := smallWorkspace()
	srv := startFake(t, ws, intercomtest.Options{Now: clk.Now})
	logs := &syncBuffer{}
	exp := newExporter(t, newEnv(srv), clk.Now, logs)
	require.NoError(t, exp.Refresh(context.Background()))
	ws.AddDataAttribute(intercom.DataAttribute{Name: "Shoe Size", Model: "contact", DataType: "integer", Custom: true, APIWritable: true})
	clk.Add(time.Minute)
	require.NoError(t, exp.Refresh(context.Background()))
	assert.Contains(t, logs.String(), "kind=full")
	assert.Contains(t, logs.String(), "reason=\"the contact attributes changed\"")
	assert.True(t, exp.Status().Up)
}

// RequestRefresh (POST /refresh, SIGHUP) during a refresh makes one more
// run after it, however many requests came meanwhile.
func TestRequestRefresh_OneMoreAfterTheRunningOne(t *testing.T) {
	srv := startFake(t, smallWorkspace(), intercomtest.Options{Latency: 150 * time.Millisecond})
	e := newEnv(srv)
	e["REFRESH_INTERVAL"] = "1h" // no scheduled refresh but the first
	e["SLOW_REFRESH_INTERVAL"] = "1h"
	exp := newExporter(t, e, fixedNow, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- exp.Run(ctx) }()
	require.Eventually(t, func() bool { st := exp.Status(); return st.Ready && !st.Refreshing }, 20*time.Second, 5*time.Millisecond)

	srv.ResetRequests()
	exp.RequestRefresh()
	require.Eventually(t, func() bool { return exp.Status().Refreshing }, 5*time.Second, time.Millisecond)
	for range 3 {
		exp.RequestRefresh()
	}
	// Each requested refresh reads the workspace (GET /me) once.
	require.Eventually(t, func() bool { return srv.Count(http.MethodGet, intercomtest.EndpointMe) == 2 }, 10*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool { return !exp.Status().Refreshing }, 10*time.Second, 5*time.Millisecond)
	time.Sleep(500 * time.Millisecond)
	assert.Equal(t, 2, srv.Count(http.MethodGet, intercomtest.EndpointMe), "one more, not three")

	// Idle: a request runs at once.
	exp.RequestRefresh()
	require.Eventually(t, func() bool { return srv.Count(http.MethodGet, intercomtest.EndpointMe) == 3 }, 10*time.Second, 5*time.Millisecond)
	cancel()
	require.NoError(t, <-done)
}

// The overlap reads a change again at the next refreshes; seen again with
// the same updated_at, it is no change: nothing is recomputed.
func TestQuickRefresh_AChangeReadAgainInTheOverlapIsNoChange(t *testing.T) {
	clk := &clock{t: now}
	ws := smallWorkspace()
	srv := startFake(t, ws, intercomtest.Options{Now: clk.Now})
	exp := newExporter(t, newEnv(srv), clk.Now, nil)
	require.NoError(t, exp.Refresh(context.Background()))

	clk.Add(30 * time.Second)
	ws.UpdateConversation("1003", func(c *intercom.Conversation) { c.AdminAssigneeID = "102"; c.UpdatedAt = clk.Now().Unix() })
	clk.Add(30 * time.Second)
	require.NoError(t, exp.TryRefresh(context.Background()))
	changed := exp.Model()
	require.True(t, hasSession(changed, "1003"))

	clk.Add(time.Minute)
	srv.ResetRequests()
	require.NoError(t, exp.TryRefresh(context.Background()))
	require.Len(t, srv.Requests(), 1)
	assert.Contains(t, string(srv.Requests()[0].Body), "updated_at", "the conversation search")
	assert.Same(t, changed, exp.Model(), "read again, not changed: nothing recomputed")
	assert.True(t, exp.Status().DataTimestamp.Equal(clk.Now()))
}

// A refresh that merged changes and then failed (here: comparing counts)
// publishes nothing; the next one, which finds nothing new, still
// recomputes, so the merged changes are published.
func TestRefresh_ChangesOfAFailedRefreshArePublishedByTheNext(t *testing.T) {
	clk := &clock{t: now}
	ws := smallWorkspace()
	srv := startFake(t, ws, intercomtest.Options{Now: clk.Now})
	exp := newExporter(t, newEnv(srv), clk.Now, nil)
	require.NoError(t, exp.Refresh(context.Background()))
	before := exp.Model()
	coachOf := func(m *engagement.Model, id string) string {
		for i := range m.Sessions {
			if m.Sessions[i].ConversationID == id {
				return m.Sessions[i].Coach
			}
		}
		return "(no session)"
	}
	require.Equal(t, "unassigned", coachOf(before, "1003"))

	clk.Add(30 * time.Second)
	ws.UpdateConversation("1003", func(c *intercom.Conversation) { c.AdminAssigneeID = "102"; c.UpdatedAt = clk.Now().Unix() })
	// Counting requests (one result a page) fail: the slow refresh merges
	// the change, then fails comparing counts.
	srv.AddFault(intercomtest.Fault{Endpoint: intercomtest.EndpointConversationsSearch, Kind: intercomtest.FaultStatus500,
		Match: func(_ *http.Request, body []byte) bool { return strings.Contains(string(body), `"per_page":1}`) }})
	clk.Add(30 * time.Second)
	require.Error(t, exp.Refresh(context.Background()))
	assert.Same(t, before, exp.Model(), "nothing published")

	srv.ClearFaults()
	clk.Add(time.Minute)
	require.NoError(t, exp.TryRefresh(context.Background()))
	assert.Equal(t, "Bob Coach", coachOf(exp.Model(), "1003"))
}
