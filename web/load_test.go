package web

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coaching/intercom_exporter/engagement"
)

// bigModel is a workspace whose October billing cohort has exactly rows
// members: all registered in October (new); every other one also has a
// call in October (engaged). Names carry the generation tag, so that a
// file mixing two models shows. 25 employers.
func bigModel(tag string, rows int, now time.Time) *engagement.Model {
	data := engagement.Data{AdminsKnown: true, Admins: []engagement.Admin{{ID: "1", Name: "Coach One"}}}
	data.Contacts = make([]engagement.Contact, rows)
	for i := range rows {
		id := fmt.Sprintf("%s%06d", strings.ToLower(tag), i)
		data.Contacts[i] = engagement.Contact{
			ID: id, ExternalID: "ext-" + id, Name: fmt.Sprintf("Member %s %06d", tag, i),
			Email:    fmt.Sprintf("member%06d@example.com", i),
			Employer: fmt.Sprintf("Employer %02d", i%25), Registration: regDay(10, 1+i%31),
		}
		if i%2 == 0 {
			data.Conversations = append(data.Conversations, engagement.Conversation{
				ID: fmt.Sprint(1_000_000 + i), CreatedAt: utcAt(10, 1+i%31, 10), State: "closed", Channel: "Phone",
				AdminID: "1", ContactIdx: []int32{int32(i)},
			})
		}
	}
	return engagement.Build(data, fixtureConfig(), now)
}

// TestLoad_ConcurrentBillingWhileModelsSwap has 50 clients pull a
// 50,000-row billing CSV over loopback while a goroutine swaps the
// published model between two generations. Every response must be complete
// and come from one model: its X-Data-Timestamp names the model, every row
// carries that model's tag, and the row count is that model's.
//
// Under -race every memory access is checked and one 50,000-row file costs
// about half a CPU second: each client then pulls about once (requests
// start only within pullFor), which still puts 50 full files in flight
// across the model swaps.
func TestLoad_ConcurrentBillingWhileModelsSwap(t *testing.T) {
	if testing.Short() {
		t.Skip("load test skipped with -short")
	}
	const clients = 50
	const pullFor = 3 * time.Second // new requests start until then
	const rowsA = 50_000
	rowsB := rowsA - 1_000
	type gen struct {
		tag  string
		rows int
	}
	modelA := bigModel("A", rowsA, fixtureNow)
	modelB := bigModel("B", rowsB, fixtureNow.Add(time.Hour))
	gens := map[string]gen{
		modelA.Now.Format(time.RFC3339): {"A", rowsA},
		modelB.Now.Format(time.RFC3339): {"B", rowsB},
	}
	src := newSource(modelA)
	s := newTestServer(t, func(o *Options) {
		o.Source = src
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	stop := make(chan struct{})
	var swaps atomic.Int64
	var swapper sync.WaitGroup
	swapper.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			if i%2 == 0 {
				src.model.Store(modelB)
			} else {
				src.model.Store(modelA)
			}
			swaps.Add(1)
		}
	})

	// No client timeout: what is tested is completeness, not speed (a
	// loaded machine under -race can take minutes); a hang still ends in
	// go test's own -timeout.
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	defer client.CloseIdleConnections()
	var (
		mu        sync.Mutex
		latencies []time.Duration
		seen      = map[string]int{}
		failures  []error
	)
	pull := func() error {
		start := time.Now()
		resp, err := client.Get(srv.URL + "/billing.csv?month=2026-10")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		ts := resp.Header.Get("X-Data-Timestamp")
		g, ok := gens[ts]
		if !ok {
			return fmt.Errorf("X-Data-Timestamp %q names no model", ts)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return fmt.Errorf("model %s: body cut short: %w", g.tag, err)
		}
		// The rows hold no quotes or newlines, so lines are rows; counting
		// bytes (not parsing every row with encoding/csv) keeps the client
		// cheap under -race, where the server is what is measured.
		if !bytes.HasPrefix(body, []byte("User ID,Name,")) || !bytes.HasSuffix(body, []byte("\n")) {
			return fmt.Errorf("model %s: incomplete file", g.tag)
		}
		lines := bytes.Count(body, []byte("\n")) - 1
		own := bytes.Count(body, []byte(",Member "+g.tag+" "))
		other := bytes.Count(body, []byte(",Member "))
		if lines != g.rows || own != g.rows || other != g.rows {
			return fmt.Errorf("torn or short read: model %s (%d rows) answered %d lines, %d of its rows, %d rows in all",
				g.tag, g.rows, lines, own, other)
		}
		mu.Lock()
		latencies = append(latencies, time.Since(start))
		seen[g.tag]++
		mu.Unlock()
		return nil
	}

	began := time.Now()
	deadline := began.Add(pullFor)
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for first := true; first || time.Now().Before(deadline); first = false {
				if err := pull(); err != nil {
					mu.Lock()
					failures = append(failures, err)
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(began)
	close(stop)
	swapper.Wait()

	for _, err := range failures {
		t.Error(err)
	}
	if len(latencies) == 0 {
		t.Fatal("no request succeeded")
	}
	slices.Sort(latencies)
	p99 := latencies[(len(latencies)*99+99)/100-1]
	t.Logf("race=%v: %d clients, %d requests of %d-row files in %v: %.1f requests/s, %.0f rows/s, p50 %v, p99 %v; %d model swaps, responses per model %v",
		raceEnabled, clients, len(latencies), rowsA, elapsed.Round(time.Millisecond), float64(len(latencies))/elapsed.Seconds(),
		float64(len(latencies))*float64(rowsA+rowsB)/2/elapsed.Seconds(), latencies[len(latencies)/2].Round(time.Millisecond),
		p99.Round(time.Millisecond), swaps.Load(), seen)
	if len(seen) != 2 {
		t.Logf("only one model was served (%v): the swap did not interleave with requests", seen)
	}
}

// discardWriter is a ResponseWriter that counts and drops the body.
type discardWriter struct {
	h http.Header
	n int64
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(int)             {}
func (w *discardWriter) Write(b []byte) (int, error) { w.n += int64(len(b)); return len(b), nil }

// BenchmarkBillingCSV serves a 50,000-row billing CSV from a published
// model (the member order is cached after the first request).
//
//	go test -run '^$' -bench BillingCSV -benchmem ./web/
func BenchmarkBillingCSV(b *testing.B) {
	for _, format := range []string{"csv", "json"} {
		b.Run(format, func(b *testing.B) {
			s := newTestServer(b, func(o *Options) { o.Source = newSource(bigModel("A", 50_000, fixtureNow)) })
			h := s.Handler()
			req := httptest.NewRequest(http.MethodGet, "/billing.csv?month=2026-10&format="+format, nil)
			w := &discardWriter{h: http.Header{}}
			h.ServeHTTP(w, req)
			b.SetBytes(w.n)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				w := &discardWriter{h: http.Header{}}
				h.ServeHTTP(w, req)
			}
			b.ReportMetric(float64(b.N)*50_000/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
