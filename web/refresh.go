package web

import (
	"net/http"
	"time"
)

// Refresher takes requests for a refresh now (daemon.Exporter): it does
// not wait for the refresh; one running already is followed by one more.
type Refresher interface {
	RequestRefresh()
}

// refreshAccepted is the JSON body of POST /refresh.
type refreshAccepted struct {
	Status string `json:"status"`
	// DataTimestamp is the data's timestamp when the request was taken:
	// the refresh is done once intercom_data_timestamp_seconds (or the
	// landing page) shows a later one.
	DataTimestamp string `json:"data_timestamp,omitempty"`
}

// refreshHandler serves POST /refresh (docs/freshness.md): 202 once the
// refresh is asked for, with the same access rule as POST /sync; 405 for
// other methods; 404 when nothing takes requests.
func (s *Server) refreshHandler() http.Handler {
	if s.o.Refresher == nil {
		return methods(func(w http.ResponseWriter, _ *http.Request) {
			textError(w, http.StatusNotFound, "refreshes on request are not available")
		}, http.MethodPost)
	}
	return methods(s.guard(needWrite, func(w http.ResponseWriter, r *http.Request) {
		if !sameOrigin(r) {
			writeJSONError(w, http.StatusForbidden, syncError{Error: "cross-origin POST /refresh refused"})
			return
		}
		if _, err := parseQuery(r.URL.RawQuery, nil); err != nil {
			writeJSONError(w, http.StatusBadRequest, syncError{Error: err.Error()})
			return
		}
		s.o.Refresher.RequestRefresh()
		s.log.Info("POST /refresh: refresh requested")
		body := refreshAccepted{Status: "refresh requested"}
		if t := s.o.Source.Status().DataTimestamp; !t.IsZero() {
			body.DataTimestamp = t.Format(time.RFC3339)
		}
		writeJSONBody(w, http.StatusAccepted, body)
	}), http.MethodPost)
}
