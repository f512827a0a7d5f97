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
	"github.com/coaching/intercom_exporter/daemon"
	"github.com/coaching/intercom_exporter/engagement"
	"github.com/coaching/intercom_exporter/intercom"
	"github.com/coaching/intercom_exporter/intercom/intercomtest"
	"github.com/coaching/intercom_exporter/replica"
)

// These tests serve a real daemon.Exporter, wired as main.go wires it,
// against the fake Intercom.

const exporterTestToken = "tok_web_test_8c1d4e"

func newRealExporter(t *testing.T, apiBase string) (*daemon.Exporter, *Server) {
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
	rset := replica.Settings{
		Rules: cfg.Engagement(), ChannelAttribute: cfg.ChannelAttribute, EmployerAttribute: cfg.EmployerAttribute,
		RegistrationAttributes: cfg.RegistrationAttributes, LastCallAttribute: cfg.LastCallAttribute,
		StatusAttribute: cfg.StatusAttribute, RefreshConcurrency: cfg.RefreshConcurrency,
		FullRefreshInterval: cfg.FullRefreshInterval,
	}
	col := collector.New(collector.Settings{RefreshInterval: cfg.RefreshInterval, MaxSeriesPerFamily: cfg.MaxSeriesPerFamily,
		TimeAttributes: rset.TimeAttributes(), SyncMode: cfg.Mode()}, log)
	client, err := intercom.New(cfg.APIBase, cfg.AccessToken.Reveal(), cfg.Version, intercom.WithObserver(col),
		intercom.WithLogger(log), intercom.WithRequestTimeout(cfg.RequestTimeout),
		intercom.WithRetry(cfg.RetryMaxAttempts, cfg.RetryBackoff, cfg.RetryMaxBackoff))
	if err != nil {
		t.Fatal(err)
	}
	runner := engagement.NewRunner(daemon.NewContactWriter(client.Share(0.5), cfg.LastCallAttribute, cfg.StatusAttribute),
		engagement.RunnerOptions{Concurrency: cfg.SyncConcurrency, MaxWrites: cfg.SyncMaxWrites})
	exp := daemon.New(daemon.Settings{
		Rules: cfg.Engagement(), RefreshInterval: cfg.RefreshInterval, RefreshTimeout: cfg.RefreshTimeout,
		SyncMode: cfg.Mode(), SyncSchedule: cfg.SyncSchedule,
		LastCallAttribute: cfg.LastCallAttribute, StatusAttribute: cfg.StatusAttribute,
		BillingFreezeDays: cfg.BillingFreezeDays, StateDir: cfg.StateDir, Identity: cfg.APIBase,
	}, daemon.Parts{Replica: replica.New(client, rset, log), Collector: col, Runner: runner, Attributes: client, Logger: log})
	t.Cleanup(exp.FlushState)
	reg := prometheus.NewRegistry()
	reg.MustRegister(col.Health())
	metrics := promhttp.InstrumentMetricHandler(reg, col.MetricsHandler(reg, promhttp.HandlerOpts{EnableOpenMetrics: true}, log))
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
