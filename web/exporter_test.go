package web

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/sethvargo/go-envconfig"

	"github.com/coaching/intercom_exporter/collector"
	"github.com/coaching/intercom_exporter/config"
	"github.com/coaching/intercom_exporter/intercom/intercomtest"
)

// These tests serve a real collector.Exporter, wired as main.go wires it,
// against the fake Intercom.

const exporterTestToken = "tok_web_test_8c1d4e"

func newRealExporter(t *testing.T, apiBase string) (*collector.Exporter, *Server) {
	t.Helper()
	cfg, err := config.Load(context.Background(), envconfig.MapLookuper(map[string]string{
		"INTERCOM_ACCESS_TOKEN": exporterTestToken,
		"INTERCOM_API_BASE":     apiBase,
		"RETRY_MAX_ATTEMPTS":    "2",
		"RETRY_BACKOFF":         "5ms",
		"RETRY_MAX_BACKOFF":     "20ms",
		"REQUEST_TIMEOUT":       "5s",
		"SYNC_MODE":             config.SyncDryRun,
	}))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	exp, err := collector.New(cfg, collector.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(exp.FlushState)
	reg := prometheus.NewRegistry()
	reg.MustRegister(exp.Health())
	metrics := promhttp.InstrumentMetricHandler(reg, exp.MetricsHandler(reg, promhttp.HandlerOpts{EnableOpenMetrics: true}, log))
	s, err := New(Options{Source: exp, Syncer: exp, Metrics: metrics, Logger: log, AllowUnauthenticated: true})
	if err != nil {
		t.Fatal(err)
	}
	return exp, s
}

func TestExporter_MetricsCarryDataTimestampOncePublished(t *testing.T) {
	ws := intercomtest.Generate(intercomtest.GenerateOptions{
		Seed: 7, Participants: 20, Conversations: 60, Coaches: 2, Employers: 3, Now: time.Now(),
	})
	fake := intercomtest.NewServer(ws, intercomtest.Options{Token: exporterTestToken})
	t.Cleanup(fake.Close)
	exp, s := newRealExporter(t, fake.URL())

	if r := get(t, s.Handler(), "/metrics"); r.code != http.StatusOK || r.header.Get("X-Data-Timestamp") != "" {
		t.Errorf("/metrics before the first refresh: %d X-Data-Timestamp %q, want 200 and none", r.code, r.header.Get("X-Data-Timestamp"))
	}
	if err := exp.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := exp.Model().Now.Format(time.RFC3339)
	for _, accept := range []string{"", "application/openmetrics-text; version=1.0.0", "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"} {
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		r := response{rec.Code, rec.Header(), rec.Body.String()}
		if r.code != http.StatusOK || r.header.Get("X-Data-Timestamp") != want {
			t.Errorf("/metrics Accept %q: %d X-Data-Timestamp %q, want %q", accept, r.code, r.header.Get("X-Data-Timestamp"), want)
		}
	}
}

func TestExporter_SyncAnswers502WhenIntercomIsUnreachable(t *testing.T) {
	fake := intercomtest.NewServer(intercomtest.NewWorkspace("UTC"), intercomtest.Options{Token: exporterTestToken})
	base := fake.URL()
	fake.Close() // nothing listens there any more
	_, s := newRealExporter(t, base)
	r := postSync(t, s, "/sync")
	if r.code != http.StatusBadGateway {
		t.Errorf("POST /sync with Intercom unreachable: %d %s, want 502", r.code, r.body)
	}
}
