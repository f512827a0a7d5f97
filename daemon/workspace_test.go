package daemon_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coaching/intercom_exporter/engagement"
	"github.com/coaching/intercom_exporter/intercom/intercomtest"
	"github.com/coaching/intercom_exporter/state"
)

// The saved state belongs to the workspace GET /me names (its app id), not
// to the URL it is read through; these tests put two workspaces behind one
// URL, and one workspace behind two URLs
// (docs/shutdown-and-workspace.md).

const (
	tokenA      = "tok_workspace_a_91c3"
	tokenB      = "tok_workspace_b_44e0"
	workspaceB  = "otherprogramme"
	frozenAtA   = "2026-03-06T00:00:00Z"
	otherReason = state.FileName + "." + string(state.ReasonOtherWorkspace) + "-"
)

// otherWorkspace is a second workspace, app id workspaceB: one contact,
// b1, registered 2026-02-03 and engaged by call 5001 on 2026-02-05, so
// that its February cohort is b1 alone (the small workspace's is c1, c2).
func otherWorkspace() *intercomtest.Workspace {
	ws := intercomtest.NewWorkspace("UTC")
	ws.SetAppID(workspaceB)
	ws.AddCoachingAttributes()
	ws.AddContact(contact("b1", "Umbrella", map[string]any{intercomtest.AttrRegistrationDate: unix(2026, 2, 3, 9)}))
	ws.AddConversation(conversation("5001", "closed", "Phone", "0", unix(2026, 2, 5, 10), "b1"))
	return ws
}

// fakeWithToken is a fake Intercom that accepts only token ("" any).
func fakeWithToken(t *testing.T, ws *intercomtest.Workspace, token string) *intercomtest.Server {
	t.Helper()
	srv := intercomtest.NewServer(ws, intercomtest.Options{Token: token})
	t.Cleanup(srv.Close)
	return srv
}

// proxy forwards every request to the fake target() names: a proxy or
// gateway in front of Intercom, with a URL of its own.
func proxy(t *testing.T, target func(r *http.Request) *intercomtest.Server) *httptest.Server {
	t.Helper()
	p := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		srv := target(r)
		if srv == nil {
			http.Error(w, `{"type":"error.list","errors":[{"code":"unauthorized","message":"Access Token Invalid"}]}`, http.StatusUnauthorized)
			return
		}
		u, err := url.Parse(srv.URL())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		httputil.NewSingleHostReverseProxy(u).ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	return p
}

// byToken routes each request by its bearer token: two workspaces behind
// one URL.
func byToken(servers map[string]*intercomtest.Server) func(r *http.Request) *intercomtest.Server {
	return func(r *http.Request) *intercomtest.Server {
		return servers[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	}
}

// saveWorkspaceA runs an exporter with e until February is frozen
// (2026-03-06) and a sync has written, and saves; it returns the clock
// and the sync's record of writes.
func saveWorkspaceA(t *testing.T, e env) (*clock, map[string]engagement.Written) {
	t.Helper()
	clk := &clock{t: time.Date(2026, 3, 6, 0, 0, 0, 0, time.UTC)}
	exp := newExporter(t, e, clk.Now, nil)
	require.NoError(t, exp.Refresh(context.Background()))
	recs, _, ok := exp.FrozenBilling(february)
	require.True(t, ok)
	require.Equal(t, februaryCohort, recs)
	s, err := exp.Sync(context.Background(), false)
	require.NoError(t, err)
	require.Positive(t, s.Written)
	exp.FlushState()
	f, err := state.Load(e["STATE_DIR"])
	require.NoError(t, err)
	require.Equal(t, "coachingdemo", f.WorkspaceID, "bound to the app id")
	require.Equal(t, state.TokenFingerprint(e["INTERCOM_ACCESS_TOKEN"]), f.TokenFingerprint)
	return clk, exp.Runner().Written()
}

func setAsideGauge(t *testing.T, exp *harness, want int) {
	t.Helper()
	assert.NoError(t, testutil.CollectAndCompare(exp.Health(), strings.NewReader(`
# HELP intercom_state_set_aside_files State files set aside in STATE_DIR (damaged, a newer version, another workspace); above 0, no billing month is frozen.
# TYPE intercom_state_set_aside_files gauge
intercom_state_set_aside_files `+string(rune('0'+want))+`
`), "intercom_state_set_aside_files"))
}

// The token is switched to another workspace behind the same URL: nothing
// of the saved state is served before GET /me answers, and once it names
// another app the file is moved aside and workspace A's frozen cohort is
// never served as workspace B's invoice.
func TestWorkspace_AnotherTokenOfAnotherWorkspaceBehindTheSameURL_NothingOfTheOldStateIsServed(t *testing.T) {
	a := fakeWithToken(t, smallWorkspace(), tokenA)
	b := fakeWithToken(t, otherWorkspace(), tokenB)
	gw := proxy(t, byToken(map[string]*intercomtest.Server{tokenA: a, tokenB: b}))
	e := newEnv(a)
	e["INTERCOM_API_BASE"], e["INTERCOM_ACCESS_TOKEN"] = gw.URL, tokenA
	dir := t.TempDir()
	e["STATE_DIR"] = dir
	clk, _ := saveWorkspaceA(t, e)

	e["INTERCOM_ACCESS_TOKEN"] = tokenB
	var logs syncBuffer
	exp := newExporter(t, e, clk.Now, &logs)
	exp.Restore()
	assert.False(t, exp.Status().Ready, "no report restored before GET /me confirms")
	_, _, ok := exp.FrozenBilling(february)
	assert.False(t, ok, "no frozen month before GET /me confirms")
	assert.Empty(t, exp.Runner().Written(), "no sync record before GET /me confirms")

	clk.Add(time.Hour)
	require.NoError(t, exp.Refresh(context.Background()))
	aside, err := state.SetAsideFiles(dir)
	require.NoError(t, err)
	require.Len(t, aside, 1)
	assert.Contains(t, aside[0], otherReason)
	assert.Contains(t, logs.String(), `level=ERROR msg="saved state belongs to another Intercom workspace and was moved aside`)
	assert.Contains(t, logs.String(), `saved_workspace_id=coachingdemo workspace_id=`+workspaceB)
	_, _, ok = exp.FrozenBilling(february)
	assert.False(t, ok, "workspace A's frozen February served for workspace B")
	recs := liveRecords(t, exp, february)
	require.Len(t, recs, 1)
	assert.Equal(t, "b1", recs[0].ContactID, "B's own live cohort")
	assert.Empty(t, exp.Runner().Written(), "A's sync record used for B")
	setAsideGauge(t, exp, 1)
	// February is due, but nothing is frozen while A's file is aside.
	_, _, ok = exp.FrozenBilling(february)
	assert.False(t, ok)
	exp.FlushState()

	// The next start is B's own state, bound to B.
	f, err := state.Load(dir)
	require.NoError(t, err)
	assert.Equal(t, workspaceB, f.WorkspaceID)
	assert.Empty(t, f.Frozen)
	assert.Empty(t, f.Written)
}

// The token is rotated, the workspace is the same: nothing is served from
// the saved state until GET /me confirms the app, then its frozen months
// and the sync's record are used again.
func TestWorkspace_RotatedTokenOfTheSameWorkspace_StateUsedOnceMeConfirms(t *testing.T) {
	a := fakeWithToken(t, smallWorkspace(), "") // any token: a rotation
	e := newEnv(a)
	e["INTERCOM_ACCESS_TOKEN"] = tokenA
	dir := t.TempDir()
	e["STATE_DIR"] = dir
	clk, written := saveWorkspaceA(t, e)

	e["INTERCOM_ACCESS_TOKEN"] = tokenB
	var logs syncBuffer
	exp := newExporter(t, e, clk.Now, &logs)
	exp.Restore()
	assert.False(t, exp.Status().Ready)
	_, _, ok := exp.FrozenBilling(february)
	assert.False(t, ok)
	assert.Empty(t, exp.Runner().Written())

	clk.Add(time.Hour)
	require.NoError(t, exp.Refresh(context.Background()))
	recs, at, ok := exp.FrozenBilling(february)
	require.True(t, ok, logs.String())
	assert.Equal(t, februaryCohort, recs)
	assert.Equal(t, frozenAtA, at.UTC().Format(time.RFC3339))
	assert.Equal(t, written, exp.Runner().Written())
	aside, err := state.SetAsideFiles(dir)
	require.NoError(t, err)
	assert.Empty(t, aside)
	assert.NotContains(t, logs.String(), "level=ERROR")
	setAsideGauge(t, exp, 0)
	exp.FlushState()
	f, err := state.Load(dir)
	require.NoError(t, err)
	assert.Equal(t, state.TokenFingerprint(tokenB), f.TokenFingerprint, "bound to the new token")
	assert.Len(t, f.Frozen, 1)
}

// Same token, but the workspace behind the URL changed: the restored
// reports are served at once, and withdrawn once GET /me names another
// app; the file is moved aside and only the new workspace's data is
// published.
func TestWorkspace_SameTokenAnotherWorkspaceBehindTheURL_RestoredStateWithdrawn(t *testing.T) {
	a := fakeWithToken(t, smallWorkspace(), "")
	b := fakeWithToken(t, otherWorkspace(), "")
	var target atomic.Pointer[intercomtest.Server]
	target.Store(a)
	gw := proxy(t, func(*http.Request) *intercomtest.Server { return target.Load() })
	e := newEnv(a)
	e["INTERCOM_API_BASE"], e["INTERCOM_ACCESS_TOKEN"] = gw.URL, tokenA
	dir := t.TempDir()
	e["STATE_DIR"] = dir
	clk, _ := saveWorkspaceA(t, e)

	target.Store(b)
	var logs syncBuffer
	exp := newExporter(t, e, clk.Now, &logs)
	exp.Restore()
	require.True(t, exp.Status().Ready, "same token: the last reports are served at once")

	clk.Add(time.Hour)
	require.NoError(t, exp.Refresh(context.Background()))
	aside, err := state.SetAsideFiles(dir)
	require.NoError(t, err)
	require.Len(t, aside, 1)
	assert.Contains(t, aside[0], otherReason)
	assert.Contains(t, logs.String(), `level=ERROR msg="saved state belongs to another Intercom workspace`)
	_, _, ok := exp.FrozenBilling(february)
	assert.False(t, ok)
	assert.Empty(t, exp.Runner().Written())
	recs := liveRecords(t, exp, february)
	require.Len(t, recs, 1)
	assert.Equal(t, "b1", recs[0].ContactID)
	for _, id := range []string{"c1", "c2", "c3", "c4", "c5", "c6"} {
		_, found := exp.Model().Member(id)
		assert.False(t, found, "contact %s of workspace A published", id)
	}
}

// A proxy in front of Intercom changes the API base, not the workspace:
// the state is kept, its frozen months served, nothing set aside.
func TestWorkspace_SameWorkspaceBehindAnotherAPIBase_KeepsTheState(t *testing.T) {
	a := fakeWithToken(t, smallWorkspace(), tokenA)
	e := newEnv(a)
	e["INTERCOM_ACCESS_TOKEN"] = tokenA
	dir := t.TempDir()
	e["STATE_DIR"] = dir
	clk, written := saveWorkspaceA(t, e)

	gw := proxy(t, func(*http.Request) *intercomtest.Server { return a })
	e["INTERCOM_API_BASE"] = gw.URL
	var logs syncBuffer
	exp := newExporter(t, e, clk.Now, &logs)
	exp.Restore()
	assert.True(t, exp.Status().Ready, logs.String())
	recs, _, ok := exp.FrozenBilling(february)
	require.True(t, ok)
	assert.Equal(t, februaryCohort, recs)
	assert.Equal(t, written, exp.Runner().Written())

	clk.Add(time.Hour)
	require.NoError(t, exp.Refresh(context.Background()))
	_, _, ok = exp.FrozenBilling(february)
	assert.True(t, ok)
	aside, err := state.SetAsideFiles(dir)
	require.NoError(t, err)
	assert.Empty(t, aside)
	assert.NotContains(t, logs.String(), "level=ERROR")
	setAsideGauge(t, exp, 0)
}

// unbind makes the saved file one that names no workspace, as a file
// migrated from version 1 does.
func unbind(t *testing.T, dir string) {
	t.Helper()
	f, err := state.Load(dir)
	require.NoError(t, err)
	f.WorkspaceID, f.TokenFingerprint = "", ""
	require.NoError(t, state.Save(dir, f))
}

// A file that names no workspace yet (migrated from version 1) is matched
// by the API base, as it was written: used on the same base, bound to the
// app id and token at the first save; set aside on another base.
func TestWorkspace_UnboundFile_MatchedByAPIBaseThenBoundAtTheFirstSave(t *testing.T) {
	t.Run("same API base", func(t *testing.T) {
		a := fakeWithToken(t, smallWorkspace(), "")
		e := newEnv(a)
		e["INTERCOM_ACCESS_TOKEN"] = tokenA
		dir := t.TempDir()
		e["STATE_DIR"] = dir
		clk, _ := saveWorkspaceA(t, e)
		unbind(t, dir)

		exp := newExporter(t, e, clk.Now, nil)
		exp.Restore()
		assert.True(t, exp.Status().Ready)
		_, _, ok := exp.FrozenBilling(february)
		assert.True(t, ok)
		clk.Add(time.Hour)
		require.NoError(t, exp.Refresh(context.Background()))
		exp.FlushState()
		f, err := state.Load(dir)
		require.NoError(t, err)
		assert.Equal(t, "coachingdemo", f.WorkspaceID, "bound at the first save")
		assert.Equal(t, state.TokenFingerprint(tokenA), f.TokenFingerprint)
		assert.Len(t, f.Frozen, 1)
	})
	t.Run("another API base", func(t *testing.T) {
		a := fakeWithToken(t, smallWorkspace(), "")
		e := newEnv(a)
		dir := t.TempDir()
		e["STATE_DIR"] = dir
		clk, _ := saveWorkspaceA(t, e)
		unbind(t, dir)

		e["INTERCOM_API_BASE"] = proxy(t, func(*http.Request) *intercomtest.Server { return a }).URL
		var logs syncBuffer
		exp := newExporter(t, e, clk.Now, &logs)
		exp.Restore()
		assert.False(t, exp.Status().Ready)
		aside, err := state.SetAsideFiles(dir)
		require.NoError(t, err)
		require.Len(t, aside, 1)
		assert.Contains(t, aside[0], otherReason)
		assert.Contains(t, logs.String(), "INTERCOM_API_BASE differs")
	})
}

// Same token, another workspace behind the URL whose GET /me answers but
// whose reads then fail: the reports restored from the old workspace are
// withdrawn all the same; nothing is published until the new workspace's
// refresh succeeds.
func TestWorkspace_SameTokenAnotherWorkspace_RestoredReportsWithdrawnEvenIfTheRefreshFails(t *testing.T) {
	a := fakeWithToken(t, smallWorkspace(), "")
	b := fakeWithToken(t, otherWorkspace(), "")
	var target atomic.Pointer[intercomtest.Server]
	target.Store(a)
	var failReads atomic.Bool
	gw := proxy(t, func(r *http.Request) *intercomtest.Server {
		if failReads.Load() && r.URL.Path != "/me" {
			return nil // 401 for everything but GET /me
		}
		return target.Load()
	})
	e := newEnv(a)
	e["INTERCOM_API_BASE"] = gw.URL
	dir := t.TempDir()
	e["STATE_DIR"] = dir
	clk, _ := saveWorkspaceA(t, e)

	target.Store(b)
	failReads.Store(true)
	exp := newExporter(t, e, clk.Now, nil)
	exp.Restore()
	require.True(t, exp.Status().Ready)
	require.Error(t, exp.Refresh(context.Background()))
	assert.False(t, exp.Status().Ready, "workspace A's reports still served")
	assert.Nil(t, exp.Model())
	_, _, ok := exp.FrozenBilling(february)
	assert.False(t, ok)
	assert.Empty(t, exp.Runner().Written())
	aside, err := state.SetAsideFiles(dir)
	require.NoError(t, err)
	assert.Len(t, aside, 1)

	failReads.Store(false)
	require.NoError(t, exp.Refresh(context.Background()))
	recs := liveRecords(t, exp, february)
	require.Len(t, recs, 1)
	assert.Equal(t, "b1", recs[0].ContactID)
}
