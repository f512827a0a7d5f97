package daemon_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/require"

	"github.com/coaching/intercom_exporter/intercom/intercomtest"
)

// BenchmarkScrape is one GET /metrics (gzip) of an exporter publishing
// about 16,000 report series (the scale harness's small workspace):
// promhttp over the whole exporter (encoding every series per scrape), and
// MetricsHandler as main serves it (report series encoded once per
// snapshot).
//
//	go test -run '^$' -bench Scrape -benchmem ./collector/
func BenchmarkScrape(b *testing.B) {
	genNow := time.Date(2026, 4, 30, 14, 0, 0, 0, time.UTC)
	ws := intercomtest.Generate(intercomtest.GenerateOptions{Seed: 1, Participants: 1500, OtherContacts: 3500,
		Conversations: 25000, Coaches: 20, Employers: 60, Now: genNow})
	srv := intercomtest.NewServer(ws, intercomtest.Options{Token: testToken})
	defer srv.Close()
	e := newEnv(srv)
	e["SYNC_MODE"] = "dry-run"
	exp := newExporter(b, e, func() time.Time { return genNow }, nil)
	require.NoError(b, exp.Refresh(context.Background()))
	opts := promhttp.HandlerOpts{EnableOpenMetrics: true}
	whole := prometheus.NewRegistry()
	whole.MustRegister(exp)
	live := prometheus.NewRegistry()
	live.MustRegister(exp.Health())
	for _, bc := range []struct {
		name   string
		h      http.Handler
		accept string
	}{
		{"promhttp/text", promhttp.HandlerFor(whole, opts), "text/plain"},
		{"promhttp/openmetrics", promhttp.HandlerFor(whole, opts), "application/openmetrics-text; version=1.0.0"},
		{"cached/text", exp.MetricsHandler(live, opts, slog.New(slog.DiscardHandler)), "text/plain"},
		{"cached/openmetrics", exp.MetricsHandler(live, opts, slog.New(slog.DiscardHandler)), "application/openmetrics-text; version=1.0.0"},
	} {
		h, accept := bc.h, bc.accept
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
				req.Header.Set("Accept", accept)
				req.Header.Set("Accept-Encoding", "gzip")
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != 200 {
					b.Fatal(rec.Code)
				}
			}
		})
	}
}
