package intercomtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coaching/intercom_exporter/intercom"
)

// Options configure a Server.
type Options struct {
	// Token is the bearer token required on every request; empty accepts
	// any non-empty bearer token.
	Token string
	// RateLimitPerMinute is the advertised limit (X-RateLimit-Limit); 0
	// means 10000. It is enforced, as Intercom does, per 10-second window
	// of RateLimitPerMinute/6 calls, windows aligned to 10-second wall-clock
	// boundaries of Now. Every answered call counts, errors included;
	// unauthenticated calls and calls refused with 429 do not.
	RateLimitPerMinute int
	// Latency is added to every request.
	Latency time.Duration
	// Now is the clock for updated_at on writes and for rate-limit windows;
	// default time.Now.
	Now func() time.Time
	// AdminsForbidden makes GET /admins answer 403, as for a token that
	// lacks the scope to read admins.
	AdminsForbidden bool
	// SearchLag delays what the search sees, as Intercom's index does: a
	// record changed at t is found as it was until t+SearchLag (see
	// Workspace.SetSearchLag). 0: no lag.
	SearchLag time.Duration
}

// Request is the record of one request the server received.
type Request struct {
	Method   string
	Path     string
	Endpoint string // route template, e.g. "/contacts/{id}"; the path when no route matched
	Query    url.Values
	Header   http.Header
	Body     []byte
	Status   int // status sent; 0 when the connection was dropped
	Time     time.Time
}

// Route templates, as recorded in Request.Endpoint.
const (
	EndpointMe                  = "/me"
	EndpointAdmins              = "/admins"
	EndpointContact             = "/contacts/{id}"
	EndpointContactsSearch      = "/contacts/search"
	EndpointConversationsSearch = "/conversations/search"
	EndpointDataAttributes      = "/data_attributes"
)

// maxRecorded bounds the request log (the demo runs for days); Count stays
// exact beyond it.
const maxRecorded = 100_000

// Server is a fake Intercom serving a Workspace.
type Server struct {
	ws      *Workspace
	opts    Options
	ts      *httptest.Server
	handler http.Handler
	closed  chan struct{}
	once    sync.Once

	mu       sync.Mutex
	requests []Request
	counts   map[string]int // method + " " + endpoint
	faults   []*Fault

	rlMu     sync.Mutex
	rlWindow int64 // start of the current window, UNIX seconds
	rlUsed   int
}

// NewServer starts a fake Intercom for ws on a 127.0.0.1 port.
func NewServer(ws *Workspace, opts Options) *Server {
	s := newServer(ws, opts)
	s.ts = httptest.NewServer(s.handler)
	return s
}

func newServer(ws *Workspace, opts Options) *Server {
	if opts.RateLimitPerMinute <= 0 {
		opts.RateLimitPerMinute = 10000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.SearchLag > 0 {
		ws.SetSearchLag(opts.SearchLag, opts.Now)
	}
	s := &Server{ws: ws, opts: opts, closed: make(chan struct{}), counts: map[string]int{}}
	s.handler = http.HandlerFunc(s.serve)
	return s
}

// URL is the base URL of the server, e.g. http://127.0.0.1:40123.
func (s *Server) URL() string { return s.ts.URL }

// Close stops the server. Requests held by latency or a slow fault are
// released first.
func (s *Server) Close() {
	s.once.Do(func() { close(s.closed) })
	if s.ts != nil {
		s.ts.Close()
	}
}

// Handler serves the fake API, so that the demo can listen on an address of
// its choice.
func (s *Server) Handler() http.Handler { return s.handler }

// Requests returns the record of the requests received, oldest first (the
// latest 100,000).
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// ResetRequests forgets the requests received so far.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
	s.counts = map[string]int{}
}

// Count is the number of requests received with this method and route
// template (e.g. "POST", "/conversations/search") since the last reset.
func (s *Server) Count(method, endpointTemplate string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[method+" "+endpointTemplate]
}

func (s *Server) record(r Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts[r.Method+" "+r.Endpoint]++
	if len(s.requests) >= maxRecorded {
		s.requests = slices.Delete(s.requests, 0, len(s.requests)-maxRecorded+1)
	}
	s.requests = append(s.requests, r)
}

// response is what a handler answers.
type response struct {
	status int
	body   []byte
}

type handlerFunc func(s *Server, r *http.Request, id string, body []byte) response

// route finds the handler and template for a request.
func route(method, path string) (endpoint string, h handlerFunc, id string) {
	switch path {
	case EndpointMe:
		return path, only(method, http.MethodGet, (*Server).getMe), ""
	case EndpointAdmins:
		return path, only(method, http.MethodGet, (*Server).getAdmins), ""
	case EndpointDataAttributes:
		return path, only(method, http.MethodGet, (*Server).getDataAttributes), ""
	case EndpointContactsSearch:
		if method == http.MethodPost {
			return path, (*Server).searchContacts, ""
		}
	case EndpointConversationsSearch:
		return path, only(method, http.MethodPost, (*Server).searchConversations), ""
	}
	if rest, ok := strings.CutPrefix(path, "/contacts/"); ok && rest != "" && !strings.Contains(rest, "/") {
		switch method {
		case http.MethodGet:
			return EndpointContact, (*Server).getContact, rest
		case http.MethodPut:
			return EndpointContact, (*Server).putContact, rest
		}
		return EndpointContact, notFound, rest
	}
	return path, notFound, ""
}

func only(method, want string, h handlerFunc) handlerFunc {
	if method != want {
		return notFound
	}
	return h
}

// notFound answers unknown routes and methods. Intercom's error
// documentation has no 405; an unknown resource is a 404.
func notFound(*Server, *http.Request, string, []byte) response {
	return errorResponse(&apiError{status: http.StatusNotFound, code: "not_found", message: "Resource Not Found"})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	now := s.opts.Now()
	body, _ := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	endpoint, h, id := route(r.Method, r.URL.Path)
	rec := Request{
		Method: r.Method, Path: r.URL.Path, Endpoint: endpoint, Query: r.URL.Query(),
		Header: r.Header.Clone(), Body: body, Time: now,
	}
	defer func() { s.record(rec) }()

	if !s.sleep(r.Context(), s.opts.Latency) {
		dropConnection(w) // the client gave up or the server is closing
		return
	}
	var resp response
	var fault *Fault
	switch {
	case !s.authorized(r):
		resp = errorResponse(&apiError{status: http.StatusUnauthorized, code: "unauthorized", message: "Access Token Invalid"})
		s.setRateHeaders(w, now, false)
	case !s.setRateHeaders(w, now, true):
		resp = errorResponse(&apiError{status: http.StatusTooManyRequests, code: "rate_limit_exceeded", message: "Exceeded rate limit"})
	default:
		fault = s.matchFault(r, endpoint, body)
	}
	if fault != nil {
		rec.Status = s.applyFault(w, r, fault, func() response { return h(s, r, id, body) })
		return
	}
	if resp.status == 0 {
		resp = adaptToVersion(r, endpoint, h(s, r, id, body))
	}
	rec.Status = resp.status
	writeResponse(w, resp)
}

func writeResponse(w http.ResponseWriter, resp response) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(resp.body)))
	w.WriteHeader(resp.status)
	_, _ = w.Write(resp.body)
}

// sleep waits d, or less if the request is cancelled or the server closed;
// it reports whether the full time passed.
func (s *Server) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-s.closed:
	}
	return false
}

func (s *Server) authorized(r *http.Request) bool {
	scheme, token, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	token = strings.TrimSpace(token)
	if s.opts.Token == "" {
		return token != ""
	}
	return token == s.opts.Token
}

// setRateHeaders sets the X-RateLimit-* headers for the window of now and,
// when consume is set, spends one call of the window's budget; it reports
// whether the call was within the budget. Calls refused with 429 do not
// spend the budget.
func (s *Server) setRateHeaders(w http.ResponseWriter, now time.Time, consume bool) bool {
	budget := max(1, s.opts.RateLimitPerMinute/6)
	window := now.Unix() - mod(now.Unix(), 10)
	s.rlMu.Lock()
	if window != s.rlWindow {
		s.rlWindow, s.rlUsed = window, 0
	}
	ok := true
	if consume {
		if s.rlUsed < budget {
			s.rlUsed++
		} else {
			ok = false
		}
	}
	remaining := budget - s.rlUsed
	s.rlMu.Unlock()
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(s.opts.RateLimitPerMinute))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(window+10, 10))
	return ok
}

func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func errorResponse(e *apiError) response {
	return response{status: e.status, body: marshal(errorJSON{
		Type:      "error.list",
		RequestID: newRequestID(),
		Errors:    []errorItemJSON{{Code: e.code, Message: e.message}},
	})}
}

func ok(v any) response { return response{status: http.StatusOK, body: marshal(v)} }

// ---- handlers ----

func (s *Server) getMe(*http.Request, string, []byte) response {
	s.ws.mu.RLock()
	defer s.ws.mu.RUnlock()
	return ok(s.ws.meJSON())
}

func (s *Server) getAdmins(*http.Request, string, []byte) response {
	if s.opts.AdminsForbidden {
		return errorResponse(&apiError{status: http.StatusForbidden, code: "token_unauthorized", message: "Not authorized to access resource: this token lacks the read admins permission"})
	}
	s.ws.mu.RLock()
	defer s.ws.mu.RUnlock()
	return ok(s.ws.adminListJSON())
}

func (s *Server) getDataAttributes(r *http.Request, _ string, _ []byte) response {
	q := r.URL.Query()
	model := q.Get("model")
	switch model {
	case "", "contact", "company", "conversation":
	default:
		return errorResponse(badRequest("parameter_invalid", "model must be contact, company or conversation"))
	}
	archived, _ := strconv.ParseBool(q.Get("include_archived"))
	s.ws.mu.RLock()
	defer s.ws.mu.RUnlock()
	return ok(s.ws.dataAttributeListJSON(model, archived))
}

func (s *Server) getContact(_ *http.Request, id string, _ []byte) response {
	s.ws.mu.RLock()
	defer s.ws.mu.RUnlock()
	i, found := s.ws.contactByID[id]
	if !found {
		return errorResponse(&apiError{status: http.StatusNotFound, code: "not_found", message: "User Not Found"})
	}
	return ok(s.ws.contactJSON(&s.ws.contacts[i].c))
}

// putContact updates custom attributes. Every name must be a live custom
// data attribute of model contact (Intercom refuses others with 400
// parameter_invalid) and every value null or of the attribute's data type;
// nothing is written unless all are valid. updated_at becomes Now.
func (s *Server) putContact(_ *http.Request, id string, body []byte) response {
	var req struct {
		CustomAttributes map[string]json.RawMessage `json:"custom_attributes"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return errorResponse(badRequest("parameter_invalid", "request body is not a JSON object: %v", err))
	}
	now := s.opts.Now().Unix()
	w := s.ws
	w.mu.Lock()
	defer w.mu.Unlock()
	i, found := w.contactByID[id]
	if !found {
		return errorResponse(&apiError{status: http.StatusNotFound, code: "not_found", message: "User Not Found"})
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range req.CustomAttributes {
			if !yield(k) {
				return
			}
		}
	})
	for _, name := range names {
		a, known := w.customAttr("contact", name)
		if !known {
			return errorResponse(badRequest("parameter_invalid", "Custom attribute '%s' does not exist", name))
		}
		if !a.APIWritable {
			return errorResponse(badRequest("parameter_invalid", "Custom attribute '%s' is not writable through the API", name))
		}
		if !valueFits(req.CustomAttributes[name], a.DataType) {
			return errorResponse(badRequest("parameter_invalid", "Custom attribute '%s' expects a value of type %s, got %s", name, a.DataType, truncateJSON(req.CustomAttributes[name])))
		}
	}
	w.updateContactLocked(i, func(c *intercom.Contact) {
		if c.CustomAttributes == nil {
			c.CustomAttributes = intercom.Attributes{}
		}
		for _, name := range names {
			v := bytes.TrimSpace(req.CustomAttributes[name])
			c.CustomAttributes[name] = json.RawMessage(slices.Clone(v))
		}
		c.UpdatedAt = now
	})
	return ok(w.contactJSON(&w.contacts[i].c))
}

// valueFits reports whether a written value suits a data type (null always
// does: it clears the attribute).
func valueFits(raw json.RawMessage, dataType string) bool {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return true
	}
	switch dataType {
	case "string":
		var s string
		return json.Unmarshal(raw, &s) == nil
	case "integer", "date":
		var n int64
		return json.Unmarshal(raw, &n) == nil
	case "float":
		var f float64
		return json.Unmarshal(raw, &f) == nil
	case "boolean":
		var b bool
		return json.Unmarshal(raw, &b) == nil
	}
	return true
}

func (s *Server) searchConversations(_ *http.Request, _ string, body []byte) response {
	b, err := s.ws.searchConversations(body)
	if err != nil {
		return errorResponse(err)
	}
	return response{status: http.StatusOK, body: b}
}

func (s *Server) searchContacts(_ *http.Request, _ string, body []byte) response {
	b, err := s.ws.searchContacts(body)
	if err != nil {
		return errorResponse(err)
	}
	return response{status: http.StatusOK, body: b}
}
