package daemon_test

import (
	"compress/gzip"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coaching/intercom_exporter/intercom/intercomtest"
)

// fetch GETs target from h and returns the status, content type and body
// (gunzipped when gzip was asked for and sent).
func fetch(t *testing.T, h http.Handler, target, accept string, gz bool) (int, string, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if gz {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	body := rec.Body.String()
	if rec.Header().Get("Content-Encoding") == "gzip" {
		require.True(t, gz, "gzip only when asked for")
		zr, err := gzip.NewReader(rec.Body) // reads every member
		require.NoError(t, err)
		b, err := io.ReadAll(zr)
		require.NoError(t, err)
		body = string(b)
	}
	return rec.Code, rec.Header().Get("Content-Type"), body
}

func sortedLines(s string) []string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	slices.Sort(lines)
	return lines
}

// The cached handler serves exactly what promhttp serves for the whole
// exporter (families in another order), in every text format, with and
// without gzip, before the first refresh and after each.
func TestMetricsHandler_ServesWhatPromhttpServesForTheWholeExporter(t *testing.T) {
	ws := smallWorkspace()
	srv := startFake(t, ws, intercomtest.Options{})
	clk := &clock{t: now}
	exp := newExporter(t, newEnv(srv), clk.Now, nil)
	opts := promhttp.HandlerOpts{EnableOpenMetrics: true}
	live := prometheus.NewRegistry()
	live.MustRegister(exp.Health())
	cached := exp.MetricsHandler(live, opts, slog.New(slog.DiscardHandler))
	whole := prometheus.NewRegistry()
	whole.MustRegister(exp)
	reference := promhttp.HandlerFor(whole, opts)

	check := func(stage string) {
		for _, accept := range []string{"", "text/plain;version=0.0.4", "application/openmetrics-text;version=1.0.0", "application/openmetrics-text;version=0.0.1"} {
			for _, gz := range []bool{false, true} {
				code, ctype, body := fetch(t, cached, "/metrics", accept, gz)
				rcode, rctype, rbody := fetch(t, reference, "/metrics", accept, gz)
				require.Equal(t, http.StatusOK, code, "%s %q", stage, accept)
				assert.Equal(t, rcode, code)
				assert.Equal(t, rctype, ctype, "%s %q content type", stage, accept)
				assert.Equal(t, sortedLines(rbody), sortedLines(body), "%s %q gzip=%v", stage, accept, gz)
				if strings.HasPrefix(ctype, "application/openmetrics-text") {
					assert.True(t, strings.HasSuffix(body, "# EOF\n"), "%s: OpenMetrics ends with # EOF", stage)
					assert.Equal(t, 1, strings.Count(body, "# EOF"), stage)
				}
			}
		}
	}
	check("before the first refresh")
	require.NoError(t, exp.Refresh(context.Background()))
	check("after the first refresh")
	_, _, body := fetch(t, cached, "/metrics", "", false)
	assert.Contains(t, body, `intercom_sessions{band="0-7d",channel="Phone",coach="Alice Coach",employer="Acme"} 1`)

	// A new session: the next snapshot's encoding has it.
	ws.AddConversation(conversation("1009", "closed", "Phone", "101", unix(2026, 3, 14, 10), "c1"))
	require.NoError(t, exp.Refresh(context.Background()))
	check("after a refresh with a change")
	_, _, body = fetch(t, cached, "/metrics", "", false)
	assert.Contains(t, body, `intercom_sessions{band="0-7d",channel="Phone",coach="Alice Coach",employer="Acme"} 2`)

	// Filters by name go through promhttp.
	code, _, body := fetch(t, cached, "/metrics?name[]=intercom_up&name[]=intercom_sessions", "", false)
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "intercom_up 1")
	assert.Contains(t, body, "intercom_sessions{")
	assert.NotContains(t, body, "intercom_caseload_members")
}
