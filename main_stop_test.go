package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coaching/intercom_exporter/daemon"
	"github.com/coaching/intercom_exporter/engagement"
	"github.com/coaching/intercom_exporter/intercom/intercomtest"
	"github.com/coaching/intercom_exporter/state"
)

// waitHealthy waits until base answers /healthz.
func waitHealthy(t *testing.T, base string) {
	t.Helper()
	require.Eventually(t, func() bool {
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 20*time.Millisecond, "serving")
}

// The scheduler ends while the HTTP server is serving (a job that cannot
// be scheduled, a loop that died): the process ends promptly with exit code
// 1 and an ERROR line, instead of answering /healthz with nothing
// refreshed until someone sends SIGTERM.
func TestRun_ASchedulerThatStopsWhileServingEndsTheProcessWithAnError(t *testing.T) {
	fake := intercomtest.NewServer(intercomtest.NewWorkspace("UTC"), intercomtest.Options{Token: "tok_main_death_1"})
	defer fake.Close()
	release := make(chan struct{})
	runExporter = func(_ *daemon.Exporter, ctx context.Context) error {
		select {
		case <-release:
			return errors.New(`scheduling the sync on "0 6 31 2 *": no such day`)
		case <-ctx.Done():
			return nil
		}
	}
	defer func() { runExporter = (*daemon.Exporter).Run }()
	addr := freePort(t)
	logs := &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(nil, envconfig.MapLookuper(map[string]string{
			"INTERCOM_ACCESS_TOKEN": "tok_main_death_1",
			"INTERCOM_API_BASE":     fake.URL(),
			"LISTEN_ADDRESS":        addr,
		}), io.Discard, logs)
	}()
	waitHealthy(t, "http://"+addr)

	close(release)
	select {
	case code := <-done:
		assert.Equal(t, 1, code)
	case <-time.After(10 * time.Second):
		t.Fatal("the process went on serving after its scheduler stopped")
	}
	assert.Contains(t, logs.String(), `level=ERROR`)
	assert.Contains(t, logs.String(), "The refresh and sync scheduler stopped unexpectedly")
	assert.Contains(t, logs.String(), "no such day")
}

// SIGTERM during a sync started by POST /sync: the sync is cancelled, its
// client gets the partial summary, what it wrote is saved, and the process
// exits 0.
func TestRun_SIGTERMCancelsASyncStartedByPOSTSyncAndItsClientGetsTheSummary(t *testing.T) {
	const token = "tok_main_stop_2"
	ws := intercomtest.Generate(intercomtest.GenerateOptions{
		Seed: 5, Participants: 400, Conversations: 2000, Coaches: 3, Employers: 4, Now: time.Now(),
	})
	fake := intercomtest.NewServer(ws, intercomtest.Options{Token: token, Latency: 20 * time.Millisecond})
	defer fake.Close()
	addr := freePort(t)
	dir := t.TempDir()
	logs := &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(nil, envconfig.MapLookuper(map[string]string{
			"INTERCOM_ACCESS_TOKEN": token,
			"INTERCOM_API_BASE":     fake.URL(),
			"LISTEN_ADDRESS":        addr,
			"SYNC_MODE":             "apply",
			"ALLOW_UNAUTHENTICATED": "true",
			"STATE_DIR":             dir,
		}), io.Discard, logs)
	}()
	base := "http://" + addr
	require.Eventually(t, func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 20*time.Millisecond, "ready")

	type answer struct {
		code int
		sum  engagement.Summary
		err  error
	}
	got := make(chan answer, 1)
	go func() {
		resp, err := http.Post(base+"/sync", "", nil)
		if err != nil {
			got <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		var a answer
		a.code = resp.StatusCode
		a.err = json.NewDecoder(resp.Body).Decode(&a.sum)
		got <- a
	}()
	require.Eventually(t, func() bool { return fake.Count("PUT", intercomtest.EndpointContact) >= 5 },
		20*time.Second, 5*time.Millisecond, "the sync writes")
	require.NoError(t, syscall.Kill(syscall.Getpid(), syscall.SIGTERM))

	var a answer
	select {
	case a = <-got:
	case <-time.After(20 * time.Second):
		t.Fatal("POST /sync got no answer after SIGTERM")
	}
	require.NoError(t, a.err, "the client gets its summary before the server closes")
	assert.Equal(t, http.StatusOK, a.code)
	assert.Equal(t, engagement.ResultPartial, a.sum.Result)
	assert.Positive(t, a.sum.Written)
	assert.Positive(t, a.sum.Left)

	select {
	case code := <-done:
		assert.Equal(t, 0, code)
	case <-time.After(40 * time.Second):
		t.Fatal("the process did not stop on SIGTERM")
	}
	assert.Contains(t, logs.String(), `msg="engagement sync finished with failures" mode=apply result=partial`)
	f, err := state.Load(dir)
	require.NoError(t, err)
	assert.Len(t, f.Written, a.sum.Written, "the writes of the cancelled sync are saved")
	assert.Less(t, fake.Count("PUT", intercomtest.EndpointContact), a.sum.Planned, "writing stopped")
}
