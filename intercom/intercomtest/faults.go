package intercomtest

import (
	"net/http"
	"slices"
	"strconv"
	"time"
)

// FaultKind is what goes wrong with a request.
type FaultKind int

// Fault kinds.
const (
	// FaultStatus500 answers 500 with an error.list (code server_error).
	FaultStatus500 FaultKind = iota + 1
	// FaultStatus503 answers 503 with an error.list (code service_unavailable).
	FaultStatus503
	// FaultStatus429 answers 429 rate_limit_exceeded with
	// X-RateLimit-Remaining 0, whatever the window's budget.
	FaultStatus429
	// FaultMalformedJSON answers 200 with a body that is not JSON.
	FaultMalformedJSON
	// FaultTruncatedBody answers 200 with the real response's headers
	// (Content-Length included) and the first half of its body, then drops
	// the connection: the client sees an unexpected EOF.
	FaultTruncatedBody
	// FaultDropConnection closes the connection without answering.
	FaultDropConnection
	// FaultSlow answers normally after Fault.Delay (default 1s), or gives up
	// when the client does.
	FaultSlow
)

func (k FaultKind) String() string {
	switch k {
	case FaultStatus500:
		return "FaultStatus500"
	case FaultStatus503:
		return "FaultStatus503"
	case FaultStatus429:
		return "FaultStatus429"
	case FaultMalformedJSON:
		return "FaultMalformedJSON"
	case FaultTruncatedBody:
		return "FaultTruncatedBody"
	case FaultDropConnection:
		return "FaultDropConnection"
	case FaultSlow:
		return "FaultSlow"
	}
	return "FaultKind(" + strconv.Itoa(int(k)) + ")"
}

// Fault makes chosen requests fail. A request matches when its method,
// route template and Match (each optional) match. Faults apply to requests
// that passed authentication and the rate limit.
type Fault struct {
	Method   string                                  // "" = any
	Endpoint string                                  // route template, e.g. "/contacts/{id}"; "" = any
	Match    func(r *http.Request, body []byte) bool // nil = any
	Kind     FaultKind
	Times    int           // how many requests it applies to; 0 = forever
	Delay    time.Duration // waited before the fault acts (FaultSlow: default 1s)
}

// AddFault adds a fault rule after the existing ones. The first rule that
// matches a request is applied, and its Times decremented; a rule whose
// Times runs out is removed.
func (s *Server) AddFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// ClearFaults removes every fault rule.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// matchFault finds the first rule that matches and spends one of its
// Times. Match functions run without the server's lock held, so they may
// call the Server's methods.
func (s *Server) matchFault(r *http.Request, endpoint string, body []byte) *Fault {
	s.mu.Lock()
	rules := slices.Clone(s.faults)
	s.mu.Unlock()
	for _, f := range rules {
		// Method, Endpoint and Match do not change after AddFault.
		if (f.Method != "" && f.Method != r.Method) || (f.Endpoint != "" && f.Endpoint != endpoint) {
			continue
		}
		if f.Match != nil && !f.Match(r, body) {
			continue
		}
		s.mu.Lock()
		i := slices.Index(s.faults, f)
		if i < 0 { // used up or cleared meanwhile
			s.mu.Unlock()
			continue
		}
		applied := *f
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				s.faults = slices.Delete(s.faults, i, i+1)
			}
		}
		s.mu.Unlock()
		return &applied
	}
	return nil
}

// applyFault answers a request as the fault says and returns the status
// sent (0 for none). normal computes the real response.
func (s *Server) applyFault(w http.ResponseWriter, r *http.Request, f *Fault, normal func() response) int {
	delay := f.Delay
	if f.Kind == FaultSlow && delay <= 0 {
		delay = time.Second
	}
	if !s.sleep(r.Context(), delay) {
		dropConnection(w) // the client gave up or the server is closing
		return 0
	}
	var resp response
	switch f.Kind {
	case FaultStatus503:
		resp = errorResponse(&apiError{status: http.StatusServiceUnavailable, code: "service_unavailable", message: "Sorry, the API service is temporarily unavailable"})
	case FaultStatus429:
		w.Header().Set("X-RateLimit-Remaining", "0")
		resp = errorResponse(&apiError{status: http.StatusTooManyRequests, code: "rate_limit_exceeded", message: "Exceeded rate limit"})
	case FaultMalformedJSON:
		resp = response{status: http.StatusOK, body: []byte(`{"type":"list","data":[{"type":"contact","id":` + "\x00<html>502 Bad Gateway</html>")}
	case FaultTruncatedBody:
		full := normal()
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Content-Length", strconv.Itoa(len(full.body)))
		w.WriteHeader(full.status)
		_, _ = w.Write(full.body[:len(full.body)/2])
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		dropConnection(w)
		return full.status
	case FaultDropConnection:
		dropConnection(w)
		return 0
	case FaultSlow:
		resp = normal()
	default: // FaultStatus500 and unknown kinds
		resp = errorResponse(&apiError{status: http.StatusInternalServerError, code: "server_error", message: "Server Error"})
	}
	writeResponse(w, resp)
	return resp.status
}

// dropConnection closes the client's connection at once. Where the
// connection cannot be taken over (HTTP/2), the handler is aborted, which
// resets the stream.
func dropConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}
