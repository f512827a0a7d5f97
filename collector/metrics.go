package collector

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/coaching/intercom_exporter/engagement"
)

// metrics holds the descriptors (made once) and the exporter's own
// counters and gauges. Collect builds const metrics from them and from the
// published publication; nothing is computed at scrape time.
type metrics struct {
	interval float64

	reportFams            [numFamilies]reportFamily
	mergedFam, invalidFam reportFamily
	report                [numFamilies]*prometheus.Desc
	up                    *prometheus.Desc
	lastSuccess           *prometheus.Desc
	dataTime              *prometheus.Desc
	lastDur               *prometheus.Desc
	intervalD             *prometheus.Desc
	refreshes             *prometheus.Desc
	failures              *prometheus.Desc
	apiRequests           *prometheus.Desc
	rateLimit             *prometheus.Desc
	rateRemain            *prometheus.Desc
	invalid               *prometheus.Desc
	merged                *prometheus.Desc
	syncRuns              *prometheus.Desc
	syncSuccess           *prometheus.Desc
	syncUpdated           *prometheus.Desc
	syncFailed            *prometheus.Desc
	saveFailed            *prometheus.Desc
	setAside              *prometheus.Desc

	mu            sync.Mutex // guards everything below
	attempted     bool
	upV           bool
	lastSuccessV  time.Time
	lastDurV      time.Duration
	refreshesV    float64
	failuresV     float64
	api           map[[2]string]float64 // {endpoint, code}
	rateSeen      bool
	rateLimitV    float64
	rateRemainV   float64
	syncRunsV     map[[2]string]float64 // {mode, result}
	syncSuccessV  time.Time
	syncUpdatedV  map[string]float64
	syncFailuresV float64
	saveFailedV   float64
	setAsideV     float64
	// dataTimeV is the start of the read the published reports are
	// current as of (zero before anything is published).
	dataTimeV time.Time
}

func newMetrics(set Settings) *metrics {
	cached := fmt.Sprintf(" Cached: refreshed from Intercom every %s, not per scrape.", set.RefreshInterval)
	m := &metrics{
		interval: set.RefreshInterval.Seconds(),
		up: prometheus.NewDesc("intercom_up",
			"1 if the last refresh of Intercom data succeeded, else 0.", nil, nil),
		lastSuccess: prometheus.NewDesc("intercom_refresh_last_success_timestamp_seconds",
			"End of the last successful refresh of Intercom data (UNIX seconds).", nil, nil),
		lastDur: prometheus.NewDesc("intercom_last_refresh_duration_seconds",
			"How long the last refresh of Intercom data took.", nil, nil),
		intervalD: prometheus.NewDesc("intercom_refresh_interval_seconds",
			"The configured interval between refreshes of Intercom data (REFRESH_INTERVAL).", nil, nil),
		refreshes: prometheus.NewDesc("intercom_refreshes_total",
			"Refreshes of Intercom data attempted.", nil, nil),
		failures: prometheus.NewDesc("intercom_refresh_failures_total",
			"Refreshes of Intercom data that failed (the previous reports stay published).", nil, nil),
		apiRequests: prometheus.NewDesc("intercom_api_requests_total",
			"Intercom API calls by route template and HTTP status (\"error\" for a transport failure).",
			[]string{"endpoint", "code"}, nil),
		rateLimit: prometheus.NewDesc("intercom_api_rate_limit",
			"Last X-RateLimit-Limit seen from Intercom.", nil, nil),
		rateRemain: prometheus.NewDesc("intercom_api_rate_limit_remaining",
			"Last X-RateLimit-Remaining seen from Intercom.", nil, nil),
		syncRuns: prometheus.NewDesc("intercom_sync_runs_total",
			"Engagement sync runs by mode and result (success, partial, failed, blocked).",
			[]string{"mode", "result"}, nil),
		syncSuccess: prometheus.NewDesc("intercom_sync_last_success_timestamp_seconds",
			"End of the last successful engagement sync run (UNIX seconds).", nil, nil),
		syncUpdated: prometheus.NewDesc("intercom_sync_contacts_updated_total",
			"Contacts written by the engagement sync, by their new status.", []string{"status"}, nil),
		syncFailed: prometheus.NewDesc("intercom_sync_failures_total",
			"Contact updates of the engagement sync that failed for good in a run.", nil, nil),
		saveFailed: prometheus.NewDesc("intercom_state_save_failures_total",
			"Saves of the state file in STATE_DIR that failed (frozen billing months may not be persisted).", nil, nil),
		setAside: prometheus.NewDesc("intercom_state_set_aside_files",
			"State files set aside in STATE_DIR (damaged, a newer version, another workspace); above 0, no billing month is frozen.", nil, nil),
		api:          map[[2]string]float64{},
		syncRunsV:    map[[2]string]float64{},
		syncUpdatedV: map[string]float64{},
	}
	// The report metrics: described once, for Collect and for the
	// encoder (encode.go).
	m.dataTime = prometheus.NewDesc("intercom_data_timestamp_seconds",
		"Start of the last successful read of Intercom: the published reports are current as of then, "+
			"changed or not (UNIX seconds); time() minus it is the data's age.", nil, nil)
	m.invalidFam = newReportFamily("intercom_invalid_attribute_values",
		"Contacts in the latest snapshot whose value of this time attribute could not be read.", "attribute")
	m.mergedFam = newReportFamily("intercom_merged_employers",
		"Employers merged into employer=\"(other)\" by the series budget (MAX_SERIES_PER_FAMILY), by family.", "family")
	for i := range families {
		f := &families[i]
		m.reportFams[i] = newReportFamily(f.name, f.help+cached, f.labels...)
		m.report[i] = m.reportFams[i].desc()
	}
	m.invalid, m.merged = m.invalidFam.desc(), m.mergedFam.desc()
	// Counters that exist from the start, so that rates and increases see
	// the first run.
	if mode := set.SyncMode; mode != engagement.ModeOff && mode != "" {
		modes := []engagement.Mode{engagement.ModeDryRun}
		if mode == engagement.ModeApply {
			modes = append(modes, engagement.ModeApply)
		}
		for _, md := range modes {
			for _, r := range []string{engagement.ResultSuccess, engagement.ResultPartial, engagement.ResultFailed, engagement.ResultBlocked} {
				m.syncRunsV[[2]string{string(md), r}] = 0
			}
		}
		for _, s := range engagement.Statuses {
			if engagement.Writable(s) {
				m.syncUpdatedV[s] = 0
			}
		}
	}
	return m
}

// ObserveRequest implements intercom.Observer.
func (m *metrics) ObserveRequest(_, endpoint, code string, _ time.Duration) {
	m.mu.Lock()
	m.api[[2]string{endpoint, code}]++
	m.mu.Unlock()
}

// ObserveRateLimit implements intercom.Observer.
func (m *metrics) ObserveRateLimit(limit, remaining int, _ time.Time) {
	m.mu.Lock()
	m.rateSeen, m.rateLimitV, m.rateRemainV = true, float64(limit), float64(remaining)
	m.mu.Unlock()
}

// stateSaveFailed counts a failed save of the state file.
func (m *metrics) stateSaveFailed() {
	m.mu.Lock()
	m.saveFailedV++
	m.mu.Unlock()
}

// setAsideFiles records how many state files are set aside.
func (m *metrics) setAsideFiles(n int) {
	m.mu.Lock()
	m.setAsideV = float64(n)
	m.mu.Unlock()
}

// restored sets the last success to that of the refresh whose reports were
// restored from saved state (intercom_up stays 0 until a refresh succeeds).
func (m *metrics) restored(lastSuccess time.Time) {
	m.mu.Lock()
	m.lastSuccessV = lastSuccess
	m.mu.Unlock()
}

func (m *metrics) refreshStarted() {
	m.mu.Lock()
	m.refreshesV++
	m.mu.Unlock()
}

func (m *metrics) refreshFinished(ok bool, end time.Time, took time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.attempted = true
	m.upV = ok
	m.lastDurV = took
	if ok {
		m.lastSuccessV = end
	} else {
		m.failuresV++
	}
}

func (m *metrics) syncFinished(s engagement.Summary, end time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.syncRunsV[[2]string{string(s.Mode), s.Result}]++
	if s.Result == engagement.ResultSuccess {
		m.syncSuccessV = end
	}
	for st, n := range s.WrittenByStatus {
		m.syncUpdatedV[st] += float64(n)
	}
	m.syncFailuresV += float64(s.Failed)
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	c.describeReports(ch)
	c.describeHealth(ch)
}

// Collect implements prometheus.Collector: the published publication and the
// exporter's own state, as const metrics. It never calls Intercom.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	if s := c.pub.Load(); s != nil {
		c.collectReports(s, ch)
	}
	c.collectHealth(ch)
}

// describeReports describes the metrics of a publication.
func (c *Collector) describeReports(ch chan<- *prometheus.Desc) {
	m := c.m
	for _, d := range m.report {
		ch <- d
	}
	for _, d := range []*prometheus.Desc{m.merged, m.invalid} {
		ch <- d
	}
}

// describeHealth describes the exporter's own metrics.
func (c *Collector) describeHealth(ch chan<- *prometheus.Desc) {
	m := c.m
	for _, d := range []*prometheus.Desc{m.up, m.lastSuccess, m.lastDur, m.intervalD, m.refreshes,
		m.failures, m.apiRequests, m.rateLimit, m.rateRemain, m.syncRuns,
		m.syncSuccess, m.syncUpdated, m.syncFailed, m.saveFailed, m.setAside, m.dataTime} {
		ch <- d
	}
}

// collectReports sends the metrics of a published publication: the report
// families, the employers merged and the unreadable values per family or
// attribute.
func (c *Collector) collectReports(s *publication, ch chan<- prometheus.Metric) {
	m := c.m
	for i := range families {
		f := &families[i]
		d := m.report[i]
		for _, sr := range s.series[i] {
			if f.fixed == nil {
				ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, sr.values[0], sr.labels...)
				continue
			}
			lv := append(slices.Clone(sr.labels), "")
			for j, fv := range f.fixed {
				lv[len(lv)-1] = fv
				ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, sr.values[j], lv...)
			}
		}
		ch <- prometheus.MustNewConstMetric(m.merged, prometheus.GaugeValue, float64(s.merged[i]), f.name)
	}
	for _, a := range s.attrOrder {
		ch <- prometheus.MustNewConstMetric(m.invalid, prometheus.GaugeValue, float64(s.invalid[a]), a)
	}
}

// collectHealth sends the exporter's own metrics (refreshes, API calls,
// rate limit, sync).
func (c *Collector) collectHealth(ch chan<- prometheus.Metric) {
	m := c.m
	// Build the metrics under the lock, send them after: a slow reader of
	// ch never holds up the Intercom client's observer calls.
	var out []prometheus.Metric
	add := func(d *prometheus.Desc, t prometheus.ValueType, v float64, lv ...string) {
		out = append(out, prometheus.MustNewConstMetric(d, t, v, lv...))
	}
	m.mu.Lock()
	add(m.up, prometheus.GaugeValue, b2f(m.upV))
	if !m.lastSuccessV.IsZero() {
		add(m.lastSuccess, prometheus.GaugeValue, unixSeconds(m.lastSuccessV))
	}
	if m.attempted {
		add(m.lastDur, prometheus.GaugeValue, m.lastDurV.Seconds())
	}
	add(m.intervalD, prometheus.GaugeValue, m.interval)
	add(m.refreshes, prometheus.CounterValue, m.refreshesV)
	add(m.failures, prometheus.CounterValue, m.failuresV)
	for k, v := range m.api {
		add(m.apiRequests, prometheus.CounterValue, v, k[0], k[1])
	}
	if m.rateSeen {
		add(m.rateLimit, prometheus.GaugeValue, m.rateLimitV)
		add(m.rateRemain, prometheus.GaugeValue, m.rateRemainV)
	}
	for k, v := range m.syncRunsV {
		add(m.syncRuns, prometheus.CounterValue, v, k[0], k[1])
	}
	if !m.syncSuccessV.IsZero() {
		add(m.syncSuccess, prometheus.GaugeValue, unixSeconds(m.syncSuccessV))
	}
	for k, v := range m.syncUpdatedV {
		add(m.syncUpdated, prometheus.CounterValue, v, k)
	}
	if len(m.syncRunsV) > 0 {
		add(m.syncFailed, prometheus.CounterValue, m.syncFailuresV)
	}
	add(m.saveFailed, prometheus.CounterValue, m.saveFailedV)
	add(m.setAside, prometheus.GaugeValue, m.setAsideV)
	if !m.dataTimeV.IsZero() {
		add(m.dataTime, prometheus.GaugeValue, unixSeconds(m.dataTimeV))
	}
	m.mu.Unlock()
	for _, x := range out {
		ch <- x
	}
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
