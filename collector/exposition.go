package collector

import (
	"bytes"
	"compress/gzip"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
)

// Health is a prometheus.Collector of the exporter's own metrics only
// (refreshes, API calls, rate limit, sync): the registry behind
// MetricsHandler holds it instead of the Exporter, whose report metrics
// the handler serves itself.
func (e *Exporter) Health() prometheus.Collector { return healthCollector{e} }

type healthCollector struct{ e *Exporter }

func (h healthCollector) Describe(ch chan<- *prometheus.Desc) { h.e.describeHealth(ch) }
func (h healthCollector) Collect(ch chan<- prometheus.Metric) { h.e.collectHealth(ch) }

// reportCollector is the metrics of one snapshot, or (s nil) of the
// snapshot published when collected.
type reportCollector struct {
	e *Exporter
	s *snapshot
}

func (r reportCollector) Describe(ch chan<- *prometheus.Desc) { r.e.describeReports(ch) }
func (r reportCollector) Collect(ch chan<- prometheus.Metric) {
	s := r.s
	if s == nil {
		s = r.e.snap.Load()
	}
	if s != nil {
		r.e.collectReports(s, ch)
	}
}

// encoded is a snapshot's report metrics in one exposition format, plain
// and as one gzip member, made on first use.
type encoded struct {
	once      sync.Once
	plain, gz []byte
	err       error
}

// MetricsHandler serves /metrics: the report metrics of the published
// snapshot from an encoding made once per snapshot (per exposition format,
// on the first scrape that asks for it), then what g gathers at every
// scrape (the exporter's Health, the Go and process collectors, build
// info). A large workspace publishes tens of thousands of report series:
// encoding them for every scrape costs tens of milliseconds and about
// 15 MB each, which concurrent scrapes would take from the refresh. With
// gzip, the response is two gzip members (RFC 1952 allows any number).
// Requests that filter by name[] or ask for a protobuf format are served
// by promhttp, uncached.
func (e *Exporter) MetricsHandler(g prometheus.Gatherer, opts promhttp.HandlerOpts, log *slog.Logger) http.Handler {
	accepted := expfmt.DefaultAcceptedFormats()
	if opts.EnableOpenMetrics {
		accepted = expfmt.DefaultOpenMetricsAcceptedFormats()
	}
	published := prometheus.NewRegistry()
	published.MustRegister(reportCollector{e: e})
	uncached := promhttp.HandlerFor(prometheus.Gatherers{published, g}, opts)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		format := expfmt.NegotiateAccept(r.Header, accepted...)
		if t := format.FormatType(); (t != expfmt.TypeTextPlain && t != expfmt.TypeOpenMetrics) ||
			(r.URL != nil && len(r.URL.Query()["name[]"]) > 0) {
			uncached.ServeHTTP(w, r)
			return
		}
		mfs, err := g.Gather()
		if err != nil {
			log.Error("gathering metrics failed", "err", err)
			http.Error(w, "An error has occurred while gathering metrics:\n\n"+err.Error(), http.StatusInternalServerError)
			return
		}
		var live bytes.Buffer
		enc := expfmt.NewEncoder(&live, format)
		for _, mf := range mfs {
			if err := enc.Encode(mf); err != nil {
				log.Error("encoding metrics failed", "err", err)
				http.Error(w, "An error has occurred while encoding metrics: "+err.Error(), http.StatusInternalServerError)
				return
			}
		}
		if c, ok := enc.(expfmt.Closer); ok {
			_ = c.Close() // OpenMetrics' final "# EOF", after every family
		}
		var rep *encoded
		if s := e.snap.Load(); s != nil {
			rep = e.encodedReports(s, format)
			if rep.err != nil {
				log.Error("encoding report metrics failed", "err", rep.err)
				http.Error(w, "An error has occurred while encoding metrics: "+rep.err.Error(), http.StatusInternalServerError)
				return
			}
		}
		h := w.Header()
		h.Add("Vary", "Accept")
		h.Add("Vary", "Accept-Encoding")
		h.Set("Content-Type", string(format))
		if acceptsGzip(r.Header.Get("Accept-Encoding")) {
			h.Set("Content-Encoding", "gzip")
			if rep != nil {
				_, _ = w.Write(rep.gz)
			}
			zw := gzipWriters.Get().(*gzip.Writer)
			zw.Reset(w)
			_, _ = zw.Write(live.Bytes())
			_ = zw.Close()
			gzipWriters.Put(zw)
			return
		}
		if rep != nil {
			h.Set("Content-Length", strconv.Itoa(len(rep.plain)+live.Len()))
			_, _ = w.Write(rep.plain)
		}
		_, _ = w.Write(live.Bytes())
	})
}

// gzipWriters are reused: a compressor's state is about a megabyte.
var gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(io.Discard) }}

// encodedReports is s's report metrics encoded in format.
func (e *Exporter) encodedReports(s *snapshot, format expfmt.Format) *encoded {
	v, _ := s.encodings.LoadOrStore(format, &encoded{})
	x := v.(*encoded)
	x.once.Do(func() {
		reg := prometheus.NewRegistry()
		if x.err = reg.Register(reportCollector{e, s}); x.err != nil {
			return
		}
		mfs, err := reg.Gather()
		if x.err = err; err != nil {
			return
		}
		var plain bytes.Buffer
		enc := expfmt.NewEncoder(&plain, format) // not closed: the live part ends it
		for _, mf := range mfs {
			if x.err = enc.Encode(mf); x.err != nil {
				return
			}
		}
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		_, _ = zw.Write(plain.Bytes())
		if x.err = zw.Close(); x.err != nil {
			return
		}
		x.plain, x.gz = plain.Bytes(), gz.Bytes()
	})
	return x
}

// acceptsGzip reads an Accept-Encoding header: gzip with a q-value above 0.
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		q := strings.TrimSpace(params)
		if v, ok := strings.CutPrefix(q, "q="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil && f <= 0 {
				return false
			}
		}
		return true
	}
	return false
}
