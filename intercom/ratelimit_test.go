package intercom

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// --- The limiter's model, on a fake clock. ---

// t0 is a whole second, like the server's window boundaries.
var t0 = time.Unix(1_780_000_000, 0)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func headers(limit, remaining int, reset time.Time, date time.Time) http.Header {
	h := http.Header{}
	h.Set("X-RateLimit-Limit", strconv.Itoa(limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	if !date.IsZero() {
		h.Set("Date", date.UTC().Format(http.TimeFormat))
	}
	return h
}

// start reserves at now and fails the test if the limiter refuses.
func start(t *testing.T, l *limiter, p *pacer, now time.Time) {
	t.Helper()
	wait, ok := l.reserve(now, p)
	require.True(t, ok, "refused at %v (wait %v)", now.Sub(t0), wait)
}

// primed is a limiter that has seen one answer: remaining calls left in the
// window ending at reset (one call done, so the capacity is remaining+1).
func primed(t *testing.T, remaining int, reset time.Time) (*limiter, *pacer) {
	l, p := newLimiter(), &pacer{fraction: 1}
	start(t, l, p, at(0))
	l.done(headers(10000, remaining, reset, time.Time{}), 200, at(0), at(1))
	return l, p
}

func TestLimiter_StartsAtTheLowestDocumentedRateBeforeAnyHeader(t *testing.T) {
	l, p := newLimiter(), &pacer{fraction: 1}
	start(t, l, p, at(0))
	wait, ok := l.reserve(at(1), p)
	assert.False(t, ok)
	assert.InDelta(t, (defaultWindow / defaultWindowCalls).Seconds(), (wait + time.Millisecond).Seconds(), 0.001,
		"1,000 calls a minute in 10 s windows: one call every ~60 ms")
	start(t, l, p, at(61))
}

func TestLimiter_SpreadsWhatIsLeftOverTheTimeToReset(t *testing.T) {
	var waits []time.Duration
	for _, remaining := range []int{9, 99, 1665} {
		l, p := primed(t, remaining, at(10000))
		now := startPaced(t, l, p, at(100))
		wait, ok := l.reserve(now, p)
		require.False(t, ok)
		// The header, not a constant, sets the pace: what is left over the time to the reset.
		assert.Equal(t, at(10000).Add(rollGuard).Sub(now)/time.Duration(remaining), wait, "remaining %d", remaining)
		waits = append(waits, wait)
	}
	assert.Greater(t, waits[0], waits[1])
	assert.Greater(t, waits[1], waits[2])
}

// startPaced waits (on the fake clock) as the limiter says and starts a call.
func startPaced(t *testing.T, l *limiter, p *pacer, now time.Time) time.Time {
	t.Helper()
	for range 100 {
		wait, ok := l.reserve(now, p)
		if ok {
			return now
		}
		now = now.Add(wait)
	}
	t.Fatal("never started")
	return now
}

func TestLimiter_CallsInFlightCountAgainstWhatIsLeft(t *testing.T) {
	l, p := primed(t, 3, at(10000))
	now := at(100)
	var starts []time.Duration
	for range 3 {
		now = startPaced(t, l, p, now)
		starts = append(starts, now.Sub(t0).Round(time.Millisecond))
	}
	// With the first call at 0, the four are spread evenly over the 10 s.
	assert.Equal(t, []time.Duration{2501 * time.Millisecond, 5003 * time.Millisecond, 7504 * time.Millisecond}, starts)
	// Three in flight, none answered: the fourth must wait for the reset.
	wait, ok := l.reserve(now, p)
	assert.False(t, ok)
	assert.Equal(t, at(10000).Add(rollGuard).Sub(now), wait)

	// The first answer says the server has counted two of them: one left,
	// two in flight (which may count) leave nothing.
	l.done(headers(10000, 1, at(10000), time.Time{}), 200, now, now)
	_, ok = l.reserve(now, p)
	assert.False(t, ok)
	// An older answer, with a higher Remaining, arriving late does not reopen the budget.
	l.done(headers(10000, 2, at(10000), time.Time{}), 200, now, now)
	_, ok = l.reserve(now, p)
	assert.False(t, ok)
	assert.Equal(t, 2, l.status().Remaining, "RateLimit reports the last header as sent")
}

func TestLimiter_NewWindowAtResetWithTheLearnedCapacity(t *testing.T) {
	l, p := primed(t, 9, at(1000)) // capacity 10
	now := at(100)
	for range 9 {
		now = startPaced(t, l, p, now)
		l.done(nil, 0, now, now) // no headers (a proxy's error, say): counted as spent
	}
	require.True(t, now.Before(at(1000)))
	_, ok := l.reserve(at(999), p)
	assert.False(t, ok, "window spent")
	wait, ok := l.reserve(at(1000), p)
	assert.False(t, ok, "not before the reset plus a guard")
	assert.Equal(t, 5*time.Millisecond, wait)
	now = startPaced(t, l, p, at(1005))
	assert.True(t, l.assumed)
	assert.Equal(t, at(11000), l.reset, "window length unknown yet: 10 s")
	assert.Less(t, now.Sub(at(1005)), time.Second, "the new window's first call comes at its pace, not the old one's")
	// The assumed window holds 10 calls, spread over it.
	wait, ok = l.reserve(now, p)
	assert.False(t, ok)
	assert.Equal(t, at(11000).Add(rollGuard).Sub(now)/10, wait)
}

func TestLimiter_AWrongGuessOfTheWindowLengthIsCorrectedByTheFirstAnswer(t *testing.T) {
	l, p := primed(t, 0, at(1000)) // spent; window length unknown
	now := startPaced(t, l, p, at(1000))
	require.True(t, l.assumed)
	require.Equal(t, at(11000), l.reset, "10 s assumed")
	// The server's windows are 1 s: its answer names a reset before the assumed one.
	l.done(headers(10000, 0, at(2000), time.Time{}), 200, now, now)
	assert.Equal(t, at(2000), l.reset)
	assert.False(t, l.assumed)
	assert.Equal(t, 0, l.remaining)
	assert.Equal(t, time.Second, l.windowLength())
}

func TestLimiter_LearnsTheWindowLengthFromSuccessiveResets(t *testing.T) {
	l, p := primed(t, 50, at(1000))
	start(t, l, p, at(1001))
	l.done(headers(10000, 49, at(2000), time.Time{}), 200, at(1001), at(1002))
	assert.Equal(t, at(2000), l.reset)
	assert.False(t, l.assumed)
	assert.Equal(t, time.Second, l.windowLength())
	// Idle for 3.5 windows: the limiter assumes the window that is current.
	start(t, l, p, at(5500))
	assert.Equal(t, at(6000), l.reset)
	assert.True(t, l.assumed)
}

func TestLimiter_AServerClockBehindOursDelaysTheNewWindow(t *testing.T) {
	// The server's clock is about 3.5 s behind ours: its Date says t0-3s
	// while ours says t0+0.4 to t0+0.5.
	l, p := newLimiter(), &pacer{fraction: 1}
	start(t, l, p, at(400))
	l.done(headers(10000, 0, at(1000), at(-3000)), 200, at(400), at(500))
	_, ok := l.reserve(at(1100), p)
	assert.False(t, ok, "the reset has passed on our clock but not on the server's")
	wait, ok := l.reserve(at(3000), p)
	assert.False(t, ok)
	assert.Equal(t, 1505*time.Millisecond, wait, "pessimistic bound: Date is truncated to the second")
	l.reserve(at(4505), p)
	assert.True(t, l.assumed, "a new window is assumed at 4.505 s")
	assert.Equal(t, at(11000), l.reset)
}

func TestSkewBounds_NarrowWithSamplesAndRestartWhenInconsistent(t *testing.T) {
	var s skewBounds
	s.add(at(0), at(300), at(400)) // the server stamped second 0 while we were at 0.3-0.4 s
	assert.Equal(t, -400*time.Millisecond, s.lo)
	assert.Equal(t, 700*time.Millisecond, s.hi)
	s.add(at(1000), at(950), at(1010)) // its second ticked over between our 0.95 and 1.01
	assert.Equal(t, -10*time.Millisecond, s.lo)
	assert.Equal(t, 700*time.Millisecond, s.hi)
	s.add(at(10000), at(3000), at(3010)) // its clock jumped 7 s ahead
	assert.Equal(t, 6990*time.Millisecond, s.lo, "inconsistent sample: start again")
}

func TestLimiter_TooManyRequestsFromAnEarlierWindowIsBelieved(t *testing.T) {
	l, p := primed(t, 5, at(1000))
	// A new window is assumed from 1.005 s, but the server still answers
	// from the old one, spent (its clock slipped behind since the last Date).
	now := startPaced(t, l, p, at(1010))
	require.True(t, l.assumed)
	l.done(headers(10000, 0, at(1000), time.Time{}), http.StatusTooManyRequests, now, now)
	assert.Equal(t, at(1000), l.reset)
	assert.Equal(t, 0, l.remaining)
	assert.False(t, l.assumed)
}

func TestLimiter_ShareViewUsesAtMostItsFractionOfEachWindow(t *testing.T) {
	l, root := primed(t, 99, at(10000)) // capacity 100
	half := &pacer{fraction: 0.5}
	counts := map[*pacer]int{}
	used := 0
	for now := at(100); now.Before(at(10000)); {
		next := at(10000)
		for _, p := range []*pacer{half, root} {
			wait, ok := l.reserve(now, p)
			if ok {
				counts[p]++
				used++
				l.done(headers(10000, 99-used, at(10000), time.Time{}), 200, now, now)
				wait = 0
			}
			if now.Add(wait).Before(next) {
				next = now.Add(wait)
			}
		}
		now = next
	}
	assert.Equal(t, 99, counts[half]+counts[root], "together they used what the window had left")
	assert.LessOrEqual(t, counts[half], 50, "at most half of the window's 100")
	assert.GreaterOrEqual(t, counts[half], 45, "the half view is not starved either")
}

// --- Pacing end to end: a server enforcing fixed windows, many goroutines. ---

// windowServer enforces budget calls per 1-second window aligned to UNIX
// seconds (so X-RateLimit-Reset, in whole seconds, is exact) and answers 429
// rate_limit_exceeded beyond it, like Intercom and the project's fake with
// 10-second windows.
type windowServer struct {
	budget, limitHeader int
	latency             time.Duration

	mu      sync.Mutex
	cur     int64
	used    int
	served  map[string]map[int64]int // method -> window -> accepted calls
	tooMany int
}

func newWindowServer(budget, limitHeader int, latency time.Duration) *windowServer {
	return &windowServer{budget: budget, limitHeader: limitHeader, latency: latency, served: map[string]map[int64]int{}}
}

func (s *windowServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	time.Sleep(s.latency / 2) // on the way in
	now := time.Now()
	win := now.Unix()
	s.mu.Lock()
	if win != s.cur {
		s.cur, s.used = win, 0
	}
	s.used++
	over := s.used > s.budget
	remaining := max(0, s.budget-s.used)
	if over {
		s.tooMany++
	} else {
		if s.served[r.Method] == nil {
			s.served[r.Method] = map[int64]int{}
		}
		s.served[r.Method][win]++
	}
	s.mu.Unlock()
	setRateHeaders(w, s.limitHeader, remaining, time.Unix(win+1, 0))
	time.Sleep(s.latency / 2) // on the way out
	if over {
		reply(429, `{"type":"error.list","errors":[{"code":"rate_limit_exceeded","message":"Exceeded rate limit"}]}`)(w, r)
		return
	}
	reply(200, `{"type":"contact","id":"c1"}`)(w, r)
}

// perWindow returns the accepted calls of method in each whole window
// inside (from, to).
func (s *windowServer) perWindow(method string, from, to time.Time) []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []int
	for win := from.Unix() + 1; win+1 <= to.Unix(); win++ {
		out = append(out, s.served[method][win])
	}
	return out
}

func (s *windowServer) rejected() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tooMany
}

// hammer runs workers goroutines calling call until d has passed.
func hammer(t *testing.T, workers int, d time.Duration, call func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				if err := call(ctx); err != nil && ctx.Err() == nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("call failed: %v", err)
	}
}

func mean(xs []int) float64 {
	sum := 0
	for _, x := range xs {
		sum += x
	}
	return float64(sum) / float64(len(xs))
}

func TestPacing_ConcurrentReadersGetCloseToTheLimitWithoutA429(t *testing.T) {
	// The real rates (1,000 and 10,000 calls a minute) in 1-second windows
	// instead of 10-second ones, so the test takes seconds.
	for _, tt := range []struct {
		name               string
		perMinute, workers int
	}{
		{"1000 a minute, 8 readers", 1000, 8},
		{"10000 a minute, 16 readers", 10000, 16},
	} {
		t.Run(tt.name, func(t *testing.T) {
			budget := (tt.perMinute + 59) / 60 // per 1-second window: 17 and 167
			srv := newWindowServer(budget, tt.perMinute, 4*time.Millisecond)
			c := newClientFor(t, newHTTPTestServer(t, srv))

			from := time.Now()
			hammer(t, tt.workers, 3200*time.Millisecond, func(ctx context.Context) error {
				_, err := c.GetContact(ctx, "c1")
				return err
			})
			to := time.Now()

			assert.Zero(t, srv.rejected(), "429s")
			got := srv.perWindow(http.MethodGet, from, to)
			require.NotEmpty(t, got)
			t.Logf("calls per whole window: %v (budget %d)", got, budget)
			assert.GreaterOrEqual(t, mean(got), 0.8*float64(budget), "throughput per window %v of %d", got, budget)
			for _, n := range got {
				assert.LessOrEqual(t, n, budget)
			}
		})
	}
}

func TestPacing_ShareViewTakesAtMostItsHalfAndNobodyGets429(t *testing.T) {
	const budget = 40
	srv := newWindowServer(budget, budget*60, 4*time.Millisecond)
	refresh := newClientFor(t, newHTTPTestServer(t, srv))
	syncView := refresh.Share(0.5)

	from := time.Now()
	var wg sync.WaitGroup
	wg.Go(func() {
		hammer(t, 8, 3200*time.Millisecond, func(ctx context.Context) error {
			_, err := refresh.GetContact(ctx, "c1")
			return err
		})
	})
	wg.Go(func() {
		hammer(t, 8, 3200*time.Millisecond, func(ctx context.Context) error {
			_, err := syncView.UpdateContactAttributes(ctx, "c1", map[string]any{"Engagement Status": "Engaged"})
			return err
		})
	})
	wg.Wait()
	to := time.Now()

	assert.Zero(t, srv.rejected(), "429s")
	reads, writes := srv.perWindow(http.MethodGet, from, to), srv.perWindow(http.MethodPut, from, to)
	t.Logf("per whole window: reads %v, writes %v (budget %d)", reads, writes, budget)
	require.NotEmpty(t, reads)
	for i := range reads {
		// A window boundary seen a few ms late can move a call or two across.
		assert.LessOrEqual(t, writes[i], budget/2+2, "the shared view stays within its half")
		assert.GreaterOrEqual(t, reads[i], budget/3, "the refresh is not starved")
		assert.LessOrEqual(t, reads[i]+writes[i], budget)
	}
	assert.GreaterOrEqual(t, mean(reads)+mean(writes), 0.8*budget, "together they use the limit")
}
