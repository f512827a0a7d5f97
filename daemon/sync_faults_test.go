package daemon_test

// The engagement sync (docs/sync.md) against the fake Intercom, through
// the real client and collector: exact plans, what the fake records, and
// faults (429 storms, 500s, timeouts, cancellation), the write cap, the
// half-rate-limit share, metrics and POST /sync while a run is going on.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coaching/intercom_exporter/daemon"
	"github.com/coaching/intercom_exporter/engagement"
	"github.com/coaching/intercom_exporter/intercom"
	"github.com/coaching/intercom_exporter/intercom/intercomtest"
	"github.com/coaching/intercom_exporter/web"
)

// syncWorkspace holds one contact for each case of the sync plan. Now is
// 2026-03-15 12:00 UTC; Engaged is d <= 28 (a last call on or after
// 2026-02-15), At Risk d <= 56 (on or after 2026-01-18), else Unengaged.
//
//	k1 first write: Phone 2026-03-10 10:00 (d=5), nothing stored
//	   -> Engaged, 1773136800.
//	k2 no change: Video Conference 2026-02-20 09:00 (d=23), stored that
//	   instant and "Engaged" -> unchanged.
//	k3 status only: Phone 2026-02-01 14:00 (d=42), stored that instant and
//	   "Engaged" -> At Risk, same last call.
//	k4 decay from the stored value: no conversation, stored 2026-01-10
//	   08:00 (d=64) and "At Risk" -> Unengaged, same last call.
//	k5 stored call newer than any conversation: Phone 2025-12-20 (d=85,
//	   Unengaged on its own), stored 2026-03-01 09:00 (d=14) and
//	   "Unengaged" -> Engaged, the stored 2026-03-01 09:00 kept.
//	k6 two conversations on different channels: Phone 2026-02-10 10:00
//	   (d=33) and Email 2026-03-12 (a session, not a call), nothing stored
//	   -> At Risk, the Phone call.
//	k7 enrolled, Email only: "No Call", never written.
func syncWorkspace() *intercomtest.Workspace {
	ws := intercomtest.NewWorkspace("UTC")
	ws.AddCoachingAttributes()
	ws.AddAdmin(intercom.Admin{ID: "101", Name: "Alice Coach"})
	lcc, st := intercomtest.AttrLastCoachingCall, intercomtest.AttrEngagementStatus

	ws.AddContact(contact("k1", "Acme", nil))
	ws.AddContact(contact("k2", "Acme", map[string]any{lcc: unix(2026, 2, 20, 9), st: "Engaged"}))
	ws.AddContact(contact("k3", "Acme", map[string]any{lcc: unix(2026, 2, 1, 14), st: "Engaged"}))
	ws.AddContact(contact("k4", "Globex", map[string]any{lcc: unix(2026, 1, 10, 8), st: "At Risk"}))
	ws.AddContact(contact("k5", "Globex", map[string]any{lcc: unix(2026, 3, 1, 9), st: "Unengaged"}))
	ws.AddContact(contact("k6", "Globex", nil))
	ws.AddContact(contact("k7", "Acme", map[string]any{intercomtest.AttrRegistrationDate: unix(2026, 1, 5, 9)}))

	ws.AddConversation(conversation("2001", "closed", "Phone", "101", unix(2026, 3, 10, 10), "k1"))
	ws.AddConversation(conversation("2002", "closed", "Video Conference", "101", unix(2026, 2, 20, 9), "k2"))
	ws.AddConversation(conversation("2003", "closed", "Phone", "101", unix(2026, 2, 1, 14), "k3"))
	ws.AddConversation(conversation("2005", "closed", "Phone", "101", unix(2025, 12, 20, 10), "k5"))
	ws.AddConversation(conversation("2006", "closed", "Phone", "101", unix(2026, 2, 10, 10), "k6"))
	ws.AddConversation(conversation("2007", "closed", "Email", "101", unix(2026, 3, 12, 9), "k6"))
	ws.AddConversation(conversation("2008", "closed", "Email", "101", unix(2026, 3, 5, 9), "k7"))
	return ws
}

func i64(v int64) *int64 { return &v }

// syncWorkspacePlan is the plan of syncWorkspace, worked out above.
var syncWorkspacePlan = []engagement.Change{
	{ContactID: "k1", LastCall: 1773136800, Status: "Engaged"},
	{ContactID: "k3", StoredLastCall: i64(unix(2026, 2, 1, 14)), StoredStatus: "Engaged", LastCall: unix(2026, 2, 1, 14), Status: "At Risk"},
	{ContactID: "k4", StoredLastCall: i64(unix(2026, 1, 10, 8)), StoredStatus: "At Risk", LastCall: unix(2026, 1, 10, 8), Status: "Unengaged"},
	{ContactID: "k5", StoredLastCall: i64(unix(2026, 3, 1, 9)), StoredStatus: "Unengaged", LastCall: unix(2026, 3, 1, 9), Status: "Engaged"},
	{ContactID: "k6", LastCall: unix(2026, 2, 10, 10), Status: "At Risk"},
}

// manyWorkspace has n contacts m01..mNN (n <= 73), contact i with one Phone
// call 5*i days before now and nothing stored: n first writes, contact i
// Engaged for i <= 5, At Risk for 6 <= i <= 11, Unengaged from 12.
func manyWorkspace(n int) *intercomtest.Workspace {
	ws := intercomtest.NewWorkspace("UTC")
	ws.AddCoachingAttributes()
	ws.AddAdmin(intercom.Admin{ID: "101", Name: "Alice Coach"})
	for i := 1; i <= n; i++ {
		id := manyID(i)
		ws.AddContact(contact(id, "Acme", nil))
		ws.AddConversation(conversation(fmt.Sprint(5000+i), "closed", "Phone", "101", manyCall(i), id))
	}
	return ws
}

func manyID(i int) string    { return fmt.Sprintf("m%02d", i) }
func manyCall(i int) int64   { return now.AddDate(0, 0, -5*i).Unix() }
func manyIDs(n int) []string { return idRange(1, n) }

func idRange(from, to int) []string {
	var ids []string
	for i := from; i <= to; i++ {
		ids = append(ids, manyID(i))
	}
	return ids
}

func manyStatus(i int) string {
	switch {
	case i <= 5:
		return "Engaged"
	case i <= 11:
		return "At Risk"
	}
	return "Unengaged"
}

// recordedPut is one PUT /contacts/{id} the fake received.
type recordedPut struct {
	ID     string
	Status int // 0 when the connection was dropped
	Attrs  map[string]json.RawMessage
	Time   time.Time
}

func recordedPuts(t *testing.T, srv *intercomtest.Server) []recordedPut {
	t.Helper()
	var out []recordedPut
	for _, r := range srv.Requests() {
		if r.Method != http.MethodPut || r.Endpoint != intercomtest.EndpointContact {
			continue
		}
		var b struct {
			CustomAttributes map[string]json.RawMessage `json:"custom_attributes"`
		}
		require.NoError(t, json.Unmarshal(r.Body, &b))
		out = append(out, recordedPut{ID: path.Base(r.Path), Status: r.Status, Attrs: b.CustomAttributes, Time: r.Time})
	}
	return out
}

// writtenIDs are the ids of the PUTs the fake answered 200, in id order.
func writtenIDs(t *testing.T, srv *intercomtest.Server) []string {
	t.Helper()
	var ids []string
	for _, p := range recordedPuts(t, srv) {
		if p.Status == http.StatusOK {
			ids = append(ids, p.ID)
		}
	}
	slices.SortFunc(ids, engagement.CompareIDs)
	return ids
}

// storedPair is a contact's two engagement attributes in the fake, as raw
// JSON ("" when absent).
func storedPair(t *testing.T, ws *intercomtest.Workspace, id string) [2]string {
	t.Helper()
	c, ok := ws.Contact(id)
	require.True(t, ok, id)
	return [2]string{string(c.CustomAttributes[intercomtest.AttrLastCoachingCall]), string(c.CustomAttributes[intercomtest.AttrEngagementStatus])}
}

func pairOf(lastCall int64, status string) [2]string {
	return [2]string{string(raw(lastCall)), string(raw(status))}
}

func without(all, some []string) []string {
	var out []string
	for _, id := range all {
		if !slices.Contains(some, id) {
			out = append(out, id)
		}
	}
	return out
}

func failureIDs(s engagement.Summary) []string {
	var ids []string
	for _, f := range s.Failures {
		ids = append(ids, f.ContactID)
	}
	return ids
}

// metricValue is the value of the series of family name with exactly
// these labels in exp's exposition (-1 when absent).
func metricValue(t *testing.T, exp *harness, name string, labels map[string]string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(exp))
	fams, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range m.GetLabel() {
				if v, ok := labels[l.GetName()]; !ok || v != l.GetValue() {
					continue series
				}
			}
			return m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return -1
}

func TestSync_ExactPlanForEachCaseThenApplyPutsExactlyThePlan(t *testing.T) {
	ws := syncWorkspace()
	srv := startFake(t, ws, intercomtest.Options{})
	clk := &clock{t: now}
	exp := newExporter(t, newEnv(srv), clk.Now, nil)
	k2Before, _ := ws.Contact("k2")

	dry, err := exp.Sync(context.Background(), true)
	require.NoError(t, err)
	assert.Equal(t, engagement.ModeDryRun, dry.Mode)
	assert.Equal(t, engagement.ResultSuccess, dry.Result)
	assert.Equal(t, 5, dry.Planned)
	assert.Equal(t, 1, dry.Unchanged, "k2; k7 has no written status")
	assert.Zero(t, dry.Written+dry.Failed+dry.Left)
	assert.Equal(t, syncWorkspacePlan, dry.Changes)
	assert.Zero(t, srv.Count(http.MethodPut, intercomtest.EndpointContact), "a dry run records no PUT")

	s, err := exp.Sync(context.Background(), false)
	require.NoError(t, err)
	assert.Equal(t, engagement.ResultSuccess, s.Result)
	assert.Equal(t, 5, s.Planned)
	assert.Equal(t, 5, s.Written)
	assert.Zero(t, s.Failed+s.Left)
	assert.Equal(t, syncWorkspacePlan, s.Changes)
	assert.Equal(t, map[string]int{"Engaged": 2, "At Risk": 2, "Unengaged": 1}, s.WrittenByStatus)

	puts := recordedPuts(t, srv)
	require.Len(t, puts, 5, "exactly one PUT per planned change")
	byID := map[string]recordedPut{}
	for _, p := range puts {
		assert.Equal(t, http.StatusOK, p.Status)
		byID[p.ID] = p
	}
	for _, c := range syncWorkspacePlan {
		p, ok := byID[c.ContactID]
		require.True(t, ok, c.ContactID)
		assert.Equal(t, map[string]json.RawMessage{
			intercomtest.AttrLastCoachingCall: raw(c.LastCall),
			intercomtest.AttrEngagementStatus: raw(c.Status),
		}, p.Attrs, "%s: both attributes, and only them, in one body", c.ContactID)
		assert.Equal(t, pairOf(c.LastCall, c.Status), storedPair(t, ws, c.ContactID))
	}
	k2After, _ := ws.Contact("k2")
	assert.Equal(t, k2Before.UpdatedAt, k2After.UpdatedAt, "k2 untouched")
	assert.Equal(t, [2]string{"", ""}, storedPair(t, ws, "k7"), "No Call is never written")

	// Right after, on the same snapshot: nothing.
	s, err = exp.Sync(context.Background(), false)
	require.NoError(t, err)
	assert.Zero(t, s.Planned)
	assert.Equal(t, 6, s.Unchanged)
	assert.Equal(t, 5, srv.Count(http.MethodPut, intercomtest.EndpointContact))

	// After a new read of the contacts as written: still nothing.
	searches := srv.Count(http.MethodPost, intercomtest.EndpointConversationsSearch)
	clk.Add(2 * daemon.FreshFor)
	s, err = exp.Sync(context.Background(), false)
	require.NoError(t, err)
	assert.Greater(t, srv.Count(http.MethodPost, intercomtest.EndpointConversationsSearch), searches, "the data was read again")
	assert.Zero(t, s.Planned)
	assert.Equal(t, 6, s.Unchanged)
	assert.Equal(t, 5, srv.Count(http.MethodPut, intercomtest.EndpointContact))
}

func TestSync_429StormMidRunThenEveryContactWrittenExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out one of the fake's 10-second rate-limit windows")
	}
	t.Parallel()
	ws := manyWorkspace(12)
	srv := startFake(t, ws, intercomtest.Options{})
	// The first four PUTs go through; from the fifth on, every PUT for
	// 300 ms is answered 429 (X-RateLimit-Remaining 0 and the window's
	// Reset), then the fake recovers.
	var mu sync.Mutex
	seen := 0
	var stormStart time.Time
	srv.AddFault(intercomtest.Fault{Method: http.MethodPut, Endpoint: intercomtest.EndpointContact, Kind: intercomtest.FaultStatus429,
		Match: func(*http.Request, []byte) bool {
			mu.Lock()
			defer mu.Unlock()
			if seen++; seen <= 4 {
				return false
			}
			if stormStart.IsZero() {
				stormStart = time.Now()
			}
			return time.Since(stormStart) < 300*time.Millisecond
		}})
	e := newEnv(srv)
	e["RETRY_MAX_ATTEMPTS"] = "5"
	exp := newExporter(t, e, fixedNow, nil)

	s, err := exp.Sync(context.Background(), false)
	require.NoError(t, err)
	assert.Equal(t, engagement.ResultSuccess, s.Result)
	assert.Equal(t, 12, s.Planned)
	assert.Equal(t, 12, s.Written)
	assert.Zero(t, s.Failed+s.Left)
	assert.Equal(t, map[string]int{"Engaged": 5, "At Risk": 6, "Unengaged": 1}, s.WrittenByStatus)

	puts := recordedPuts(t, srv)
	storm := 0
	okPerID := map[string]int{}
	for i, p := range puts {
		switch p.Status {
		case http.StatusTooManyRequests:
			storm++
		case http.StatusOK:
			okPerID[p.ID]++
		default:
			t.Errorf("PUT %d (%s) answered %d", i, p.ID, p.Status)
		}
	}
	require.Greater(t, storm, 0, "the storm happened")
	for i := range 4 {
		assert.Equal(t, http.StatusOK, puts[i].Status, "the storm came mid-run")
	}
	assert.Equal(t, http.StatusOK, puts[len(puts)-1].Status, "the fake recovered")
	for i := 1; i <= 12; i++ {
		id := manyID(i)
		assert.Equal(t, 1, okPerID[id], "%s written exactly once", id)
		assert.Equal(t, pairOf(manyCall(i), manyStatus(i)), storedPair(t, ws, id))
	}
	assert.Zero(t, metricValue(t, exp, "intercom_sync_failures_total", nil))
}

func TestSync_Persistent500sOnSomeContactsAreFailuresAndTheNextRunWritesExactlyThem(t *testing.T) {
	ws := manyWorkspace(8)
	srv := startFake(t, ws, intercomtest.Options{})
	bad := []string{"m03", "m06"}
	srv.AddFault(intercomtest.Fault{Method: http.MethodPut, Endpoint: intercomtest.EndpointContact, Kind: intercomtest.FaultStatus500,
		Match: func(r *http.Request, _ []byte) bool { return slices.Contains(bad, path.Base(r.URL.Path)) }})
	exp := newExporter(t, newEnv(srv), fixedNow, nil) // RETRY_MAX_ATTEMPTS=2

	s, err := exp.Sync(context.Background(), false)
	require.NoError(t, err)
	assert.Equal(t, engagement.ResultPartial, s.Result)
	assert.Equal(t, 8, s.Planned)
	assert.Equal(t, 6, s.Written)
	assert.Equal(t, 2, s.Failed)
	assert.Zero(t, s.Left)
	assert.Equal(t, bad, failureIDs(s))
	for _, f := range s.Failures {
		assert.Contains(t, f.Error, "500")
	}
	assert.Equal(t, without(manyIDs(8), bad), s.WrittenContacts)
	assert.Equal(t, map[string]int{"Engaged": 4, "At Risk": 2}, s.WrittenByStatus) // m01 m02 m04 m05; m07 m08
	assert.Equal(t, float64(2), metricValue(t, exp, "intercom_sync_failures_total", nil))
	assert.Equal(t, float64(1), metricValue(t, exp, "intercom_sync_runs_total", map[string]string{"mode": "apply", "result": "partial"}))
	assert.Equal(t, without(manyIDs(8), bad), writtenIDs(t, srv))
	for _, id := range bad {
		assert.Equal(t, [2]string{"", ""}, storedPair(t, ws, id), "%s not written at all", id)
	}
	perID := map[string]int{}
	for _, p := range recordedPuts(t, srv) {
		perID[p.ID]++
	}
	assert.Equal(t, 2, perID["m03"], "retried once, then given up")

	srv.ClearFaults()
	srv.ResetRequests()
	s, err = exp.Sync(context.Background(), false)
	require.NoError(t, err)
	assert.Equal(t, engagement.ResultSuccess, s.Result)
	assert.Equal(t, 2, s.Planned)
	assert.Equal(t, 6, s.Unchanged)
	assert.Equal(t, 2, s.Written)
	assert.Equal(t, bad, writtenIDs(t, srv))
	assert.Equal(t, 2, srv.Count(http.MethodPut, intercomtest.EndpointContact))
	assert.Equal(t, pairOf(manyCall(3), "Engaged"), storedPair(t, ws, "m03"))
	assert.Equal(t, pairOf(manyCall(6), "At Risk"), storedPair(t, ws, "m06"))
	assert.Equal(t, float64(2), metricValue(t, exp, "intercom_sync_failures_total", nil))
}

func TestSync_TimedOutWritesAreFailuresWithNothingWrittenAndTheNextRunWritesThem(t *testing.T) {
	ws := manyWorkspace(8)
	srv := startFake(t, ws, intercomtest.Options{})
	slow := []string{"m02", "m05"}
	srv.AddFault(intercomtest.Fault{Method: http.MethodPut, Endpoint: intercomtest.EndpointContact, Kind: intercomtest.FaultSlow, Delay: 5 * time.Second,
		Match: func(r *http.Request, _ []byte) bool { return slices.Contains(slow, path.Base(r.URL.Path)) }})
	e := newEnv(srv)
	e["REQUEST_TIMEOUT"] = "300ms"
	e["RETRY_MAX_ATTEMPTS"] = "2"
	exp := newExporter(t, e, fixedNow, nil)

	s, err := exp.Sync(context.Background(), false)
	require.NoError(t, err)
	assert.Equal(t, engagement.ResultPartial, s.Result)
	assert.Equal(t, 8, s.Planned)
	assert.Equal(t, 6, s.Written)
	assert.Equal(t, 2, s.Failed)
	assert.Zero(t, s.Left)
	assert.Equal(t, slow, failureIDs(s))
	for _, f := range s.Failures {
		assert.Contains(t, f.Error, "attempt deadline")
	}
	assert.Equal(t, float64(2), metricValue(t, exp, "intercom_sync_failures_total", nil))
	for _, p := range recordedPuts(t, srv) {
		if slices.Contains(slow, p.ID) {
			assert.Zero(t, p.Status, "the fake gave up with the client")
		}
	}
	for _, id := range slow {
		assert.Equal(t, [2]string{"", ""}, storedPair(t, ws, id), "%s: neither attribute written", id)
	}

	// The fake records an abandoned request when its handler notices; wait
	// for the 6 writes and the 2x2 abandoned attempts before forgetting them.
	require.Eventually(t, func() bool { return srv.Count(http.MethodPut, intercomtest.EndpointContact) == 10 },
		5*time.Second, 5*time.Millisecond)
	srv.ClearFaults()
	srv.ResetRequests()
	s, err = exp.Sync(context.Background(), false)
	require.NoError(t, err)
	assert.Equal(t, engagement.ResultSuccess, s.Result)
	assert.Equal(t, 2, s.Written)
	assert.Equal(t, slow, writtenIDs(t, srv))
	assert.Equal(t, 2, srv.Count(http.MethodPut, intercomtest.EndpointContact))
	for i := 1; i <= 8; i++ {
		assert.Equal(t, pairOf(manyCall(i), manyStatus(i)), storedPair(t, ws, manyID(i)))
	}
}

func TestSync_CancelledHalfWayNoContactHalfWrittenAndTheNextRunWritesTheRest(t *testing.T) {
	ws := manyWorkspace(12)
	srv := startFake(t, ws, intercomtest.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The fourth PUT cancels the run; it and every later PUT are held until
	// the client gives up, so the fake writes exactly the first three.
	var mu sync.Mutex
	n := 0
	srv.AddFault(intercomtest.Fault{Method: http.MethodPut, Endpoint: intercomtest.EndpointContact, Kind: intercomtest.FaultSlow, Delay: 10 * time.Second,
		Match: func(*http.Request, []byte) bool {
			mu.Lock()
			n++
			k := n
			mu.Unlock()
			if k == 4 {
				cancel()
			}
			return k >= 4
		}})
	clk := &clock{t: now}
	exp := newExporter(t, newEnv(srv), clk.Now, nil)

	s, err := exp.Sync(ctx, false)
	require.NoError(t, err)
	assert.Equal(t, 12, s.Planned)
	assert.Equal(t, s.Planned, s.Written+s.Failed+s.Left)
	assert.Positive(t, s.Left)
	assert.LessOrEqual(t, s.Written, 3)
	if s.Written > 0 {
		assert.Equal(t, engagement.ResultPartial, s.Result)
	} else {
		assert.Equal(t, engagement.ResultFailed, s.Result)
	}
	require.NotEmpty(t, s.Notes)
	assert.Contains(t, s.Notes[len(s.Notes)-1], "the run was stopped")

	// Every PUT the fake matched is recorded once its handler has given up
	// (or, on a loaded machine, a PUT that reached the fake after the run
	// was cancelled, written as Intercom would): only then is what was
	// written known.
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return srv.Count(http.MethodPut, intercomtest.EndpointContact) == n
	}, 15*time.Second, 5*time.Millisecond)
	written := writtenIDs(t, srv)
	require.GreaterOrEqual(t, len(written), 3, "the first three PUTs are answered")
	for i := 1; i <= 12; i++ {
		id := manyID(i)
		if slices.Contains(written, id) {
			assert.Equal(t, pairOf(manyCall(i), manyStatus(i)), storedPair(t, ws, id), "%s: both new", id)
		} else {
			assert.Equal(t, [2]string{"", ""}, storedPair(t, ws, id), "%s: both old", id)
		}
	}
	attempted := append(slices.Clone(s.WrittenContacts), failureIDs(s)...)
	for _, id := range s.WrittenContacts {
		assert.Contains(t, written, id, "counted written: really written")
	}
	for _, id := range written {
		assert.Contains(t, attempted, id, "really written: counted written or failed")
	}

	// The next run reads the contacts again and writes exactly the rest.
	srv.ClearFaults()
	srv.ResetRequests()
	clk.Add(2 * daemon.FreshFor)
	s, err = exp.Sync(context.Background(), false)
	require.NoError(t, err)
	assert.Equal(t, engagement.ResultSuccess, s.Result)
	assert.Equal(t, 12-len(written), s.Planned)
	assert.Equal(t, len(written), s.Unchanged)
	assert.Equal(t, 12-len(written), s.Written)
	assert.Equal(t, without(manyIDs(12), written), writtenIDs(t, srv))
	for i := 1; i <= 12; i++ {
		assert.Equal(t, pairOf(manyCall(i), manyStatus(i)), storedPair(t, ws, manyID(i)))
	}
}

func TestSync_MaxWritesCapsEachRunAndTheNextRunsWriteTheRestInOrder(t *testing.T) {
	ws := manyWorkspace(7)
	srv := startFake(t, ws, intercomtest.Options{})
	e := newEnv(srv)
	e["SYNC_MAX_WRITES"] = "3"
	var logs bytes.Buffer
	exp := newExporter(t, e, fixedNow, &logs)

	runs := []struct {
		planned, unchanged, left int
		ids                      []string
		notes                    []string
	}{
		{7, 0, 4, idRange(1, 3), []string{"7 planned changes exceed the limit of 3 writes per run (SYNC_MAX_WRITES); 4 are left for the next run"}},
		{4, 3, 1, idRange(4, 6), []string{"4 planned changes exceed the limit of 3 writes per run (SYNC_MAX_WRITES); 1 are left for the next run"}},
		{1, 6, 0, idRange(7, 7), nil},
		{0, 7, 0, nil, nil},
	}
	for i, r := range runs {
		srv.ResetRequests()
		logs.Reset()
		s, err := exp.Sync(context.Background(), false)
		require.NoError(t, err)
		assert.Equal(t, engagement.ResultSuccess, s.Result, "run %d", i+1)
		assert.Equal(t, r.planned, s.Planned, "run %d", i+1)
		assert.Equal(t, r.unchanged, s.Unchanged, "run %d", i+1)
		assert.Equal(t, len(r.ids), s.Written, "run %d", i+1)
		assert.Equal(t, r.left, s.Left, "run %d", i+1)
		assert.Equal(t, r.notes, s.Notes, "run %d", i+1)
		assert.Equal(t, r.ids, writtenIDs(t, srv), "run %d", i+1)
		assert.Equal(t, len(r.ids), srv.Count(http.MethodPut, intercomtest.EndpointContact), "run %d", i+1)
		assert.Contains(t, logs.String(), fmt.Sprintf("planned=%d written=%d unchanged=%d failed=0 left_for_next_run=%d duration=",
			r.planned, len(r.ids), r.unchanged, r.left), "run %d: the summary is logged", i+1)
		for _, n := range r.notes {
			assert.Contains(t, logs.String(), n)
		}
	}
}

func TestSync_HandEditWithANewerUpdatedAtIsSeenAndCorrected(t *testing.T) {
	ws := syncWorkspace()
	srv := startFake(t, ws, intercomtest.Options{})
	exp := newExporter(t, newEnv(srv), fixedNow, nil)
	s, err := exp.Sync(context.Background(), false)
	require.NoError(t, err)
	require.Equal(t, 5, s.Written)
	k4, _ := ws.Contact("k4")

	// A teammate sets k4 (Unengaged) to Engaged by hand, after the write.
	ws.SetContactAttribute("k4", intercomtest.AttrEngagementStatus, "Engaged", k4.UpdatedAt+60)
	require.NoError(t, exp.Refresh(context.Background()))
	srv.ResetRequests()
	s, err = exp.Sync(context.Background(), false)
	require.NoError(t, err)
	assert.Equal(t, engagement.ResultSuccess, s.Result)
	assert.Equal(t, 1, s.Planned)
	assert.Equal(t, 5, s.Unchanged)
	assert.Equal(t, []engagement.Change{{ContactID: "k4", StoredLastCall: i64(unix(2026, 1, 10, 8)), StoredStatus: "Engaged",
		LastCall: unix(2026, 1, 10, 8), Status: "Unengaged"}}, s.Changes)
	assert.Equal(t, []string{"k4"}, writtenIDs(t, srv))
	assert.Equal(t, 1, srv.Count(http.MethodPut, intercomtest.EndpointContact))
	assert.Equal(t, pairOf(unix(2026, 1, 10, 8), "Unengaged"), storedPair(t, ws, "k4"))
}

func TestSync_UsesAtMostHalfOfEachRateLimitWindowAndARefreshStillCompletes(t *testing.T) {
	if testing.Short() {
		t.Skip("spans two of the fake's 10-second rate-limit windows")
	}
	t.Parallel()
	// 300 calls a minute: 50 per 10-second window, of which the sync may
	// use 25. 36 writes need two windows; without the share one would do.
	const n, budget, share = 36, 50, 25
	ws := manyWorkspace(n)
	srv := startFake(t, ws, intercomtest.Options{RateLimitPerMinute: 6 * budget})
	exp := newExporter(t, newEnv(srv), fixedNow, nil)
	require.NoError(t, exp.Refresh(context.Background()))

	type result struct {
		s   engagement.Summary
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, err := exp.Sync(context.Background(), false)
		done <- result{s, err}
	}()
	require.Eventually(t, func() bool { return srv.Count(http.MethodPut, intercomtest.EndpointContact) >= 5 },
		15*time.Second, 10*time.Millisecond)
	t0 := time.Now()
	require.NoError(t, exp.Refresh(context.Background()), "a refresh during the sync")
	took := time.Since(t0)
	assert.Less(t, took, 6*time.Second, "the refresh is not starved")
	before := srv.Count(http.MethodPut, intercomtest.EndpointContact)
	r := <-done
	require.NoError(t, r.err)
	assert.Less(t, before, n, "the refresh ran while writes remained")
	assert.Equal(t, engagement.ResultSuccess, r.s.Result)
	assert.Equal(t, n, r.s.Written)

	perWindow := map[int64]int{}
	for _, q := range srv.Requests() {
		assert.NotEqual(t, http.StatusTooManyRequests, q.Status, "%s %s", q.Method, q.Path)
		if q.Method == http.MethodPut {
			perWindow[q.Time.Unix()/10]++
		}
	}
	t.Logf("PUTs per 10-second window: %v; refresh during the sync took %v", perWindow, took)
	// Slack: the client ends a window only once the server's has certainly
	// ended, so a write started at the end of its window may be counted in
	// the next one by the server; a few (the writes in flight) at most.
	const slack = 4
	for w, c := range perWindow {
		assert.LessOrEqual(t, c, share+slack, "window %d", w*10)
	}
	assert.GreaterOrEqual(t, len(perWindow), 2)
}

func TestSync_MetricsAfterDryPartialAndSuccessfulRuns(t *testing.T) {
	ws := syncWorkspace()
	srv := startFake(t, ws, intercomtest.Options{})
	srv.AddFault(intercomtest.Fault{Method: http.MethodPut, Endpoint: intercomtest.EndpointContact, Kind: intercomtest.FaultStatus500,
		Match: func(r *http.Request, _ []byte) bool { return path.Base(r.URL.Path) == "k3" }})
	clk := &clock{t: now}
	exp := newExporter(t, newEnv(srv), clk.Now, nil)

	_, err := exp.Sync(context.Background(), true) // dry-run success
	require.NoError(t, err)
	s, err := exp.Sync(context.Background(), false) // k1 k5 Engaged, k4 Unengaged, k6 At Risk; k3 fails
	require.NoError(t, err)
	require.Equal(t, engagement.ResultPartial, s.Result)
	srv.ClearFaults()
	clk.Add(30 * time.Second)
	s, err = exp.Sync(context.Background(), false) // k3 At Risk
	require.NoError(t, err)
	require.Equal(t, engagement.ResultSuccess, s.Result)

	assert.NoError(t, testutil.CollectAndCompare(exp, strings.NewReader(`
# HELP intercom_sync_runs_total Engagement sync runs by mode and result (success, partial, failed, blocked).
# TYPE intercom_sync_runs_total counter
intercom_sync_runs_total{mode="apply",result="blocked"} 0
intercom_sync_runs_total{mode="apply",result="failed"} 0
intercom_sync_runs_total{mode="apply",result="partial"} 1
intercom_sync_runs_total{mode="apply",result="success"} 1
intercom_sync_runs_total{mode="dry-run",result="blocked"} 0
intercom_sync_runs_total{mode="dry-run",result="failed"} 0
intercom_sync_runs_total{mode="dry-run",result="partial"} 0
intercom_sync_runs_total{mode="dry-run",result="success"} 1
# HELP intercom_sync_contacts_updated_total Contacts written by the engagement sync, by their new status.
# TYPE intercom_sync_contacts_updated_total counter
intercom_sync_contacts_updated_total{status="At Risk"} 2
intercom_sync_contacts_updated_total{status="Engaged"} 2
intercom_sync_contacts_updated_total{status="Unengaged"} 1
# HELP intercom_sync_failures_total Contact updates of the engagement sync that failed for good in a run.
# TYPE intercom_sync_failures_total counter
intercom_sync_failures_total 1
# HELP intercom_sync_last_success_timestamp_seconds End of the last successful engagement sync run (UNIX seconds).
# TYPE intercom_sync_last_success_timestamp_seconds gauge
intercom_sync_last_success_timestamp_seconds 1.77357603e+09
`), "intercom_sync_runs_total", "intercom_sync_contacts_updated_total", "intercom_sync_failures_total",
		"intercom_sync_last_success_timestamp_seconds"))
}

func TestSyncHTTP_PostDuringARunIs409NamingTheRunningRunsStart(t *testing.T) {
	ws := syncWorkspace()
	srv := startFake(t, ws, intercomtest.Options{})
	putArrived := make(chan struct{})
	var once sync.Once
	srv.AddFault(intercomtest.Fault{Method: http.MethodPut, Endpoint: intercomtest.EndpointContact, Kind: intercomtest.FaultSlow, Delay: 400 * time.Millisecond,
		Match: func(*http.Request, []byte) bool { once.Do(func() { close(putArrived) }); return true }})
	clk := &clock{t: time.Date(2026, 3, 15, 7, 0, 0, 0, time.UTC)}
	exp := newExporter(t, newEnv(srv), clk.Now, nil)
	api, err := web.New(web.Options{Source: exp, Syncer: exp, Metrics: http.NotFoundHandler(), AllowUnauthenticated: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	h := api.Handler()
	post := func(target string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, target, nil))
		return rec
	}

	first := make(chan *httptest.ResponseRecorder, 1)
	go func() { first <- post("/sync") }()
	select {
	case <-putArrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the first run made no write")
	}
	clk.Add(time.Minute) // the running run started at 07:00:00, not now
	for _, target := range []string{"/sync", "/sync?dry_run=true"} {
		rec := post(target)
		assert.Equal(t, http.StatusConflict, rec.Code, target)
		var body struct{ Error, Started string }
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body), rec.Body.String())
		assert.Equal(t, "2026-03-15T07:00:00Z", body.Started, target)
		assert.Contains(t, body.Error, "2026-03-15T07:00:00Z", target)
	}

	rec := <-first
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var sum engagement.Summary
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &sum))
	assert.Equal(t, engagement.ResultSuccess, sum.Result)
	assert.Equal(t, 5, sum.Written)
	assert.Equal(t, 5, srv.Count(http.MethodPut, intercomtest.EndpointContact))
}

// The original app's callers ask for a dry run in the body of POST
// /API/intercom. In apply mode, with contacts to write, such a run plans
// them and writes none; the same request without the body writes them.
func TestSyncHTTP_APIIntercomDryRunBodyWritesNothingInApplyMode(t *testing.T) {
	ws := syncWorkspace()
	srv := startFake(t, ws, intercomtest.Options{})
	clk := &clock{t: time.Date(2026, 3, 15, 7, 0, 0, 0, time.UTC)}
	e := newEnv(srv)
	require.Equal(t, "apply", e["SYNC_MODE"])
	exp := newExporter(t, e, clk.Now, nil)
	api, err := web.New(web.Options{Source: exp, Syncer: exp, Metrics: http.NotFoundHandler(), AllowUnauthenticated: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), LookbackDays: 365})
	require.NoError(t, err)
	post := func(target, body string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		api.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, target, strings.NewReader(body)))
		return rec
	}
	for _, body := range []string{`{"dryRun": true}`, `{"lookbackDays": 365, "dryRun": true}`} {
		rec := post("/API/intercom", body)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		var sum engagement.Summary
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &sum))
		assert.Equal(t, 5, sum.Planned, "the dry run plans the 5 writes of syncWorkspace")
		assert.Equal(t, 0, sum.Written)
	}
	assert.Equal(t, 0, srv.Count(http.MethodPut, intercomtest.EndpointContact), "a dry run made a PUT")
	for _, r := range srv.Requests() {
		assert.NotEqual(t, http.MethodPut, r.Method, "request log: %v", r)
	}

	// A refused body runs nothing either.
	assert.Equal(t, http.StatusBadRequest, post("/API/intercom", `{"dryRun": null}`).Code)
	assert.Equal(t, 0, srv.Count(http.MethodPut, intercomtest.EndpointContact))

	// Control: the same endpoint without a dry run writes in apply mode.
	rec := post("/API/intercom", "")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, 5, srv.Count(http.MethodPut, intercomtest.EndpointContact))
}
