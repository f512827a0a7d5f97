package daemon_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coaching/intercom_exporter/daemon"
	"github.com/coaching/intercom_exporter/intercom"
	"github.com/coaching/intercom_exporter/intercom/intercomtest"
)

func laterPage(_ *http.Request, body []byte) bool {
	return bytes.Contains(body, []byte(`"starting_after"`))
}

func TestFailedRefresh_KeepsPreviousReportsAndSetsUpZero(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault intercomtest.Fault
		env   env
		cause string // in the logged reason
		// slowRecovery: the client waits out the rate-limit window the
		// 429s announced before its next call.
		slowRecovery bool
	}{
		{name: "500s beyond retries",
			fault: intercomtest.Fault{Endpoint: intercomtest.EndpointConversationsSearch, Kind: intercomtest.FaultStatus500},
			cause: "HTTP 500"},
		{name: "503 on a contact search",
			fault: intercomtest.Fault{Endpoint: intercomtest.EndpointContactsSearch, Kind: intercomtest.FaultStatus503},
			cause: "HTTP 503"},
		{name: "malformed JSON",
			fault: intercomtest.Fault{Endpoint: intercomtest.EndpointContactsSearch, Kind: intercomtest.FaultMalformedJSON},
			cause: "malformed response body"},
		// Enough attempts that the client is still waiting out windows when
		// the refresh times out, wherever in its 10-second window it starts.
		{name: "429 storm until the refresh times out",
			fault:        intercomtest.Fault{Endpoint: intercomtest.EndpointConversationsSearch, Kind: intercomtest.FaultStatus429},
			env:          env{"REFRESH_TIMEOUT": "1500ms", "RETRY_MAX_ATTEMPTS": "20"},
			cause:        "did not finish within REFRESH_TIMEOUT",
			slowRecovery: true},
		// A full read (FULL_REFRESH_INTERVAL=0): the incremental read of one
		// new conversation has no later page.
		{name: "a later page missing (connection dropped)",
			fault: intercomtest.Fault{Endpoint: intercomtest.EndpointConversationsSearch, Match: laterPage, Kind: intercomtest.FaultDropConnection},
			env:   env{"FULL_REFRESH_INTERVAL": "0"},
			cause: "searching conversations"},
		{name: "a later page truncated",
			fault: intercomtest.Fault{Endpoint: intercomtest.EndpointConversationsSearch, Match: laterPage, Kind: intercomtest.FaultTruncatedBody},
			env:   env{"FULL_REFRESH_INTERVAL": "0"},
			cause: "searching conversations"},
		{name: "admins answer 500",
			fault: intercomtest.Fault{Endpoint: intercomtest.EndpointAdmins, Kind: intercomtest.FaultStatus500},
			cause: "reading admins"},
		{name: "too slow for the refresh timeout",
			fault: intercomtest.Fault{Endpoint: intercomtest.EndpointMe, Kind: intercomtest.FaultSlow, Delay: 10 * time.Second},
			env:   env{"REFRESH_TIMEOUT": "2s"},
			cause: "did not finish within REFRESH_TIMEOUT (2s)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws := intercomtest.Generate(intercomtest.GenerateOptions{
				Seed: 7, Participants: 150, Conversations: 700, Coaches: 4, Employers: 5, Now: now,
			})
			srv := startFake(t, ws, intercomtest.Options{})
			e := newEnv(srv)
			for k, v := range tc.env {
				e[k] = v
			}
			var logs bytes.Buffer
			exp := newExporter(t, e, fixedNow, &logs)
			require.NoError(t, exp.Refresh(context.Background()))
			require.Greater(t, srv.Count("POST", intercomtest.EndpointConversationsSearch), 1, "the workspace needs several pages")
			before, err := testutil.CollectAndFormat(exp, expfmt.TypeTextPlain, reportFamilies...)
			require.NoError(t, err)
			require.NotEmpty(t, before)

			// New data that a partial publication would show.
			ws.AddConversation(conversation("999001", "closed", "Phone", "", now.Unix()-3600, ws.Contacts()[0].ID))
			srv.AddFault(tc.fault)
			err = exp.Refresh(context.Background())
			require.Error(t, err)

			assert.NoError(t, testutil.CollectAndCompare(exp, bytes.NewReader(before), reportFamilies...),
				"the previous reports stay published, unchanged")
			assert.NoError(t, testutil.CollectAndCompare(exp, strings.NewReader(`
# HELP intercom_up 1 if the last refresh of Intercom data succeeded, else 0.
# TYPE intercom_up gauge
intercom_up 0
# HELP intercom_refreshes_total Refreshes of Intercom data attempted.
# TYPE intercom_refreshes_total counter
intercom_refreshes_total 2
# HELP intercom_refresh_failures_total Refreshes of Intercom data that failed (the previous reports stay published).
# TYPE intercom_refresh_failures_total counter
intercom_refresh_failures_total 1
`), "intercom_up", "intercom_refreshes_total", "intercom_refresh_failures_total"))
			st := exp.Status()
			assert.True(t, st.Ready)
			assert.False(t, st.Up)
			assert.Contains(t, st.LastError, tc.cause)
			assert.Equal(t, now, st.DataTimestamp)
			assert.Contains(t, logs.String(), "refresh of Intercom data failed; the previous reports stay published")
			assert.NotContains(t, logs.String(), testToken)

			// Once Intercom is well again, the next refresh publishes.
			srv.ClearFaults()
			if tc.slowRecovery {
				require.Eventually(t, func() bool { return exp.Refresh(context.Background()) == nil }, 20*time.Second, 100*time.Millisecond)
			} else {
				require.NoError(t, exp.Refresh(context.Background()))
			}
			assert.True(t, exp.Status().Up)
			assert.Error(t, testutil.CollectAndCompare(exp, bytes.NewReader(before), reportFamilies...),
				"the new conversation is now counted")
		})
	}
}

func TestFailedFirstRefresh_PublishesNothing(t *testing.T) {
	srv := startFake(t, smallWorkspace(), intercomtest.Options{})
	srv.AddFault(intercomtest.Fault{Endpoint: intercomtest.EndpointContactsSearch, Kind: intercomtest.FaultStatus500})
	exp := newExporter(t, newEnv(srv), fixedNow, nil)
	require.Error(t, exp.Refresh(context.Background()))
	for _, name := range reportFamilies {
		assert.Zero(t, testutil.CollectAndCount(exp, name), name)
	}
	assert.False(t, exp.Status().Ready)
	assert.Nil(t, exp.Model())
}

func TestBadToken_FailsWithoutEchoingIt(t *testing.T) {
	srv := startFake(t, smallWorkspace(), intercomtest.Options{})
	e := newEnv(srv)
	e["INTERCOM_ACCESS_TOKEN"] = "tok_wrong_secret_value_123"
	var logs bytes.Buffer
	exp := newExporter(t, e, fixedNow, &logs)
	err := exp.Refresh(context.Background())
	require.Error(t, err)
	var apiErr *intercom.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, http.StatusUnauthorized, apiErr.Status)
	assert.NotContains(t, err.Error(), "tok_wrong_secret_value_123")
	assert.NotContains(t, logs.String(), "tok_wrong_secret_value_123")
}

func TestTryRefresh_BusyWhileARefreshRuns(t *testing.T) {
	srv := startFake(t, smallWorkspace(), intercomtest.Options{})
	srv.AddFault(intercomtest.Fault{Endpoint: intercomtest.EndpointMe, Kind: intercomtest.FaultSlow, Delay: 400 * time.Millisecond, Times: 1})
	exp := newExporter(t, newEnv(srv), fixedNow, nil)
	done := make(chan error, 1)
	go func() { done <- exp.Refresh(context.Background()) }()
	require.Eventually(t, func() bool { return exp.Status().Refreshing }, 2*time.Second, 5*time.Millisecond)
	assert.ErrorIs(t, exp.TryRefresh(context.Background()), daemon.ErrRefreshBusy)
	require.NoError(t, <-done)
}
