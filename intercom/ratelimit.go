package intercom

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// RateLimitStatus is the last set of X-RateLimit-* headers the API sent.
type RateLimitStatus struct {
	Limit     int       // X-RateLimit-Limit
	Remaining int       // X-RateLimit-Remaining
	Reset     time.Time // X-RateLimit-Reset: when the current window ends (server clock)
	Seen      bool      // false until a response carried the headers
}

// Until the API has said anything about its limit the client paces itself to
// the lowest documented one: 1,000 calls a minute, spread over 10-second
// windows (166 a window).
const (
	defaultWindow      = 10 * time.Second
	defaultWindowCalls = 166
	// rollGuard is added to the end of a window before a new one is assumed.
	rollGuard = 5 * time.Millisecond
	// skewMaxAge is how long clock-offset samples are trusted before the
	// estimate is started afresh (so a stepped server clock is noticed).
	skewMaxAge = 10 * time.Minute
	// maxResetAhead bounds how far ahead a Reset header is believed.
	maxResetAhead = 61 * time.Second
)

// limiter paces every request of one Client and all its Share views by the
// X-RateLimit-* headers. Its model of the server:
//
//   - the server counts calls in fixed windows; Reset (UNIX seconds) is the
//     end of the current one and Remaining the calls it has left;
//   - a response's Remaining counts every call the server had received when
//     it answered, so "remaining minus calls still in flight" is a lower
//     bound of what is really left (calls in flight may or may not have been
//     counted yet: they are assumed to count);
//   - responses may arrive out of order, so within a window the lowest
//     Remaining wins;
//   - a new window starts with the capacity seen before (highest
//     Remaining+1 at the current Limit) until the server says otherwise.
//
// A request may start only while that lower bound is positive (so no 429 can
// come from this process's own traffic) and, to spread the load evenly, no
// sooner than (time left in the window) / (calls left) after the previous
// start. Reset is on the server's clock: the offset to the local clock is
// bounded from the Date header and the pessimistic bound is used, so a window
// is never assumed over before the server's has ended.
//
// X-RateLimit-Limit is not used for pacing: the brief and the project's fake
// give it per minute, Intercom's current reference gives it per 10-second
// window; Remaining and Reset mean the same in both.
type limiter struct {
	now func() time.Time

	mu   sync.Mutex
	wake chan struct{} // closed and replaced on every state change

	last RateLimitStatus

	reset     time.Time     // end of the current window (server clock)
	assumed   bool          // the window was rolled over locally; no answer from it yet
	remaining int           // lowest Remaining the server gave in the window
	inflight  int           // attempts started and not yet answered
	capacity  int           // calls a window starts with (highest Remaining+1 at limitSeen)
	limitSeen int           // the X-RateLimit-Limit capacity was learned at
	window    time.Duration // learned window length (0 = unknown yet)
	lastReal  time.Time     // latest Reset the server sent
	clock     skewBounds

	lastStart time.Time // last start of any view
}

func newLimiter() *limiter {
	return &limiter{now: time.Now, wake: make(chan struct{})}
}

// pacer is one view's own pacing state (guarded by limiter.mu).
type pacer struct {
	fraction  float64   // share of each window this view may use, (0, 1]
	lastStart time.Time // this view's last start
	window    time.Time // the window used counts
	used      int       // starts in that window
}

// skewBounds bounds server clock minus local clock. The Date header is the
// server time truncated to the second, stamped while the request was in
// flight, so each response gives date-recv < skew < date+1s-sent; the
// intersection narrows as samples arrive at different sub-second phases.
type skewBounds struct {
	lo, hi time.Duration
	since  time.Time // when the current estimate was started
	ok     bool
}

func (s *skewBounds) add(date, sent, recv time.Time) {
	lo, hi := date.Sub(recv), date.Add(time.Second).Sub(sent)
	if !s.ok || lo > s.hi || hi < s.lo || recv.Sub(s.since) > skewMaxAge {
		// First sample, an inconsistent one (a clock was stepped), or an old
		// estimate: start again from this sample alone.
		*s = skewBounds{lo: lo, hi: hi, since: recv, ok: true}
		return
	}
	s.lo, s.hi = max(s.lo, lo), min(s.hi, hi)
}

// localEnd is the local time by which the server's current window has
// certainly ended: server = local + skew >= local + lo.
func (l *limiter) localEnd() time.Time {
	end := l.reset.Add(rollGuard)
	if l.clock.ok {
		end = end.Add(-l.clock.lo)
	}
	return end
}

func (l *limiter) windowLen() time.Duration {
	if l.window > 0 {
		return l.window
	}
	return defaultWindow
}

// roll assumes a fresh window once the current one has certainly ended.
func (l *limiter) roll(now time.Time) {
	if !l.last.Seen {
		return
	}
	end := l.localEnd()
	if now.Before(end) {
		return
	}
	n := l.windowLen()
	k := now.Sub(end)/n + 1
	l.reset = l.reset.Add(k * n)
	l.remaining = l.capacity
	l.assumed = true
}

// reserve starts a request for view p if the budget and pacing allow it, and
// otherwise says how long to wait before asking again.
//
// Starts are spaced on one schedule for all views (so the window's budget is
// spread evenly however many views are busy); a view with a fraction below 1
// also spreads its own quota over the window and stops when it is used. The
// spacing is worked out afresh on every call from the current state, so a
// new window or a new Remaining takes effect at once: the next start comes
// after the last one by an even share of the time left, the n calls left
// placed so that the last is a share before the end.
func (l *limiter) reserve(now time.Time, p *pacer) (wait time.Duration, ok bool) {
	l.roll(now)
	if !l.last.Seen {
		spacing := defaultWindow / defaultWindowCalls
		next := later(l.lastStart.Add(spacing), p.lastStart.Add(time.Duration(float64(spacing)/p.fraction)))
		if now.Before(next) {
			return next.Sub(now), false
		}
		return 0, l.start(now, p)
	}

	end := l.localEnd()
	avail := l.remaining - l.inflight
	viewAvail := avail
	if p.fraction < 1 {
		if !p.window.Equal(l.reset) {
			p.window, p.used = l.reset, 0
		}
		quota := max(1, int(p.fraction*float64(l.capacity)))
		viewAvail = min(avail, quota-p.used)
	}
	if viewAvail <= 0 {
		return max(end.Sub(now), time.Millisecond), false
	}
	next := later(spread(l.lastStart, end, avail), spread(p.lastStart, end, viewAvail))
	if now.Before(next) {
		return next.Sub(now), false
	}
	return 0, l.start(now, p)
}

// spread is when the next of n calls may start, the previous one having
// started at last, for the n to be spread evenly before end.
func spread(last, end time.Time, n int) time.Time {
	if !end.After(last) {
		return last
	}
	return last.Add(end.Sub(last) / time.Duration(n+1))
}

func (l *limiter) start(now time.Time, p *pacer) bool {
	l.lastStart, p.lastStart = now, now
	p.used++
	l.inflight++
	return true
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// acquire waits until view p may start a request, or ctx is done.
func (l *limiter) acquire(ctx context.Context, p *pacer) error {
	for {
		l.mu.Lock()
		wait, ok := l.reserve(l.now(), p)
		wake := l.wake
		l.mu.Unlock()
		if ok {
			return nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-wake:
			t.Stop()
		case <-t.C:
		}
	}
}

// rateHeaders are the X-RateLimit-* headers of one response.
type rateHeaders struct {
	limit, remaining int
	reset            time.Time
}

// parseRateHeaders reads X-RateLimit-Limit, -Remaining and -Reset. Reset is
// UNIX seconds; a small value (below 10^9) is taken as seconds from now, as
// some proxies send it that way.
func parseRateHeaders(h http.Header, now time.Time) (rateHeaders, bool) {
	if h == nil {
		return rateHeaders{}, false
	}
	rem, err1 := strconv.Atoi(strings.TrimSpace(h.Get("X-RateLimit-Remaining")))
	reset, err2 := strconv.ParseInt(strings.TrimSpace(h.Get("X-RateLimit-Reset")), 10, 64)
	if err1 != nil || err2 != nil || rem < 0 || reset <= 0 {
		return rateHeaders{}, false
	}
	limit, err := strconv.Atoi(strings.TrimSpace(h.Get("X-RateLimit-Limit")))
	if err != nil || limit < 0 {
		limit = 0
	}
	r := rateHeaders{limit: limit, remaining: rem, reset: time.Unix(reset, 0)}
	if reset < 1e9 {
		r.reset = now.Add(time.Duration(reset) * time.Second).Truncate(time.Second)
	}
	return r, true
}

// done ends an attempt started by acquire. h is nil for a transport failure;
// status is the HTTP status (0 for a transport failure). It returns the
// rate-limit headers when the response had them.
func (l *limiter) done(h http.Header, status int, sent, recv time.Time) (rateHeaders, bool) {
	r, ok := parseRateHeaders(h, recv)
	var date time.Time
	if h != nil {
		date, _ = http.ParseTime(h.Get("Date"))
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	defer l.notify()
	l.inflight--
	if !ok {
		// No word from the server: the call may still have been counted.
		if l.last.Seen && l.remaining > 0 {
			l.remaining--
		}
		return r, false
	}
	if !date.IsZero() {
		l.clock.add(date, sent, recv)
	}
	first := !l.last.Seen
	l.last = RateLimitStatus{Limit: r.limit, Remaining: r.remaining, Reset: r.reset, Seen: true}
	// Windows are 10 seconds (a minute at most in any documentation): a
	// reset further ahead is not believed for pacing, so that one odd header
	// cannot stall every caller for long.
	reset, clamped := r.reset, false
	if limit := recv.Add(maxResetAhead).Truncate(time.Second); reset.After(limit) {
		reset, clamped = limit, true
	}
	if first || r.limit != l.limitSeen {
		l.capacity, l.limitSeen = 0, r.limit
	}
	l.capacity = max(l.capacity, r.remaining+1)

	switch {
	case first || reset.After(l.reset):
		// A newer window than the one we were in (or had assumed).
		l.reset, l.remaining, l.assumed = reset, r.remaining, false
	case reset.Equal(l.reset):
		if l.assumed {
			l.remaining, l.assumed = r.remaining, false
		} else {
			l.remaining = min(l.remaining, r.remaining)
		}
	case l.assumed && reset.After(l.lastReal):
		// A window after the last one the server spoke of, ending before
		// the assumed one: the window length was guessed wrong.
		l.reset, l.remaining, l.assumed = reset, r.remaining, false
	case status == http.StatusTooManyRequests:
		// The server is still in an earlier window than the one assumed
		// here, and that window is spent: believe it.
		l.reset, l.remaining, l.assumed = reset, 0, false
	default:
		// An answer from an earlier window arriving late: nothing to learn.
	}
	if status == http.StatusTooManyRequests && reset.Equal(l.reset) {
		l.remaining = 0
	}
	if !clamped && reset.After(l.lastReal) {
		if d := reset.Sub(l.lastReal); !l.lastReal.IsZero() && (l.window == 0 || d < l.window) {
			l.window = d
		}
		l.lastReal = reset
	}
	return r, true
}

// untilReset is how long, from now, until the server's current window has
// certainly ended.
func (l *limiter) untilReset(now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.Seen {
		return 0
	}
	return l.localEnd().Sub(now)
}

// windowLength is the learned window length (10 s until learned).
func (l *limiter) windowLength() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.windowLen()
}

func (l *limiter) status() RateLimitStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

// notify wakes every waiter; l.mu must be held.
func (l *limiter) notify() {
	close(l.wake)
	l.wake = make(chan struct{})
}
