// Package intercom is a client for the parts of the Intercom REST API the
// exporter uses: conversation and contact search, contacts, admins, data
// attributes and the workspace (docs/intercom.md).
//
// All calls of one Client, and of its Share views, are paced by one limiter
// driven by the X-RateLimit-* headers, so that concurrent readers use most of
// the rate limit without being answered 429. Temporary failures are retried
// with capped exponential back-off and jitter; every attempt has a deadline.
package intercom

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Client calls the Intercom REST API. It is safe for concurrent use.
type Client struct {
	base    *url.URL
	token   string
	version string

	hc          *http.Client
	timeout     time.Duration
	attempts    int
	backoffBase time.Duration
	backoffMax  time.Duration
	obs         Observer
	log         *slog.Logger
	maxBody     int64

	lim  *limiter // shared by every view
	pace *pacer   // this view's own pacing
}

// Observer is told about every attempt and every rate-limit header set, for
// metrics.
type Observer interface {
	// ObserveRequest is called once per attempt. endpoint is the route
	// template ("/contacts/{id}", "/conversations/search"), never an id;
	// code is the HTTP status as text, or "error" for a transport failure.
	ObserveRequest(method, endpoint, code string, d time.Duration)
	// ObserveRateLimit is called for every response carrying X-RateLimit-*.
	ObserveRateLimit(limit, remaining int, reset time.Time)
}

type nopObserver struct{}

func (nopObserver) ObserveRequest(string, string, string, time.Duration) {}
func (nopObserver) ObserveRateLimit(int, int, time.Time)                 {}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client (its transport, proxies, TLS). Its
// Timeout, if any, applies on top of the per-attempt deadline; give its
// transport as many idle connections per host as calls run concurrently
// (the default client's transport keeps 64).
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.hc = hc
		}
	}
}

// WithRequestTimeout sets the deadline of each attempt, from sending the
// request to reading the whole response (default 30s).
func WithRequestTimeout(d time.Duration) Option {
	return func(c *Client) { c.timeout = d }
}

// WithRetry sets how often a call is attempted in all (default 5) and the
// capped exponential back-off between attempts (default 500ms doubling up to
// 30s, with jitter).
func WithRetry(maxAttempts int, baseBackoff, maxBackoff time.Duration) Option {
	return func(c *Client) {
		c.attempts, c.backoffBase, c.backoffMax = maxAttempts, baseBackoff, maxBackoff
	}
}

// WithObserver sets the metrics observer.
func WithObserver(o Observer) Option {
	return func(c *Client) {
		if o != nil {
			c.obs = o
		}
	}
}

// WithMaxResponseBytes bounds the body of one Intercom answer (default
// DefaultMaxResponseBytes). A larger answer fails its request with
// ErrResponseTooLarge and is not retried.
func WithMaxResponseBytes(n int64) Option {
	return func(c *Client) { c.maxBody = n }
}

// WithLogger sets the logger (default slog.Default()). Retries are logged at
// warn level with the route template, never the token or ids.
func WithLogger(l *slog.Logger) Option {
	return func(c *Client) {
		if l != nil {
			c.log = l
		}
	}
}

// New returns a client for the API at baseURL (https://api.intercom.io,
// https://api.eu.intercom.io, https://api.au.intercom.io, or a proxy or fake)
// authenticating with token and asking for API version (e.g. "2.10"). The
// token never appears in an error or a log line.
func New(baseURL, token, version string, opts ...Option) (*Client, error) {
	base, err := parseBaseURL(baseURL)
	if err != nil {
		return nil, err
	}
	if token == "" {
		return nil, errors.New("intercom: the access token is empty")
	}
	for i := 0; i < len(token); i++ {
		if token[i] <= ' ' || token[i] >= 0x7f {
			return nil, errors.New("intercom: the access token contains spaces or characters that cannot be sent in an HTTP header")
		}
	}
	version = strings.TrimSpace(version)
	if version == "" {
		return nil, errors.New("intercom: the API version is empty (e.g. 2.10)")
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64 // concurrent readers keep their connections
	c := &Client{
		base:        base,
		token:       token,
		version:     version,
		hc:          &http.Client{Transport: tr},
		timeout:     30 * time.Second,
		attempts:    5,
		backoffBase: 500 * time.Millisecond,
		backoffMax:  30 * time.Second,
		obs:         nopObserver{},
		log:         slog.Default(),
		maxBody:     DefaultMaxResponseBytes,
		lim:         newLimiter(),
		pace:        &pacer{fraction: 1},
	}
	for _, o := range opts {
		o(c)
	}
	switch {
	case c.timeout <= 0:
		return nil, fmt.Errorf("intercom: request timeout must be positive, got %v", c.timeout)
	case c.attempts < 1:
		return nil, fmt.Errorf("intercom: retry attempts must be at least 1, got %d", c.attempts)
	case c.maxBody < 1<<10:
		return nil, fmt.Errorf("intercom: the response size limit must be at least 1 KiB, got %d bytes", c.maxBody)
	case c.backoffBase <= 0 || c.backoffMax < c.backoffBase:
		return nil, fmt.Errorf("intercom: back-off must satisfy 0 < base <= max, got %v and %v", c.backoffBase, c.backoffMax)
	}
	return c, nil
}

func parseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the URL, which may hold a secret
		}
		return nil, fmt.Errorf("intercom: base URL is not a valid URL: %w", err)
	}
	// Errors name only scheme and host: a query, user info or path may hold a secret.
	shown := (&url.URL{Scheme: u.Scheme, Host: u.Host}).String()
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("intercom: base URL %q must start with https:// (or http:// for a local fake)", shown)
	case u.Host == "":
		return nil, fmt.Errorf("intercom: base URL %q has no host", shown)
	case u.User != nil:
		return nil, fmt.Errorf("intercom: base URL %q must not contain credentials; the token is sent as a bearer header", shown)
	case u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("intercom: base URL %q must not have a query or fragment", shown)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// Share returns a view of c that shares its transport and its one rate
// limiter, but paces its own requests to at most fraction (0 < fraction <= 1)
// of each rate-limit window, so that a background job (the sync uses
// Share(0.5)) never starves the other users of the client. fraction is of the
// whole limit, not of c's share; values outside (0, 1] are clamped into it.
// The original client is not restricted: it may use whatever the views leave.
func (c *Client) Share(fraction float64) *Client {
	if !(fraction > 0) { // also NaN
		fraction = 0.01
	}
	fraction = min(fraction, 1)
	v := *c
	v.pace = &pacer{fraction: fraction}
	return &v
}

// RateLimit returns the last X-RateLimit-* headers seen by c or any view.
func (c *Client) RateLimit() RateLimitStatus {
	return c.lim.status()
}

// call describes one API call.
type call struct {
	method   string
	endpoint string // route template, for metrics, logs and errors
	path     string // escaped path below the base URL
	query    url.Values
	body     []byte // nil: no body
}

// attemptResult is the outcome of one attempt.
type attemptResult struct {
	err     error
	retry   bool
	minWait time.Duration // at least this long before the next attempt (429, Retry-After)
}

// errMalformed is wrapped by errors about 2xx bodies that are not the JSON
// the endpoint returns.
var errMalformed = errors.New("malformed response body")

// DefaultMaxResponseBytes bounds the body of one Intercom answer
// (docs/intercom.md). The largest answers read are search pages of 150
// conversations or contacts, well under 2 MiB; a refresh has up to
// REFRESH_CONCURRENCY of them in flight, each buffered whole, so the bound
// also bounds the memory a misbehaving server or proxy can make the
// exporter take.
const DefaultMaxResponseBytes = 16 << 20

// ErrResponseTooLarge is wrapped by the error of a request whose answer is
// larger than the limit (WithMaxResponseBytes). It is not retried: the same
// request would get the same answer.
var ErrResponseTooLarge = errors.New("response body too large")

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// do performs c with retries; decode is given each 2xx body and must decode
// it into fresh values (it may be called again on a retry).
func (c *Client) do(ctx context.Context, cl call, decode func([]byte) error) error {
	var last error
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return c.ctxError(cl, err)
		}
		if err := c.lim.acquire(ctx, c.pace); err != nil {
			return c.ctxError(cl, err)
		}
		res := c.attempt(ctx, cl, decode)
		if res.err == nil {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return c.ctxError(cl, err)
		}
		last = res.err
		if !res.retry {
			return last
		}
		if attempt >= c.attempts {
			return fmt.Errorf("%w (gave up after %d attempts)", last, attempt)
		}
		wait := max(res.minWait, c.backoff(attempt))
		c.log.Warn("intercom call failed, retrying",
			"method", cl.method, "endpoint", cl.endpoint, "attempt", attempt, "max_attempts", c.attempts,
			"wait", wait.Round(time.Millisecond), "err", last)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return c.ctxError(cl, ctx.Err())
		case <-t.C:
		}
	}
}

func (c *Client) ctxError(cl call, err error) error {
	return fmt.Errorf("intercom: %s %s: %w", cl.method, cl.endpoint, err)
}

// backoff is the capped exponential back-off before attempt n+1, with jitter
// (a uniformly random value in its upper half).
func (c *Client) backoff(n int) time.Duration {
	d := c.backoffBase
	for i := 1; i < n && d < c.backoffMax; i++ {
		d *= 2
	}
	d = min(d, c.backoffMax)
	return d/2 + rand.N(d/2+1)
}

// attempt sends one request. The caller has acquired the limiter.
func (c *Client) attempt(ctx context.Context, cl call, decode func([]byte) error) attemptResult {
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	target := c.base.String() + cl.path
	if len(cl.query) > 0 {
		target += "?" + cl.query.Encode()
	}
	var body io.Reader
	if cl.body != nil {
		body = bytes.NewReader(cl.body)
	}
	req, err := http.NewRequestWithContext(actx, cl.method, target, body)
	if err != nil {
		c.lim.done(nil, 0, time.Now(), time.Now())
		return attemptResult{err: fmt.Errorf("intercom: %s %s: building request: %w", cl.method, cl.endpoint, stripURL(err))}
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Intercom-Version", c.version)
	req.Header.Set("Accept", "application/json")
	if cl.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}

	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		recv := time.Now()
		c.lim.done(nil, 0, start, recv)
		c.obs.ObserveRequest(cl.method, cl.endpoint, "error", recv.Sub(start))
		return attemptResult{err: c.transportError(ctx, cl, err), retry: true}
	}
	recv := time.Now()
	if rh, ok := c.lim.done(resp.Header, resp.StatusCode, start, recv); ok {
		c.obs.ObserveRateLimit(rh.limit, rh.remaining, rh.reset)
	}

	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= 4<<20 {
			bufPool.Put(buf)
		}
	}()
	if resp.ContentLength > c.maxBody {
		// Declared too large: not read at all.
		_ = resp.Body.Close()
		c.obs.ObserveRequest(cl.method, cl.endpoint, "error", time.Since(start))
		return attemptResult{err: c.tooLarge(cl, resp.StatusCode)}
	}
	if resp.ContentLength > 0 {
		buf.Grow(int(resp.ContentLength))
	}
	_, rerr := buf.ReadFrom(io.LimitReader(resp.Body, c.maxBody+1))
	_ = resp.Body.Close()
	code := strconv.Itoa(resp.StatusCode)
	if rerr == nil && int64(buf.Len()) > c.maxBody {
		c.obs.ObserveRequest(cl.method, cl.endpoint, "error", time.Since(start))
		return attemptResult{err: c.tooLarge(cl, resp.StatusCode)}
	}
	if rerr != nil {
		c.obs.ObserveRequest(cl.method, cl.endpoint, "error", time.Since(start))
		return attemptResult{err: fmt.Errorf("intercom: %s %s: reading the HTTP %d response: %w", cl.method, cl.endpoint, resp.StatusCode, c.transportError(ctx, cl, rerr)), retry: true}
	}
	c.obs.ObserveRequest(cl.method, cl.endpoint, code, time.Since(start))

	switch s := resp.StatusCode; {
	case s >= 200 && s < 300:
		if err := decode(buf.Bytes()); err != nil {
			return attemptResult{
				err:   fmt.Errorf("intercom: %s %s: %w (HTTP %d, %d bytes): %w", cl.method, cl.endpoint, errMalformed, s, buf.Len(), err),
				retry: isTruncation(err), // a cut or garbled body may come right next time; a different schema will not
			}
		}
		return attemptResult{}
	case s == http.StatusTooManyRequests:
		wait := c.lim.untilReset(time.Now())
		if wait <= 0 {
			wait = retryAfter(resp.Header)
		}
		wait = min(wait, max(c.backoffMax, maxResetAhead))
		// Jitter so that waiting goroutines do not all come back at once.
		j := min(250*time.Millisecond, c.lim.windowLength()/10)
		wait += rand.N(j + 1)
		return attemptResult{err: newAPIError(cl.method, cl.endpoint, s, buf.Bytes(), c.token), retry: true, minWait: wait}
	case s == http.StatusInternalServerError, s == http.StatusBadGateway,
		s == http.StatusServiceUnavailable, s == http.StatusGatewayTimeout:
		wait := min(retryAfter(resp.Header), c.backoffMax)
		return attemptResult{err: newAPIError(cl.method, cl.endpoint, s, buf.Bytes(), c.token), retry: true, minWait: wait}
	default:
		return attemptResult{err: newAPIError(cl.method, cl.endpoint, s, buf.Bytes(), c.token)}
	}
}

func (c *Client) tooLarge(cl call, status int) error {
	return fmt.Errorf("intercom: %s %s: the HTTP %d answer is larger than %d bytes, the limit for one answer: %w",
		cl.method, cl.endpoint, status, c.maxBody, ErrResponseTooLarge)
}

// transportError describes a failed exchange without the request URL (which
// can hold a contact id) and says when the attempt's own deadline expired.
func (c *Client) transportError(ctx context.Context, cl call, err error) error {
	err = stripURL(err)
	if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("intercom: %s %s: no complete answer within the %v attempt deadline: %w", cl.method, cl.endpoint, c.timeout, err)
	}
	return fmt.Errorf("intercom: %s %s: %w", cl.method, cl.endpoint, err)
}

func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// isTruncation reports whether a decoding error means the body was cut or
// garbled (worth another attempt) rather than JSON of an unexpected shape.
func isTruncation(err error) bool {
	var se *json.SyntaxError
	return errors.As(err, &se) || errors.Is(err, io.ErrUnexpectedEOF)
}

// retryAfter reads a Retry-After header given in seconds (0 if absent).
func retryAfter(h http.Header) time.Duration {
	s, err := strconv.Atoi(strings.TrimSpace(h.Get("Retry-After")))
	if err != nil || s <= 0 {
		return 0
	}
	return time.Duration(s) * time.Second
}
