// Package collector publishes the coaching reports as Prometheus metrics:
// each refresh hands it a model and its reports, it prepares every series
// once (within the series budget) and swaps them in atomically; scrapes
// read the published set and never compute a report. It also keeps the
// exporter's own metrics (refreshes, Intercom API calls, rate limit,
// sync). It never calls Intercom and knows nothing of the configuration.
package collector

import (
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/coaching/intercom_exporter/engagement"
)

// Settings are what the metrics depend on (docs/metrics.md).
type Settings struct {
	// RefreshInterval is shown in intercom_refresh_interval_seconds and the
	// report metrics' help.
	RefreshInterval time.Duration
	// MaxSeriesPerFamily is the series budget of each report family.
	MaxSeriesPerFamily int
	// TimeAttributes are the attributes of intercom_invalid_attribute_values,
	// in order.
	TimeAttributes []string
	// SyncMode says which sync counters exist from the start ("" or off:
	// none).
	SyncMode engagement.Mode
}

// Collector is a prometheus.Collector of the published reports and the
// exporter's own metrics. Publish and the counters are safe to call while
// scrapes run.
type Collector struct {
	set Settings
	log *slog.Logger
	m   *metrics
	pub atomic.Pointer[publication]
	// live shares gathers of the live metrics among concurrent scrapes.
	live liveGathers
}

// New is a Collector with nothing published yet.
func New(set Settings, log *slog.Logger) *Collector {
	if log == nil {
		log = slog.Default()
	}
	return &Collector{set: set, log: log, m: newMetrics(set)}
}

// Publish prepares the series of a model's reports (computed by the
// caller, which may have replaced the billing cohort by a frozen one) and
// swaps them in; invalid counts the unreadable time attribute values by
// attribute. m and rep must not change afterwards.
func (c *Collector) Publish(m *engagement.Model, rep engagement.Reports, invalid map[string]int) {
	c.pub.Store(c.newPublication(m, rep, invalid))
	c.DataCurrent(m.Now)
}

// DataCurrent records that the published reports are current as of t (the
// start of a read that found nothing changed, or of the read they were
// computed from): intercom_data_timestamp_seconds. It is served with the
// live metrics, so advancing it costs no new encoding of the reports.
func (c *Collector) DataCurrent(t time.Time) {
	c.m.mu.Lock()
	c.m.dataTimeV = t
	c.m.mu.Unlock()
}

// DataTimestamp is what DataCurrent last recorded (zero before anything
// is published).
func (c *Collector) DataTimestamp() time.Time {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	return c.m.dataTimeV
}

// Withdraw takes the published reports back: nothing is published until
// the next Publish (reports restored from state that turned out to be
// another workspace's).
func (c *Collector) Withdraw() { c.pub.Store(nil) }

// MergedEmployers names, by metric family, the employers that the series
// budget merged into employer="(other)" in the reports published for m, so
// that the member files take employer=(other) as the dashboards do
// (docs/dashboards.md). Nil when m is not the published model or nothing
// was merged.
func (c *Collector) MergedEmployers(m *engagement.Model) map[string][]string {
	p := c.pub.Load()
	if p == nil || p.model != m {
		return nil
	}
	var out map[string][]string
	for i, names := range p.mergedEmps {
		if len(names) == 0 {
			continue
		}
		if out == nil {
			out = map[string][]string{}
		}
		out[families[i].name] = names
	}
	return out
}

// Model is the published model, nil before anything is published.
func (c *Collector) Model() *engagement.Model {
	if p := c.pub.Load(); p != nil {
		return p.model
	}
	return nil
}

// RefreshStarted counts a refresh attempt.
func (c *Collector) RefreshStarted() { c.m.refreshStarted() }

// RefreshFinished records a refresh's outcome, end and duration.
func (c *Collector) RefreshFinished(ok bool, end time.Time, took time.Duration) {
	c.m.refreshFinished(ok, end, took)
}

// Restored sets the last success to that of the refresh whose reports were
// restored from saved state (intercom_up stays 0 until a refresh succeeds).
func (c *Collector) Restored(lastSuccess time.Time) { c.m.restored(lastSuccess) }

// SyncFinished records a sync run.
func (c *Collector) SyncFinished(s engagement.Summary, end time.Time) { c.m.syncFinished(s, end) }

// StateSaveFailed counts a failed save of the state file
// (intercom_state_save_failures_total).
func (c *Collector) StateSaveFailed() { c.m.stateSaveFailed() }

// SetAsideFiles records how many state files are set aside in STATE_DIR
// (intercom_state_set_aside_files).
func (c *Collector) SetAsideFiles(n int) { c.m.setAsideFiles(n) }

// ObserveRequest counts an Intercom API call (the Intercom client's
// observer).
func (c *Collector) ObserveRequest(method, endpoint, code string, took time.Duration) {
	c.m.ObserveRequest(method, endpoint, code, took)
}

// ObserveRateLimit records the rate limit Intercom last reported.
func (c *Collector) ObserveRateLimit(limit, remaining int, reset time.Time) {
	c.m.ObserveRateLimit(limit, remaining, reset)
}
