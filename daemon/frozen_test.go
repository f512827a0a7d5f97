package daemon_test

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coaching/intercom_exporter/engagement"
	"github.com/coaching/intercom_exporter/intercom/intercomtest"
	"github.com/coaching/intercom_exporter/state"
)

var february = engagement.Month{Year: 2026, Month: time.February}

// The February cohort of the hand-made workspace (helpers_test.go), worked
// out in TestGolden_SmallWorkspace: c1 registered 2026-01-10, engaged by
// call 1002 on 2026-02-01; c2 registered (Enrolled Date) 2026-02-20, new,
// and engaged by the same call.
var februaryCohort = []engagement.BillingRecord{
	{ContactID: "c1", Name: "Name c1", Email: "c1@example.com", Employer: "Acme",
		Registration: engagement.DateDay(2026, 1, 10), LastCall: engagement.DateDay(2026, 2, 1), HasLastCall: true,
		Engaged: true, Qualifying: "1002"},
	{ContactID: "c2", Name: "Name c2", Email: "c2@example.com", Employer: "Globex",
		Registration: engagement.DateDay(2026, 2, 20), LastCall: engagement.DateDay(2026, 2, 1), HasLastCall: true,
		New: true, Engaged: true, Qualifying: "1002"},
}

// c4 (registered 2025-12-01, employer unknown) with a call on 2026-02-10,
// recorded after the month was frozen.
var c4Record = engagement.BillingRecord{ContactID: "c4", Name: "Name c4", Email: "c4@example.com", Employer: "unknown",
	Registration: engagement.DateDay(2025, 12, 1), LastCall: engagement.DateDay(2026, 2, 10), HasLastCall: true,
	Engaged: true, Qualifying: "2001"}

const frozenFebruaryMetric = `
# HELP intercom_billing_members Billing cohort of the previous calendar month by employer and reason (docs/reports.md). Cached: refreshed from Intercom every 1m0s, not per scrape.
# TYPE intercom_billing_members gauge
intercom_billing_members{employer="Acme",month="2026-02",reason="engaged"} 1
intercom_billing_members{employer="Acme",month="2026-02",reason="new"} 0
intercom_billing_members{employer="Acme",month="2026-02",reason="new_and_engaged"} 0
intercom_billing_members{employer="Globex",month="2026-02",reason="engaged"} 0
intercom_billing_members{employer="Globex",month="2026-02",reason="new"} 0
intercom_billing_members{employer="Globex",month="2026-02",reason="new_and_engaged"} 1
`

func liveRecords(t *testing.T, exp *harness, mo engagement.Month) []engagement.BillingRecord {
	t.Helper()
	recs, err := exp.Model().BillingRecords(mo)
	require.NoError(t, err)
	return recs
}

// A closed month is frozen once more than BILLING_FREEZE_DAYS (5) days have
// passed after its last day: February on 2026-03-06, not on 2026-03-05.
// From then on its first computation is served, whatever changes later;
// the live computation stays available; and it survives a restart.
func TestFrozenBilling_FirstComputationAfterTheFreezeDaysIsKeptAcrossARestart(t *testing.T) {
	ws := smallWorkspace()
	srv := startFake(t, ws, intercomtest.Options{})
	e := newEnv(srv)
	e["STATE_DIR"] = t.TempDir()
	clk := &clock{t: time.Date(2026, 3, 5, 23, 59, 0, 0, time.UTC)}
	exp := newExporter(t, e, clk.Now, nil)

	require.NoError(t, exp.Refresh(context.Background()))
	_, _, ok := exp.FrozenBilling(february)
	assert.False(t, ok, "2026-03-05 is 5 days after 2026-02-28: not yet frozen")

	clk.Add(time.Minute) // 2026-03-06 00:00
	require.NoError(t, exp.Refresh(context.Background()))
	recs, frozenAt, ok := exp.FrozenBilling(february)
	require.True(t, ok, "2026-03-06 is 6 days after: frozen")
	assert.Equal(t, time.Date(2026, 3, 6, 0, 0, 0, 0, time.UTC), frozenAt)
	assert.Equal(t, februaryCohort, recs)
	assert.NoError(t, testutil.CollectAndCompare(exp, strings.NewReader(frozenFebruaryMetric), "intercom_billing_members"))

	// A February call of c4 recorded later: live, c4 is engaged; the
	// frozen cohort and the metric do not change.
	c := conversation("2001", "closed", "Phone", "101", unix(2026, 2, 10, 9), "c4")
	c.UpdatedAt = clk.Now().Unix() + 60
	ws.AddConversation(c)
	clk.Add(15 * time.Minute)
	require.NoError(t, exp.Refresh(context.Background()))
	assert.ElementsMatch(t, append(append([]engagement.BillingRecord(nil), februaryCohort...), c4Record), liveRecords(t, exp, february))
	recs, at2, ok := exp.FrozenBilling(february)
	require.True(t, ok)
	assert.Equal(t, februaryCohort, recs)
	assert.Equal(t, frozenAt, at2)
	assert.NoError(t, testutil.CollectAndCompare(exp, strings.NewReader(frozenFebruaryMetric), "intercom_billing_members"))
	exp.FlushState()

	// After a restart: the same frozen cohort, before and after a refresh.
	again := newExporter(t, e, clk.Now, nil)
	again.Restore()
	recs, at3, ok := again.FrozenBilling(february)
	require.True(t, ok)
	assert.Equal(t, februaryCohort, recs)
	assert.True(t, frozenAt.Equal(at3))
	assert.NoError(t, testutil.CollectAndCompare(again, strings.NewReader(frozenFebruaryMetric), "intercom_billing_members"))
	clk.Add(15 * time.Minute)
	require.NoError(t, again.Refresh(context.Background()))
	recs, _, ok = again.FrozenBilling(february)
	require.True(t, ok)
	assert.Equal(t, februaryCohort, recs)
	assert.NoError(t, testutil.CollectAndCompare(again, strings.NewReader(frozenFebruaryMetric), "intercom_billing_members"))
	assert.Contains(t, liveRecords(t, again, february), c4Record, "the live computation is still there")

	// Without STATE_DIR nothing is frozen: the metric is the live cohort.
	delete(e, "STATE_DIR")
	stateless := newExporter(t, e, clk.Now, nil)
	require.NoError(t, stateless.Refresh(context.Background()))
	_, _, ok = stateless.FrozenBilling(february)
	assert.False(t, ok)
	assert.Contains(t, exposition(t, stateless), `intercom_billing_members{employer="unknown",month="2026-02",reason="engaged"} 1`+"\n")
}

// A month missed while the exporter was stopped is frozen when it starts
// again (the first computation it can make), as long as its engaged window
// is in the data.
func TestFrozenBilling_CatchesUpMonthsSinceTheLastFrozenOne(t *testing.T) {
	srv := startFake(t, smallWorkspace(), intercomtest.Options{})
	e := newEnv(srv)
	e["STATE_DIR"] = t.TempDir()
	clk := &clock{t: time.Date(2026, 2, 20, 12, 0, 0, 0, time.UTC)}
	exp := newExporter(t, e, clk.Now, nil)
	require.NoError(t, exp.Refresh(context.Background()))
	_, _, ok := exp.FrozenBilling(engagement.Month{Year: 2026, Month: time.January})
	require.True(t, ok, "January frozen on 2026-02-20")

	clk.Add(60 * 24 * time.Hour) // 2026-04-21: February and March are both due
	require.NoError(t, exp.Refresh(context.Background()))
	for _, mo := range []time.Month{time.February, time.March} {
		_, at, ok := exp.FrozenBilling(engagement.Month{Year: 2026, Month: mo})
		assert.True(t, ok, "%s frozen", mo)
		assert.Equal(t, clk.Now(), at)
	}
}

// freezeFebruary runs an exporter on dir until February is frozen
// (2026-03-06) and saved; it returns the clock.
func freezeFebruary(t *testing.T, e env) *clock {
	t.Helper()
	clk := &clock{t: time.Date(2026, 3, 6, 0, 0, 0, 0, time.UTC)}
	exp := newExporter(t, e, clk.Now, nil)
	require.NoError(t, exp.Refresh(context.Background()))
	_, _, ok := exp.FrozenBilling(february)
	require.True(t, ok)
	exp.FlushState()
	return clk
}

// A state file that cannot be used is moved aside, never overwritten, and
// logged as an error; no billing month is frozen from live data while it
// is there, even across restarts; once the operator puts it back, its
// frozen months are served again.
func TestFrozenBilling_NotFrozenAgainFromLiveDataWhileAStateFileIsSetAside(t *testing.T) {
	for _, tc := range []struct {
		name   string
		spoil  func(t *testing.T, dir string, e env)
		reason string
	}{
		{"damaged", func(t *testing.T, dir string, _ env) {
			b, err := os.ReadFile(state.Path(dir))
			require.NoError(t, err)
			b[len(b)/2] ^= 0xff
			require.NoError(t, os.WriteFile(state.Path(dir), b, 0o600))
		}, "corrupt"},
		{"unsupported version", func(t *testing.T, dir string, _ env) {
			b, err := os.ReadFile(state.Path(dir))
			require.NoError(t, err)
			binary.LittleEndian.PutUint32(b[8:], state.Version+1)
			require.NoError(t, os.WriteFile(state.Path(dir), b, 0o600))
		}, "unsupported-version"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startFake(t, smallWorkspace(), intercomtest.Options{})
			e := newEnv(srv)
			dir := t.TempDir()
			e["STATE_DIR"] = dir
			clk := freezeFebruary(t, e)
			tc.spoil(t, dir, e)
			before, err := os.ReadFile(state.Path(dir))
			require.NoError(t, err)

			var logs syncBuffer
			exp := newExporter(t, e, clk.Now, &logs)
			exp.Restore()
			aside, err := state.SetAsideFiles(dir)
			require.NoError(t, err)
			require.Len(t, aside, 1)
			assert.Contains(t, aside[0], state.FileName+"."+tc.reason+"-")
			assert.Contains(t, logs.String(), "level=ERROR msg=\"saved state cannot be used and was moved aside")
			assert.Contains(t, logs.String(), "level=ERROR msg=\"state files set aside hold frozen billing months")

			// February is due and computable, but not frozen from live data.
			clk.Add(time.Hour)
			require.NoError(t, exp.Refresh(context.Background()))
			_, _, ok := exp.FrozenBilling(february)
			assert.False(t, ok, "February frozen again from live data")
			exp.FlushState()
			moved, err := os.ReadFile(aside[0])
			require.NoError(t, err)
			assert.Equal(t, before, moved, "the moved-aside file is as it was")

			// Still held after a restart with the new file.
			again := newExporter(t, e, clk.Now, nil)
			again.Restore()
			require.NoError(t, again.Refresh(context.Background()))
			_, _, ok = again.FrozenBilling(february)
			assert.False(t, ok, "February frozen again after a restart")
			again.FlushState()

			if tc.name == "unsupported version" {
				// The operator puts the file back, as the newer exporter
				// would read it.
				b, err := os.ReadFile(aside[0])
				require.NoError(t, err)
				binary.LittleEndian.PutUint32(b[8:], state.Version)
				require.NoError(t, os.WriteFile(state.Path(dir), b, 0o600))
				require.NoError(t, os.Remove(aside[0]))
				back := newExporter(t, e, clk.Now, nil)
				back.Restore()
				recs, at, ok := back.FrozenBilling(february)
				require.True(t, ok)
				assert.Equal(t, februaryCohort, recs)
				assert.Equal(t, time.Date(2026, 3, 6, 0, 0, 0, 0, time.UTC), at.UTC())
			}
		})
	}
}

// A state file that cannot even be read stays where it is: nothing is
// saved over it and no month is frozen.
func TestFrozenBilling_AStateFileThatCannotBeReadIsNeitherOverwrittenNorRefrozen(t *testing.T) {
	srv := startFake(t, smallWorkspace(), intercomtest.Options{})
	e := newEnv(srv)
	dir := t.TempDir()
	e["STATE_DIR"] = dir
	// Not a file: reading it fails.
	require.NoError(t, os.Mkdir(state.Path(dir), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(state.Path(dir), "keep"), []byte("x"), 0o600))

	var logs syncBuffer
	exp := newExporter(t, e, func() time.Time { return time.Date(2026, 3, 6, 0, 0, 0, 0, time.UTC) }, &logs)
	exp.Restore()
	assert.Contains(t, logs.String(), "level=ERROR msg=\"saved state cannot be used and is left in place")
	// Counted with the files set aside: no month is frozen while it is there.
	assert.NoError(t, testutil.CollectAndCompare(exp.Health(), strings.NewReader(`
# HELP intercom_state_set_aside_files State files set aside in STATE_DIR (damaged, a newer version, another workspace); above 0, no billing month is frozen.
# TYPE intercom_state_set_aside_files gauge
intercom_state_set_aside_files 1
`), "intercom_state_set_aside_files"))
	require.NoError(t, exp.Refresh(context.Background()))
	_, _, ok := exp.FrozenBilling(february)
	assert.False(t, ok)
	exp.FlushState()
	st, err := os.Stat(state.Path(dir))
	require.NoError(t, err)
	assert.True(t, st.IsDir(), "left in place")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no other file written")
}
