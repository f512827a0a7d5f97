package main

import (
	"fmt"
	"net"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/coaching/intercom_exporter/intercom/intercomtest"
)

// fake is the fake Intercom served on a 127.0.0.1 port of its own.
type fake struct {
	srv     *intercomtest.Server
	hs      *http.Server
	url     string
	token   string
	rate    int
	latency time.Duration
}

func startFake(ws *intercomtest.Workspace, token string, rate int, latency time.Duration) (*fake, error) {
	return startFakeLag(ws, token, rate, latency, 0)
}

// startFakeLag is startFake with a search index lag (a change is found by
// search only lag after it was made).
func startFakeLag(ws *intercomtest.Workspace, token string, rate int, latency, lag time.Duration) (*fake, error) {
	srv := intercomtest.NewServer(ws, intercomtest.Options{Token: token, RateLimitPerMinute: rate, Latency: latency, SearchLag: lag})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		srv.Close()
		return nil, err
	}
	f := &fake{srv: srv, url: "http://" + ln.Addr().String(), token: token, rate: rate, latency: latency}
	f.hs = &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = f.hs.Serve(ln) }()
	return f, nil
}

func (f *fake) close() {
	_ = f.hs.Close()
	f.srv.Close()
}

func (f *fake) reset() { f.srv.ResetRequests() }

// phaseStats is what the fake saw during one phase.
type phaseStats struct {
	Requests     int            `json:"requests"`
	Answered     int            `json:"answered_not_429"`
	TooMany      int            `json:"status_429"`
	OtherErrors  int            `json:"other_errors"`
	ByEndpoint   map[string]int `json:"by_endpoint"`
	First        time.Time      `json:"first"`
	Last         time.Time      `json:"last"`
	SpanSeconds  float64        `json:"span_seconds"` // first arrival to last arrival + latency
	MaxPerWindow int            `json:"max_per_10s_window"`
	Windows      []int          `json:"per_10s_window"` // answered calls in each 10-second window of the fake, in order
	Bodies       []string       `json:"-"`
}

func (f *fake) stats() phaseStats {
	reqs := f.srv.Requests()
	st := phaseStats{ByEndpoint: map[string]int{}}
	windows := map[int64]int{}
	for i, r := range reqs {
		st.Requests++
		st.ByEndpoint[r.Method+" "+r.Endpoint]++
		switch {
		case r.Status == http.StatusTooManyRequests:
			st.TooMany++
		case r.Status >= 400 || r.Status == 0:
			st.OtherErrors++
			st.Answered++
		default:
			st.Answered++
		}
		if r.Status != http.StatusTooManyRequests {
			windows[r.Time.Unix()-r.Time.Unix()%10]++
		}
		if i == 0 || r.Time.Before(st.First) {
			st.First = r.Time
		}
		if r.Time.After(st.Last) {
			st.Last = r.Time
		}
		if strings.HasSuffix(r.Endpoint, "/search") {
			st.Bodies = append(st.Bodies, r.Endpoint+" "+string(r.Body))
		}
	}
	var starts []int64
	for w, n := range windows {
		st.MaxPerWindow = max(st.MaxPerWindow, n)
		starts = append(starts, w)
	}
	slices.Sort(starts)
	if len(starts) > 0 {
		for w := starts[0]; w <= starts[len(starts)-1]; w += 10 {
			st.Windows = append(st.Windows, windows[w])
		}
	}
	if st.Requests > 0 {
		st.SpanSeconds = round2(st.Last.Add(f.latency).Sub(st.First).Seconds())
	}
	return st
}

// steadyRate is the mean rate, calls a minute, over the windows between
// the first and the last (those are partial); ok is false when there are
// none.
func (s phaseStats) steadyRate() (float64, bool) {
	if len(s.Windows) < 3 {
		return 0, false
	}
	inner := s.Windows[1 : len(s.Windows)-1]
	sum := 0
	for _, n := range inner {
		sum += n
	}
	return 6 * float64(sum) / float64(len(inner)), true
}

func (s phaseStats) windowList(n int) string {
	var parts []string
	for i, c := range s.Windows {
		if i == n {
			parts = append(parts, fmt.Sprintf("... (%d windows)", len(s.Windows)))
			break
		}
		parts = append(parts, strconv.Itoa(c))
	}
	return strings.Join(parts, " ")
}

// boundSeconds is the rate-limit bound of n requests at rate a minute.
func boundSeconds(n, rate int) float64 { return float64(n) / (float64(rate) / 60) }

func (s phaseStats) endpoints() string {
	keys := make([]string, 0, len(s.ByEndpoint))
	for k := range s.ByEndpoint {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return s.ByEndpoint[keys[i]] > s.ByEndpoint[keys[j]] })
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", strings.TrimPrefix(strings.TrimPrefix(k, "POST "), "GET "), s.ByEndpoint[k]))
	}
	return strings.Join(parts, ", ")
}

// firstSearchBodies gives a few distinct search queries (pagination
// stripped) of the phase, to show what the daemon asked.
func (s phaseStats) queries(n int) []string {
	var out []string
	for _, b := range s.Bodies {
		if i := strings.Index(b, `"pagination"`); i > 0 {
			b = b[:i]
		}
		if !slices.Contains(out, b) {
			out = append(out, b)
		}
		if len(out) >= n {
			break
		}
	}
	return out
}
