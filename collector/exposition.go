package collector

import (
	"bytes"
	"compress/gzip"
	"fmt"
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
// MetricsHandler holds it instead of the Collector, whose report metrics
// the handler serves itself.
func (c *Collector) Health() prometheus.Collector { return healthCollector{c} }

type healthCollector struct{ c *Collector }

func (h healthCollector) Describe(ch chan<- *prometheus.Desc) { h.c.describeHealth(ch) }
func (h healthCollector) Collect(ch chan<- prometheus.Metric) { h.c.collectHealth(ch) }

// reportCollector is the metrics of one publication, or (s nil) of the
// publication published when collected.
type reportCollector struct {
	c *Collector
	s *publication
}

func (r reportCollector) Describe(ch chan<- *prometheus.Desc) { r.c.describeReports(ch) }
func (r reportCollector) Collect(ch chan<- prometheus.Metric) {
	s := r.s
	if s == nil {
		s = r.c.pub.Load()
	}
	if s != nil {
		r.c.collectReports(s, ch)
	}
}

// encoded is a publication's report metrics in one exposition format, plain
// and as one gzip member, made on first use.
type encoded struct {
	once      sync.Once
	plain, gz []byte
	err       error
}

// MetricsHandler serves /metrics: the report metrics of the published
// publication from an encoding made once per publication (per exposition format,
// on the first scrape that asks for it), then what g gathers at every
// scrape (the exporter's Health, the Go and process collectors, build
// info). A large workspace publishes tens of thousands of report series:
// encoding them for every scrape costs tens of milliseconds and about
// 15 MB each, which concurrent scrapes would take from the refresh. With
// gzip, the response is two gzip members (RFC 1952 allows any number).
// Requests that filter by name[] or ask for a protobuf format are served
// by promhttp, uncached.
func (c *Collector) MetricsHandler(g prometheus.Gatherer, opts promhttp.HandlerOpts, log *slog.Logger) http.Handler {
	accepted := expfmt.DefaultAcceptedFormats()
	if opts.EnableOpenMetrics {
		accepted = expfmt.DefaultOpenMetricsAcceptedFormats()
	}
	published := prometheus.NewRegistry()
	published.MustRegister(reportCollector{c: c})
	uncached := promhttp.HandlerFor(prometheus.Gatherers{published, g}, opts)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		format := expfmt.NegotiateAccept(r.Header, accepted...)
		if t := format.FormatType(); (t != expfmt.TypeTextPlain && t != expfmt.TypeOpenMetrics) ||
			(r.URL != nil && len(r.URL.Query()["name[]"]) > 0) {
			uncached.ServeHTTP(w, r)
			return
		}
		live, err := c.live.get(g, format)
		if err != nil {
			log.Error("gathering metrics failed", "err", err)
			http.Error(w, "An error has occurred while gathering metrics:\n\n"+err.Error(), http.StatusInternalServerError)
			return
		}
		var rep *encoded
		if s := c.pub.Load(); s != nil {
			rep = c.encodedReports(s, format)
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
			_, _ = w.Write(live.gzipped())
			return
		}
		if rep != nil {
			h.Set("Content-Length", strconv.Itoa(len(rep.plain)+len(live.plain)))
			_, _ = w.Write(rep.plain)
		}
		_, _ = w.Write(live.plain)
	})
}

// gzipWriters are reused: a compressor's state is about a megabyte.
var gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(io.Discard) }}

// encodedReports is s's report metrics encoded in format.
func (c *Collector) encodedReports(s *publication, format expfmt.Format) *encoded {
	v, _ := s.encodings.LoadOrStore(format, &encoded{})
	x := v.(*encoded)
	x.once.Do(func() {
		var plain bytes.Buffer
		plain.Grow(64 << 10)
		c.writeReports(&plain, s, format.FormatType() == expfmt.TypeOpenMetrics)
		// The fastest compression: a large exposition is compressed once per
		// refresh and format, on the scrape that first asks for it.
		var gz bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
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

// liveGathers shares one gather of the live metrics (health, go_*,
// process_*) among the scrapes that arrive while it runs: 50 scrapers at
// once cost a few gathers, not 50, and no scrape gets values older than
// its own arrival.
type liveGathers struct {
	mu       sync.Mutex
	inflight map[expfmt.Format]*liveGather
}

type liveGather struct {
	done   chan struct{}
	plain  []byte
	err    error
	gzOnce sync.Once
	gz     []byte
}

func (l *liveGathers) get(g prometheus.Gatherer, format expfmt.Format) (*liveGather, error) {
	l.mu.Lock()
	if c, ok := l.inflight[format]; ok {
		l.mu.Unlock()
		<-c.done
		return c, c.err
	}
	c := &liveGather{done: make(chan struct{})}
	if l.inflight == nil {
		l.inflight = map[expfmt.Format]*liveGather{}
	}
	l.inflight[format] = c
	l.mu.Unlock()

	c.plain, c.err = encodeLive(g, format)
	l.mu.Lock()
	delete(l.inflight, format)
	l.mu.Unlock()
	close(c.done)
	return c, c.err
}

func encodeLive(g prometheus.Gatherer, format expfmt.Format) ([]byte, error) {
	mfs, err := g.Gather()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, format)
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return nil, fmt.Errorf("encoding metrics: %w", err)
		}
	}
	if c, ok := enc.(expfmt.Closer); ok {
		_ = c.Close() // OpenMetrics' final "# EOF", after every family
	}
	return buf.Bytes(), nil
}

// gzipped is the live part as one gzip member, compressed once per gather.
func (c *liveGather) gzipped() []byte {
	c.gzOnce.Do(func() {
		var buf bytes.Buffer
		zw := gzipWriters.Get().(*gzip.Writer)
		zw.Reset(&buf)
		_, _ = zw.Write(c.plain)
		_ = zw.Close()
		gzipWriters.Put(zw)
		c.gz = buf.Bytes()
	})
	return c.gz
}
