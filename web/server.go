// Package web serves the exporter's HTTP side (docs/endpoints.md): the
// landing page, /metrics, health and readiness, the member-level report
// files (billing, caseload, participants, sessions) and POST /sync, with TLS
// and basic auth from an exporter-toolkit web configuration file.
//
// Every report is served from the published engagement.Model: a request
// never calls Intercom. A request reads the model once, so a response is
// always computed from one model even while a refresh swaps in the next.
package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/exporter-toolkit/web"
	"go.yaml.in/yaml/v2"

	"github.com/coaching/intercom_exporter/collector"
	"github.com/coaching/intercom_exporter/engagement"
)

// Source is where the published reports and the refresh status come from.
type Source interface {
	// Model is the latest published model, nil before the first successful
	// refresh.
	Model() *engagement.Model
	Status() collector.Status
}

// FrozenBilling is implemented by a Source that keeps frozen billing months
// (docs/reports.md: daemon.Exporter, with STATE_DIR): the records of a
// frozen month, shared and not to be changed, and when it was frozen; ok
// is false when the month is not frozen. A Source without it freezes
// nothing.
type FrozenBilling interface {
	FrozenBilling(month engagement.Month) (records []engagement.BillingRecord, frozenAt time.Time, ok bool)
}

// Syncer runs the engagement sync (docs/sync.md). It returns
// *engagement.BusyError while a run is going on.
type Syncer interface {
	Sync(ctx context.Context, dryRun bool) (engagement.Summary, error)
}

// Definition is one effective definition shown on the landing page.
type Definition struct {
	Name, Value, Meaning string
}

// Options configure a Server.
type Options struct {
	Source Source
	// Syncer is nil when SYNC_MODE=off: POST /sync then answers 404.
	Syncer Syncer
	// Refresher takes POST /refresh (nil: 404).
	Refresher Refresher
	// Metrics serves /metrics.
	Metrics     http.Handler
	Definitions []Definition
	Version     string
	Logger      *slog.Logger
	// AllowUnauthenticated serves member data without basic auth
	// (ALLOW_UNAUTHENTICATED); Demo does too.
	AllowUnauthenticated, Demo bool
	// WebConfigFile is the exporter-toolkit web configuration (TLS, basic
	// auth); "" for none. It is read again on every request.
	WebConfigFile string
	ListenAddress string
	// SyncUsers may write (POST /sync) and MemberUsers may read member
	// data (SYNC_USERS, MEMBER_USERS: basic auth user names); nil lets
	// every authenticated user do it (docs/access.md).
	SyncUsers, MemberUsers []string
	// WriteTimeout drops a client that accepts no bytes of a response for
	// this long; every write extends it, so a slow but steady download of
	// a large file is not cut off. 0 means DefaultWriteTimeout.
	WriteTimeout time.Duration
	// LookbackDays is LOOKBACK_DAYS: a sync body's lookbackDays must equal
	// it. 0 takes it from the published model.
	LookbackDays int
}

// DefaultWriteTimeout is how long a response may wait for a client to
// accept its next chunk (at most 32 KiB) before the connection is dropped.
const DefaultWriteTimeout = 60 * time.Second

// Server is the exporter's HTTP server.
type Server struct {
	o       Options
	log     *slog.Logger
	handler http.Handler
	// basicAuth is true when the web configuration file named basic auth
	// users at start-up: from then on, a file without users refuses member
	// data and writes instead of opening them.
	basicAuth bool
	gate      *accessGate // nil without a web configuration file

	orderMu sync.Mutex
	orders  []*memberOrder // most recent first, at most orderCacheSize
}

// ShutdownTimeout bounds how long Serve waits for in-flight requests (a
// large CSV download, a sync run) once its context is done.
const ShutdownTimeout = 30 * time.Second

// New checks the options and reads the web configuration file, to know
// whether basic auth is configured at start-up.
func New(o Options) (*Server, error) {
	if o.Source == nil {
		return nil, errors.New("web: no Source given")
	}
	if o.Metrics == nil {
		return nil, errors.New("web: no Metrics handler given")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	s := &Server{o: o, log: o.Logger}
	if o.WebConfigFile != "" {
		users, err := basicAuthUsers(o.WebConfigFile)
		if err != nil {
			return nil, err
		}
		s.basicAuth = users > 0
		s.gate = &accessGate{path: o.WebConfigFile}
	}
	switch {
	case s.basicAuth:
	case o.Demo:
		s.log.Info("Demo mode: member data and POST /sync are served without basic auth")
	case o.AllowUnauthenticated:
		s.log.Warn("Member data and POST /sync are served to anyone who can reach the port (ALLOW_UNAUTHENTICATED=true); configure basic auth in WEB_CONFIG_FILE instead")
	default:
		s.log.Info("Member data and POST /sync answer 403 until basic auth is configured (WEB_CONFIG_FILE with basic_auth_users)")
	}
	s.handler = s.routes()
	return s, nil
}

// basicAuthUsers validates an exporter-toolkit web configuration file (as
// exporter-toolkit will read it: strict YAML, bcrypt hashes, TLS files) and
// counts its basic auth users.
func basicAuthUsers(path string) (int, error) {
	content, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("WEB_CONFIG_FILE %s: %w", path, err)
	}
	if err := web.Validate(path); err != nil {
		return 0, fmt.Errorf("WEB_CONFIG_FILE %s is not a valid exporter-toolkit web configuration: %w", path, err)
	}
	var c web.Config
	if err := yaml.Unmarshal(content, &c); err != nil {
		return 0, fmt.Errorf("WEB_CONFIG_FILE %s: %w", path, err)
	}
	return len(c.Users), nil
}

// Handler is the full mux, without the TLS and basic auth that
// exporter-toolkit adds in Serve.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve listens on ListenAddress with TLS and basic auth from the web
// configuration file (exporter-toolkit), until ctx is done; then it stops
// accepting, lets in-flight requests finish (at most ShutdownTimeout) and
// returns nil. An error to listen or serve is returned as is.
func (s *Server) Serve(ctx context.Context) error {
	addr, file := s.o.ListenAddress, s.o.WebConfigFile
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	flags := &web.FlagConfig{WebListenAddresses: &[]string{addr}, WebConfigFile: &file}
	done := make(chan error, 1)
	go func() { done <- web.ListenAndServe(srv, flags, s.log) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	s.log.Info("Stopping the HTTP server; finishing requests in flight", "timeout", ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		s.log.Warn("Requests still in flight were cut off at shutdown", "err", err)
		_ = srv.Close()
	}
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// routes builds the mux.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/{$}", methods(s.landing, http.MethodGet))
	mux.Handle("/metrics", methods(s.metrics, http.MethodGet))
	mux.Handle("/healthz", methods(healthz, http.MethodGet))
	mux.Handle("/readyz", methods(s.readyz, http.MethodGet))
	for _, r := range s.reports() {
		mux.Handle("/"+r.name+".csv", methods(s.guard(needRead, s.reportHandler(r)), http.MethodGet))
	}
	mux.Handle("/billing-months.json", methods(s.billingMonths, http.MethodGet))
	mux.Handle("/sync", s.syncHandler())
	mux.Handle("/API/intercom", s.syncHandler()) // the original app's path
	mux.Handle("/refresh", s.refreshHandler())
	return s.writeDeadlines(s.logRequests(mux))
}

// methods answers 405 with Allow to any other method (GET allows HEAD).
func methods(h http.HandlerFunc, allowed ...string) http.Handler {
	if len(allowed) == 1 && allowed[0] == http.MethodGet {
		allowed = append(allowed, http.MethodHead)
	}
	allow := strings.Join(allowed, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, m := range allowed {
			if r.Method == m {
				h(w, r)
				return
			}
		}
		w.Header().Set("Allow", allow)
		textError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not allowed here; use %s", r.Method, allow))
	})
}

// AccessHelp is the 403 answer for member data when no basic auth is
// configured.
const AccessHelp = "member data needs basic auth: set WEB_CONFIG_FILE to an exporter-toolkit web configuration with basic_auth_users " +
	"(name: bcrypt hash, made with htpasswd -nBC 10 \"\" | tr -d ':\\n'; see deploy/web-config.example.yml), " +
	"or set ALLOW_UNAUTHENTICATED=true to serve it to anyone who can reach this port"

func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	if st := s.o.Source.Status(); st.Ready && !st.DataTimestamp.IsZero() {
		w.Header().Set("X-Data-Timestamp", st.DataTimestamp.Format(time.RFC3339))
	}
	s.o.Metrics.ServeHTTP(w, r)
}

func healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = fmt.Fprintln(w, "ok")
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	st := s.o.Source.Status()
	if !st.Ready {
		w.Header().Set("Retry-After", retryAfter(st))
		textError(w, http.StatusServiceUnavailable, notReadyReason(st))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = fmt.Fprintln(w, "ready")
}

// notReadyReason says why there are no reports yet, in one line.
func notReadyReason(st collector.Status) string {
	msg := "no reports yet: the first refresh of Intercom data has not finished"
	if st.LastError != "" {
		msg += "; the last attempt failed: " + oneLine(st.LastError)
	}
	return msg
}

// retryAfter suggests when to come back: soon while a refresh is running,
// else when the next one is due (at most a minute).
func retryAfter(st collector.Status) string {
	secs := 30
	if !st.Refreshing && st.Interval > 0 && st.Interval < time.Minute {
		secs = int(st.Interval.Seconds()) + 1
	}
	return fmt.Sprint(secs)
}

// textError answers a one-line plain-text error.
func textError(w http.ResponseWriter, code int, msg string) {
	h := w.Header()
	h.Del("Content-Disposition")
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = fmt.Fprintln(w, oneLine(msg))
}

// oneLine folds a message onto one line.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}

// statusWriter records the status and size of a response for the log.
type statusWriter struct {
	http.ResponseWriter
	code  int
	bytes int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// logRequests logs every request at debug level (queries may name
// employers, coaches and dates; nothing of it goes above debug).
func (s *Server) logRequests(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.log.Enabled(r.Context(), slog.LevelDebug) {
			h.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		if sw.code == 0 {
			sw.code = http.StatusOK
		}
		s.log.Debug("HTTP request", "method", r.Method, "path", r.URL.Path, "query", r.URL.RawQuery,
			"code", sw.code, "bytes", sw.bytes, "duration", time.Since(start), "remote", r.RemoteAddr)
	})
}
