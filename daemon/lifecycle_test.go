package daemon_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/sethvargo/go-envconfig"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coaching/intercom_exporter/collector"
	"github.com/coaching/intercom_exporter/config"
	"github.com/coaching/intercom_exporter/daemon"
	"github.com/coaching/intercom_exporter/engagement"
	"github.com/coaching/intercom_exporter/intercom/intercomtest"
	"github.com/coaching/intercom_exporter/state"
)

// A refresh job that stops unexpectedly (here a panic: the exporter has no
// replica to read with) ends Run at once with an error, logged at ERROR,
// instead of the scheduler swallowing it while the process goes on
// answering /healthz with nothing refreshed.
func TestRun_AJobThatStopsUnexpectedlyEndsRunWithAnError(t *testing.T) {
	cfg, err := config.Load(context.Background(), envconfig.MapLookuper(map[string]string{"INTERCOM_ACCESS_TOKEN": testToken}))
	require.NoError(t, err)
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	col := collector.New(collector.Settings{RefreshInterval: cfg.RefreshInterval}, log)
	exp := daemon.New(daemon.Settings{Rules: cfg.Engagement(), RefreshInterval: cfg.RefreshInterval, SyncMode: engagement.ModeOff},
		daemon.Parts{Collector: col, Runner: engagement.NewRunner(nil, engagement.RunnerOptions{}), Logger: log})

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- exp.Run(ctx) }()
	select {
	case err := <-done:
		require.Error(t, err)
		assert.Contains(t, err.Error(), "the refresh job stopped unexpectedly")
		assert.NoError(t, ctx.Err(), "Run ended on its own, not at the end of ctx")
	case <-ctx.Done():
		t.Fatal("Run did not end when its refresh job stopped")
	}
	assert.Contains(t, logs.String(), `level=ERROR msg="a background loop of the exporter stopped unexpectedly`)
}

// StopSyncs (SIGTERM) cancels a sync however it was started, also one
// whose context is never cancelled (POST /sync runs without the client's):
// the run ends with a partial summary, logged, and what it wrote is saved.
func TestStopSyncs_CancelsARunningSyncWhoseContextIsNeverCancelled(t *testing.T) {
	ws := intercomtest.Generate(intercomtest.GenerateOptions{
		Seed: 5, Participants: 400, Conversations: 2000, Coaches: 3, Employers: 4, Now: time.Now(),
	})
	srv := startFake(t, ws, intercomtest.Options{Latency: 20 * time.Millisecond})
	e := newEnv(srv)
	dir := t.TempDir()
	e["STATE_DIR"] = dir
	var logs syncBuffer
	exp := newExporter(t, e, time.Now, &logs)
	require.NoError(t, exp.Refresh(context.Background()))

	type result struct {
		s   engagement.Summary
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, err := exp.Sync(context.WithoutCancel(context.Background()), false)
		done <- result{s, err}
	}()
	require.Eventually(t, func() bool { return srv.Count("PUT", intercomtest.EndpointContact) >= 5 },
		20*time.Second, 5*time.Millisecond, "the sync writes")
	exp.StopSyncs()
	var r result
	select {
	case r = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the sync went on after StopSyncs")
	}
	require.NoError(t, r.err)
	assert.Equal(t, engagement.ResultPartial, r.s.Result)
	assert.Positive(t, r.s.Written)
	assert.Positive(t, r.s.Left, "contacts left for the next run")
	assert.Contains(t, logs.String(), `msg="engagement sync finished with failures" mode=apply result=partial`)
	assert.Contains(t, logs.String(), "the exporter is stopping")

	exp.FlushState()
	f, err := state.Load(dir)
	require.NoError(t, err)
	assert.Len(t, f.Written, r.s.Written, "every write of the cancelled run saved")

	_, err = exp.Sync(context.Background(), false)
	assert.ErrorIs(t, err, daemon.ErrStopping, "no sync starts once stopping")
}

// A save that fails is an ERROR and counts in
// intercom_state_save_failures_total.
func TestSaveFailure_IsCountedAndLoggedAtError(t *testing.T) {
	srv := startFake(t, smallWorkspace(), intercomtest.Options{})
	e := newEnv(srv)
	dir := t.TempDir()
	e["STATE_DIR"] = dir
	var logs syncBuffer
	clk := &clock{t: fixedNow()}
	exp := newExporter(t, e, clk.Now, &logs)
	exp.Restore()
	// A directory where the file goes: the rename of every save fails,
	// whoever runs the test.
	require.NoError(t, os.Mkdir(state.Path(dir), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(state.Path(dir), "keep"), []byte("x"), 0o600))

	const want = `
# HELP intercom_state_save_failures_total Saves of the state file in STATE_DIR that failed (frozen billing months may not be persisted).
# TYPE intercom_state_save_failures_total counter
intercom_state_save_failures_total %d
`
	require.NoError(t, testutil.CollectAndCompare(exp.Health(), strings.NewReader(strings.ReplaceAll(want, "%d", "0")), "intercom_state_save_failures_total"))
	require.NoError(t, exp.Refresh(context.Background()))
	exp.FlushState()
	assert.NoError(t, testutil.CollectAndCompare(exp.Health(), strings.NewReader(strings.ReplaceAll(want, "%d", "1")), "intercom_state_save_failures_total"))
	assert.Contains(t, logs.String(), `level=ERROR msg="saving state failed`)
	// The next day's refresh recomputes, and saves again (a refresh that
	// finds nothing changed on the same day saves nothing).
	clk.Add(24 * time.Hour)
	require.NoError(t, exp.Refresh(context.Background()))
	exp.FlushState()
	assert.NoError(t, testutil.CollectAndCompare(exp.Health(), strings.NewReader(strings.ReplaceAll(want, "%d", "2")), "intercom_state_save_failures_total"))
}
