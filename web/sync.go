package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/coaching/intercom_exporter/daemon"
	"github.com/coaching/intercom_exporter/engagement"
	"github.com/coaching/intercom_exporter/intercom"
)

// syncHandler serves POST /sync and its alias for the original app's
// callers, POST /API/intercom (docs/endpoints.md): 405 for other methods
// (whether the sync is on or off), 404 when the sync is off, 401 or 403
// without write access (docs/access.md), 409 during a run.
func (s *Server) syncHandler() http.Handler {
	if s.o.Syncer == nil {
		return methods(func(w http.ResponseWriter, _ *http.Request) {
			textError(w, http.StatusNotFound, "the engagement sync is off (SYNC_MODE=off)")
		}, http.MethodPost)
	}
	return methods(s.guard(needWrite, s.sync), http.MethodPost)
}

// lookbackDays is LOOKBACK_DAYS, which a body's lookbackDays must equal.
func (s *Server) lookbackDays() int {
	if s.o.LookbackDays > 0 {
		return s.o.LookbackDays
	}
	if m := s.o.Source.Model(); m != nil {
		return m.Config.LookbackDays
	}
	return engagement.DefaultConfig().LookbackDays
}

// syncError is the JSON body of a sync that did not run.
type syncError struct {
	Error   string `json:"error"`
	Started string `json:"started,omitempty"`
}

func (s *Server) sync(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		writeJSONError(w, http.StatusForbidden, syncError{Error: "cross-origin POST /sync refused"})
		return
	}
	q, err := parseQuery(r.URL.RawQuery, []string{"dry_run"})
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, syncError{Error: err.Error()})
		return
	}
	dryRun, err := q.boolean("dry_run")
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, syncError{Error: err.Error()})
		return
	}
	body, err := readSyncBody(r.Body, s.lookbackDays())
	if err != nil {
		writeJSONError(w, syncBodyStatus(err), syncError{Error: oneLine(err.Error())})
		return
	}
	// Either the query or the body can ask for a dry run; neither can
	// turn one off (in SYNC_MODE=dry-run the runner never writes).
	dryRun = dryRun || body.DryRun
	// A client that hangs up does not stop a run that writes to Intercom:
	// the runner would leave contacts for the next run, but there is no
	// reason to. SIGTERM does: the daemon cancels every running sync
	// (StopSyncs) before the server drains, and this client gets the
	// partial summary.
	sum, err := s.o.Syncer.Sync(context.WithoutCancel(r.Context()), dryRun)
	if err != nil {
		code, body := syncFailure(err)
		s.log.Warn("POST /sync did not run", "path", r.URL.Path, "dry_run", dryRun, "code", code)
		s.log.Debug("POST /sync error", "err", err)
		writeJSONError(w, code, body)
		return
	}
	code := http.StatusOK
	if sum.Result == engagement.ResultFailed || sum.Result == engagement.ResultBlocked {
		code = http.StatusBadGateway
	}
	s.log.Info("POST /sync ran", "path", r.URL.Path, "dry_run", dryRun, "mode", sum.Mode, "result", sum.Result,
		"planned", sum.Planned, "written", sum.Written, "failed", sum.Failed, "left", sum.Left)
	if !sum.DataTimestamp.IsZero() {
		w.Header().Set("X-Data-Timestamp", sum.DataTimestamp.Format(time.RFC3339))
	}
	writeJSONBody(w, code, sum)
}

// syncFailure maps an error from a sync that did not run to a status and
// a one-line reason: 409 busy, 503 while stopping, 404 off, 504 past a deadline, 502 when
// Intercom failed (unreachable, an error answer, the refresh before the
// sync, blocked attributes), 500 only for anything else.
func syncFailure(err error) (int, syncError) {
	var busy *engagement.BusyError
	var attrs *engagement.AttributesError
	var api *intercom.APIError
	switch {
	case errors.As(err, &busy):
		body := syncError{Error: oneLine(err.Error())}
		if !busy.Started.IsZero() {
			body.Started = busy.Started.Format(time.RFC3339)
		}
		return http.StatusConflict, body
	case errors.Is(err, daemon.ErrStopping):
		return http.StatusServiceUnavailable, syncError{Error: oneLine(err.Error())}
	case errors.Is(err, engagement.ErrOff):
		return http.StatusNotFound, syncError{Error: oneLine(err.Error())}
	case errors.As(err, &attrs):
		return http.StatusBadGateway, syncError{Error: oneLine(err.Error())}
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, syncError{Error: oneLine(err.Error())}
	case errors.Is(err, daemon.ErrIntercom), errors.As(err, &api):
		return http.StatusBadGateway, syncError{Error: oneLine(err.Error())}
	}
	return http.StatusInternalServerError, syncError{Error: oneLine(err.Error())}
}

// sameOrigin refuses a browser's cross-site POST (CSRF with cached basic
// auth credentials); clients such as curl send no Origin.
func sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return r.Header.Get("Sec-Fetch-Site") != "cross-site"
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host == r.Host
}

func writeJSONError(w http.ResponseWriter, code int, body syncError) { writeJSONBody(w, code, body) }

func writeJSONBody(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
