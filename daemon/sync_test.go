package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coaching/intercom_exporter/engagement"
	"github.com/coaching/intercom_exporter/intercom"
	"github.com/coaching/intercom_exporter/intercom/intercomtest"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func attr(t *testing.T, ws *intercomtest.Workspace, id, name string) string {
	t.Helper()
	c, ok := ws.Contact(id)
	require.True(t, ok)
	return string(c.CustomAttributes[name])
}

// In the small workspace (see TestGolden_SmallWorkspace) the contacts with
// a written status are c1 (Engaged, last call 1001 on 2026-03-10 10:00),
// c2 (At Risk, 1002 on 2026-02-01 14:00) and c3 (At Risk, stored
// 2026-01-20 15:00 and stored status At Risk: unchanged).
func TestSync_ApplyWritesChangedContactsOnceInOneRequestEach(t *testing.T) {
	ws := smallWorkspace()
	srv := startFake(t, ws, intercomtest.Options{})
	var logs bytes.Buffer
	exp := newExporter(t, newEnv(srv), fixedNow, &logs)

	s, err := exp.Sync(context.Background(), false)
	require.NoError(t, err)
	assert.Equal(t, engagement.ModeApply, s.Mode)
	assert.Equal(t, engagement.ResultSuccess, s.Result)
	assert.Equal(t, 2, s.Planned)
	assert.Equal(t, 2, s.Written)
	assert.Equal(t, 1, s.Unchanged)
	assert.Equal(t, map[string]int{"Engaged": 1, "At Risk": 1}, s.WrittenByStatus)
	assert.Equal(t, 2, srv.Count("PUT", intercomtest.EndpointContact))
	assert.Equal(t, 1, srv.Count("POST", intercomtest.EndpointConversationsSearch), "the sync refreshed first (no snapshot yet)")

	assert.JSONEq(t, `1773136800`, attr(t, ws, "c1", intercomtest.AttrLastCoachingCall))
	assert.JSONEq(t, `"Engaged"`, attr(t, ws, "c1", intercomtest.AttrEngagementStatus))
	assert.JSONEq(t, `1769954400`, attr(t, ws, "c2", intercomtest.AttrLastCoachingCall))
	assert.JSONEq(t, `"At Risk"`, attr(t, ws, "c2", intercomtest.AttrEngagementStatus))
	for _, r := range srv.Requests() {
		if r.Method == "PUT" {
			var body struct {
				CustomAttributes map[string]json.RawMessage `json:"custom_attributes"`
			}
			require.NoError(t, json.Unmarshal(r.Body, &body))
			assert.Len(t, body.CustomAttributes, 2, "both attributes in one request")
		}
	}

	// A second run right after writes nothing.
	s, err = exp.Sync(context.Background(), false)
	require.NoError(t, err)
	assert.Equal(t, engagement.ResultSuccess, s.Result)
	assert.Zero(t, s.Planned)
	assert.Equal(t, 3, s.Unchanged)
	assert.Equal(t, 2, srv.Count("PUT", intercomtest.EndpointContact))

	assert.NoError(t, testutil.CollectAndCompare(exp, strings.NewReader(`
# HELP intercom_sync_runs_total Engagement sync runs by mode and result (success, partial, failed, blocked).
# TYPE intercom_sync_runs_total counter
intercom_sync_runs_total{mode="apply",result="blocked"} 0
intercom_sync_runs_total{mode="apply",result="failed"} 0
intercom_sync_runs_total{mode="apply",result="partial"} 0
intercom_sync_runs_total{mode="apply",result="success"} 2
intercom_sync_runs_total{mode="dry-run",result="blocked"} 0
intercom_sync_runs_total{mode="dry-run",result="failed"} 0
intercom_sync_runs_total{mode="dry-run",result="partial"} 0
intercom_sync_runs_total{mode="dry-run",result="success"} 0
# HELP intercom_sync_contacts_updated_total Contacts written by the engagement sync, by their new status.
# TYPE intercom_sync_contacts_updated_total counter
intercom_sync_contacts_updated_total{status="At Risk"} 1
intercom_sync_contacts_updated_total{status="Engaged"} 1
intercom_sync_contacts_updated_total{status="Unengaged"} 0
# HELP intercom_sync_failures_total Contact updates of the engagement sync that failed for good in a run.
# TYPE intercom_sync_failures_total counter
intercom_sync_failures_total 0
# HELP intercom_sync_last_success_timestamp_seconds End of the last successful engagement sync run (UNIX seconds).
# TYPE intercom_sync_last_success_timestamp_seconds gauge
intercom_sync_last_success_timestamp_seconds 1.773576e+09
`), "intercom_sync_runs_total", "intercom_sync_contacts_updated_total", "intercom_sync_failures_total",
		"intercom_sync_last_success_timestamp_seconds"))
	assert.Contains(t, logs.String(), "engagement sync finished")
	for _, c := range []string{"c1", "c2"} {
		ct, _ := ws.Contact(c)
		for _, l := range strings.Split(logs.String(), "\n") {
			if !strings.Contains(l, "level=DEBUG") {
				assert.NotContains(t, l, ct.Email)
				assert.NotContains(t, l, ct.Name)
			}
		}
	}
}

func TestSync_DryRunWritesNothing(t *testing.T) {
	srv := startFake(t, smallWorkspace(), intercomtest.Options{})
	exp := newExporter(t, newEnv(srv), fixedNow, nil)
	s, err := exp.Sync(context.Background(), true)
	require.NoError(t, err)
	assert.Equal(t, engagement.ModeDryRun, s.Mode)
	assert.Equal(t, 2, s.Planned)
	assert.Zero(t, s.Written)
	require.Len(t, s.Changes, 2)
	assert.Equal(t, "c1", s.Changes[0].ContactID)
	assert.Zero(t, srv.Count("PUT", intercomtest.EndpointContact))
}

func TestSync_UsesARecentSnapshotElseRefreshesFirst(t *testing.T) {
	srv := startFake(t, smallWorkspace(), intercomtest.Options{})
	clk := &clock{t: now}
	exp := newExporter(t, newEnv(srv), clk.Now, nil)
	require.NoError(t, exp.Refresh(context.Background()))
	// Every refresh starts with GET /me (the workspace timezone).
	require.Equal(t, 1, srv.Count("GET", intercomtest.EndpointMe))

	clk.Add(30 * time.Second)
	_, err := exp.Sync(context.Background(), true)
	require.NoError(t, err)
	assert.Equal(t, 1, srv.Count("GET", intercomtest.EndpointMe), "a refresh 30s old is fresh")

	clk.Add(2 * time.Minute)
	_, err = exp.Sync(context.Background(), true)
	require.NoError(t, err)
	assert.Equal(t, 2, srv.Count("GET", intercomtest.EndpointMe), "a refresh 2m30s old is not")
}

func TestSync_MissingAttributeBlocksAndWritesNothing(t *testing.T) {
	ws := smallWorkspace()
	ws.AddDataAttribute(intercom.DataAttribute{Name: intercomtest.AttrEngagementStatus, DataType: "string", APIWritable: true, Archived: true, Custom: true})
	srv := startFake(t, ws, intercomtest.Options{})
	var logs bytes.Buffer
	exp := newExporter(t, newEnv(srv), fixedNow, &logs)

	s, err := exp.Sync(context.Background(), false)
	require.NoError(t, err)
	assert.Equal(t, engagement.ResultBlocked, s.Result)
	assert.Contains(t, s.Blocked, `contact attribute "Engagement Status" does not exist in Intercom`)
	assert.Zero(t, s.Written)
	assert.Zero(t, srv.Count("PUT", intercomtest.EndpointContact))
	assert.Contains(t, logs.String(), "engagement sync blocked")

	// Reports keep working.
	assert.True(t, exp.Status().Up)
	assert.Positive(t, testutil.CollectAndCount(exp, "intercom_engagement_contacts"))
	assert.NoError(t, testutil.CollectAndCompare(exp, strings.NewReader(`
# HELP intercom_sync_runs_total Engagement sync runs by mode and result (success, partial, failed, blocked).
# TYPE intercom_sync_runs_total counter
intercom_sync_runs_total{mode="apply",result="blocked"} 1
intercom_sync_runs_total{mode="apply",result="failed"} 0
intercom_sync_runs_total{mode="apply",result="partial"} 0
intercom_sync_runs_total{mode="apply",result="success"} 0
intercom_sync_runs_total{mode="dry-run",result="blocked"} 0
intercom_sync_runs_total{mode="dry-run",result="failed"} 0
intercom_sync_runs_total{mode="dry-run",result="partial"} 0
intercom_sync_runs_total{mode="dry-run",result="success"} 0
`), "intercom_sync_runs_total"))
}

func TestSync_FailedWritesAreCountedAndRetriedNextRun(t *testing.T) {
	ws := smallWorkspace()
	srv := startFake(t, ws, intercomtest.Options{})
	srv.AddFault(intercomtest.Fault{Method: "PUT", Endpoint: intercomtest.EndpointContact, Kind: intercomtest.FaultStatus500,
		Match: func(r *http.Request, _ []byte) bool { return strings.HasSuffix(r.URL.Path, "/c2") }})
	exp := newExporter(t, newEnv(srv), fixedNow, nil)
	s, err := exp.Sync(context.Background(), false)
	require.NoError(t, err)
	assert.Equal(t, engagement.ResultPartial, s.Result)
	assert.Equal(t, 1, s.Written)
	assert.Equal(t, 1, s.Failed)
	assert.NoError(t, testutil.CollectAndCompare(exp, strings.NewReader(`
# HELP intercom_sync_failures_total Contact updates of the engagement sync that failed for good in a run.
# TYPE intercom_sync_failures_total counter
intercom_sync_failures_total 1
`), "intercom_sync_failures_total"))

	srv.ClearFaults()
	s, err = exp.Sync(context.Background(), false)
	require.NoError(t, err)
	assert.Equal(t, engagement.ResultSuccess, s.Result)
	assert.Equal(t, 1, s.Written, "c2 is written by the next run")
}

func TestSync_OneRunAtATime(t *testing.T) {
	srv := startFake(t, smallWorkspace(), intercomtest.Options{})
	srv.AddFault(intercomtest.Fault{Method: "PUT", Endpoint: intercomtest.EndpointContact, Kind: intercomtest.FaultSlow, Delay: 500 * time.Millisecond})
	exp := newExporter(t, newEnv(srv), fixedNow, nil)
	done := make(chan error, 1)
	go func() {
		_, err := exp.Sync(context.Background(), false)
		done <- err
	}()
	require.Eventually(t, func() bool {
		return srv.Count("PUT", intercomtest.EndpointContact) > 0 ||
			len(srv.Requests()) > 5
	}, 5*time.Second, 5*time.Millisecond)
	_, err := exp.Sync(context.Background(), true)
	var busy *engagement.BusyError
	require.ErrorAs(t, err, &busy)
	assert.True(t, errors.Is(err, engagement.ErrBusy))
	assert.False(t, busy.Started.IsZero())
	require.NoError(t, <-done)
}

func TestSync_OffMode(t *testing.T) {
	srv := startFake(t, smallWorkspace(), intercomtest.Options{})
	e := newEnv(srv)
	e["SYNC_MODE"] = "off"
	exp := newExporter(t, e, fixedNow, nil)
	_, err := exp.Sync(context.Background(), false)
	assert.ErrorIs(t, err, engagement.ErrOff)
	assert.Zero(t, len(srv.Requests()))
	assert.Zero(t, testutil.CollectAndCount(exp, "intercom_sync_runs_total"))
}
