package daemon_test

import (
	"context"
	"encoding/binary"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coaching/intercom_exporter/intercom/intercomtest"
	"github.com/coaching/intercom_exporter/state"
)

const upZero = `
# HELP intercom_up 1 if the last refresh of Intercom data succeeded, else 0.
# TYPE intercom_up gauge
intercom_up 0
`

func TestRestart_ServesTheLastReportsBeforeAnyIntercomCallThenReadsIncrementally(t *testing.T) {
	genNow := time.Date(2026, 4, 30, 14, 0, 0, 0, time.UTC)
	ws := intercomtest.Generate(intercomtest.GenerateOptions{
		Seed: 3, Participants: 800, Conversations: 8000, Coaches: 6, Employers: 12, Now: genNow, Timezone: "Asia/Tokyo",
	})
	srv := startFake(t, ws, intercomtest.Options{})
	e := newEnv(srv)
	e["SYNC_MODE"] = "dry-run"
	e["STATE_DIR"] = t.TempDir()
	// No month frozen yet (see frozen_test.go): the billing family is the
	// live one, comparable with an exporter without STATE_DIR.
	e["BILLING_FREEZE_DAYS"] = "60"
	clk := &clock{t: genNow.Add(time.Hour)}
	first := newExporter(t, e, clk.Now, nil)
	require.NoError(t, first.Refresh(context.Background()))
	first.FlushState()
	published := exposition(t, first)

	// The restart: the last reports are served from the file, with
	// intercom_up 0, before any call to Intercom.
	srv.ResetRequests()
	var logs syncBuffer
	second := newExporter(t, e, clk.Now, &logs)
	second.Restore()
	assert.Empty(t, srv.Requests(), "restoring calls no Intercom")
	st := second.Status()
	assert.True(t, st.Ready)
	assert.False(t, st.Up)
	assert.True(t, first.Status().DataTimestamp.Equal(st.DataTimestamp), "data timestamp %s", st.DataTimestamp)
	assert.Equal(t, published, exposition(t, second))
	assert.NoError(t, testutil.CollectAndCompare(second, strings.NewReader(upZero), "intercom_up"))
	assert.Equal(t, 1, testutil.CollectAndCount(second, "intercom_refresh_last_success_timestamp_seconds"),
		"the last success is the saved refresh's")
	assert.Contains(t, logs.String(), "last reports restored from saved state")

	// Then it continues incrementally from the saved watermark.
	clk.Add(15 * time.Minute)
	mut := mutate(t, ws, rngFor(7), clk.Now().Add(-15*time.Minute), clk.Now())
	srv.ResetRequests()
	require.NoError(t, second.Refresh(context.Background()))
	assert.True(t, second.Status().Up)
	bound := incrementalBound(len(mut.convs), updatedSince(ws, clk.Now().Add(-15*time.Minute-5*time.Minute)))
	assert.LessOrEqual(t, len(srv.Requests()), bound, "the refresh after a restart is incremental")
	assert.Contains(t, logs.String(), "kind=slow")

	delete(e, "STATE_DIR")
	full := newExporter(t, e, clk.Now, nil)
	require.NoError(t, full.Refresh(context.Background()))
	requireSameData(t, second, full)
}

// Run publishes the saved reports first, while the first refresh is still
// waiting on Intercom.
func TestRestart_RunIsReadyFromSavedStateWhileIntercomIsSlow(t *testing.T) {
	srv := startFake(t, smallWorkspace(), intercomtest.Options{})
	e := newEnv(srv)
	e["STATE_DIR"] = t.TempDir()
	first := newExporter(t, e, fixedNow, nil)
	require.NoError(t, first.Refresh(context.Background()))
	first.FlushState()

	srv.ResetRequests()
	srv.AddFault(intercomtest.Fault{Endpoint: intercomtest.EndpointMe, Kind: intercomtest.FaultSlow, Delay: 5 * time.Second})
	second := newExporter(t, e, fixedNow, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- second.Run(ctx) }()
	require.Eventually(t, func() bool { return second.Status().Ready }, 2*time.Second, 5*time.Millisecond)
	assert.Empty(t, srv.Requests(), "no Intercom call has been answered yet")
	assert.NoError(t, testutil.CollectAndCompare(second, strings.NewReader(goldenReports), reportFamilies...))
	assert.NoError(t, testutil.CollectAndCompare(second, strings.NewReader(upZero), "intercom_up"))
	cancel()
	require.NoError(t, <-done)
}

// A state file that cannot be used is a warning and a full read, never a
// crash or wrong numbers.
func TestRestart_UnusableStateMeansAFullReadAndAWarning(t *testing.T) {
	for _, tc := range []struct {
		name    string
		prepare func(t *testing.T, dir string, e env)
		warning string
	}{
		{"no file", func(*testing.T, string, env) {}, "no saved state yet"},
		{"damaged file", func(t *testing.T, dir string, _ env) {
			b, err := os.ReadFile(state.Path(dir))
			require.NoError(t, err)
			b[len(b)/2] ^= 0xff
			require.NoError(t, os.WriteFile(state.Path(dir), b, 0o600))
		}, "saved state cannot be used"},
		{"cut short", func(t *testing.T, dir string, _ env) {
			b, err := os.ReadFile(state.Path(dir))
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(state.Path(dir), b[:len(b)/3], 0o600))
		}, "saved state cannot be used"},
		{"newer format version", func(t *testing.T, dir string, _ env) {
			b, err := os.ReadFile(state.Path(dir))
			require.NoError(t, err)
			binary.LittleEndian.PutUint32(b[8:], state.Version+1)
			require.NoError(t, os.WriteFile(state.Path(dir), b, 0o600))
		}, "has another format version"},
		{"not a state file", func(t *testing.T, dir string, _ env) {
			require.NoError(t, os.WriteFile(state.Path(dir), []byte("hello"), 0o600))
		}, "saved state cannot be used"},
		{"other settings", func(_ *testing.T, _ string, e env) { e["LOOKBACK_DAYS"] = "400" }, "read with other settings"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startFake(t, smallWorkspace(), intercomtest.Options{})
			e := newEnv(srv)
			dir := t.TempDir()
			e["STATE_DIR"] = dir
			if tc.name != "no file" {
				first := newExporter(t, e, fixedNow, nil)
				require.NoError(t, first.Refresh(context.Background()))
				first.FlushState()
			}
			tc.prepare(t, dir, e)

			var logs syncBuffer
			exp := newExporter(t, e, fixedNow, &logs)
			exp.Restore()
			assert.Contains(t, logs.String(), tc.warning)
			assert.False(t, exp.Status().Ready, "nothing restored")

			require.NoError(t, exp.Refresh(context.Background()))
			assert.Contains(t, logs.String(), "kind=full")
			if tc.name != "other settings" { // a longer lookback: other numbers
				assert.NoError(t, testutil.CollectAndCompare(exp, strings.NewReader(goldenReports), reportFamilies...))
			}
			// The next start uses what this one saved.
			exp.FlushState()
			var logs2 syncBuffer
			again := newExporter(t, e, fixedNow, &logs2)
			again.Restore()
			assert.True(t, again.Status().Ready, logs2.String())
		})
	}
}

// The sync's overlay of written values survives a restart, so that the
// first sync after it does not write the same contacts again.
func TestRestart_KeepsTheSyncOverlay(t *testing.T) {
	srv := startFake(t, smallWorkspace(), intercomtest.Options{})
	e := newEnv(srv)
	e["STATE_DIR"] = t.TempDir()
	first := newExporter(t, e, fixedNow, nil)
	require.NoError(t, first.Refresh(context.Background()))
	s, err := first.Sync(context.Background(), false)
	require.NoError(t, err)
	require.Positive(t, s.Written)
	first.FlushState()
	require.NotEmpty(t, first.Runner().Written())

	second := newExporter(t, e, fixedNow, nil)
	second.Restore()
	assert.Equal(t, first.Runner().Written(), second.Runner().Written())
}

// Without STATE_DIR nothing is saved or restored.
func TestNoStateDir_NothingSavedOrRestored(t *testing.T) {
	srv := startFake(t, smallWorkspace(), intercomtest.Options{})
	exp := newExporter(t, newEnv(srv), fixedNow, nil)
	exp.Restore()
	assert.False(t, exp.Status().Ready)
	require.NoError(t, exp.Refresh(context.Background()))
	exp.FlushState()
}
