package main

import (
	"context"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
)

// scrapeResult is the /metrics latency test.
type scrapeResult struct {
	Planned   int     `json:"planned"`
	Completed int     `json:"completed"`
	Errors    int     `json:"errors"`
	P50ms     float64 `json:"p50_ms"`
	P99ms     float64 `json:"p99_ms"`
	Maxms     float64 `json:"max_ms"`
	Seconds   float64 `json:"seconds"`
	BodyBytes int64   `json:"body_bytes_as_sent"`
	CapHit    bool    `json:"cap_hit"`
}

// prometheusAccept is what Prometheus 2.x/3.x asks for by default (text
// formats; it also sends Accept-Encoding: gzip).
const prometheusAccept = "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.1"

// scrape runs scrapers goroutines of each scrapes /metrics scrapes, at most
// cap in all, and measures each scrape to the last byte of the body.
func scrape(ctx context.Context, addr string, scrapers, each int, capTime time.Duration) scrapeResult {
	ctx, cancel := context.WithTimeout(ctx, capTime)
	defer cancel()
	tr := &http.Transport{MaxIdleConns: scrapers, MaxIdleConnsPerHost: scrapers}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	var (
		mu   sync.Mutex
		lat  []time.Duration
		errs int
		body int64
		wg   sync.WaitGroup
	)
	t0 := time.Now()
	for range scrapers {
		wg.Go(func() {
			for range each {
				if ctx.Err() != nil {
					return
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
				req.Header.Set("Accept", prometheusAccept)
				// Asked explicitly, the body is read as sent (not
				// decompressed): the client's own CPU, on the same two
				// cores, stays out of the daemon's latency.
				req.Header.Set("Accept-Encoding", "gzip")
				start := time.Now()
				resp, err := hc.Do(req)
				var n int64
				if err == nil {
					n, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != http.StatusOK {
						err = io.ErrUnexpectedEOF
					}
				}
				d := time.Since(start)
				mu.Lock()
				if err != nil {
					if ctx.Err() == nil {
						errs++
					}
				} else {
					lat = append(lat, d)
					body = n
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	res := scrapeResult{Planned: scrapers * each, Completed: len(lat), Errors: errs, BodyBytes: body,
		Seconds: round2(time.Since(t0).Seconds()), CapHit: ctx.Err() != nil}
	if len(lat) > 0 {
		slices.Sort(lat)
		q := func(p float64) float64 {
			i := int(float64(len(lat))*p+0.999999) - 1
			i = max(0, min(i, len(lat)-1))
			return float64(lat[i].Microseconds()) / 1000
		}
		res.P50ms, res.P99ms, res.Maxms = q(0.50), q(0.99), float64(lat[len(lat)-1].Microseconds())/1000
	}
	return res
}
