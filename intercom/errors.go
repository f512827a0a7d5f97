package intercom

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"unicode"
)

// APIError is an error answer from Intercom, decoded from its
// {type: "error.list", request_id, errors: [{code, message}]} body.
type APIError struct {
	Method    string // HTTP method
	Endpoint  string // route template, e.g. "/contacts/{id}"
	Status    int    // HTTP status
	RequestID string
	Errors    []ErrorDetail

	body string // a short, sanitised excerpt of a body that was not an error list
}

// ErrorDetail is one entry of an error list.
type ErrorDetail struct {
	Code    string
	Message string
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "intercom: %s %s: HTTP %d", e.Method, e.Endpoint, e.Status)
	if t := http.StatusText(e.Status); t != "" {
		b.WriteString(" " + t)
	}
	for i, d := range e.Errors {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(d.Code)
		if d.Message != "" {
			b.WriteString(": " + d.Message)
		}
	}
	if len(e.Errors) == 0 && e.body != "" {
		fmt.Fprintf(&b, ": %q", e.body)
	}
	switch e.Status {
	case http.StatusUnauthorized:
		b.WriteString(" (the access token is invalid or has been revoked: create a new one for the app in the Intercom Developer Hub)")
	case http.StatusForbidden:
		fmt.Fprintf(&b, " (access refused, code %s: the token lacks a scope or permission this call needs, or the workspace's plan does not include it)", e.codes())
	case http.StatusTooManyRequests:
		b.WriteString(" (rate limit exceeded)")
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " [request_id %s]", e.RequestID)
	}
	return b.String()
}

// codes lists the error codes, or says there were none.
func (e *APIError) codes() string {
	if len(e.Errors) == 0 {
		return "(none given)"
	}
	cs := make([]string, 0, len(e.Errors))
	for _, d := range e.Errors {
		cs = append(cs, d.Code)
	}
	return strings.Join(cs, ",")
}

// HasCode reports whether the error list contains code.
func (e *APIError) HasCode(code string) bool {
	for _, d := range e.Errors {
		if d.Code == code {
			return true
		}
	}
	return false
}

// newAPIError decodes an error body. Every text taken from the body has the
// token (should a proxy echo it) removed.
func newAPIError(method, endpoint string, status int, body []byte, token string) *APIError {
	e := &APIError{Method: method, Endpoint: endpoint, Status: status}
	var list struct {
		Type      string `json:"type"`
		RequestID string `json:"request_id"`
		Errors    []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(body, &list); err == nil && (list.Type == "error.list" || len(list.Errors) > 0) {
		e.RequestID = sanitize(list.RequestID, token, 100)
		for _, d := range list.Errors {
			e.Errors = append(e.Errors, ErrorDetail{Code: sanitize(d.Code, token, 100), Message: sanitize(d.Message, token, 300)})
		}
		return e
	}
	e.body = sanitize(string(body), token, 120)
	return e
}

// sanitize removes the token and control characters from s and shortens it.
func sanitize(s, token string, limit int) string {
	if token != "" {
		s = strings.ReplaceAll(s, token, "[redacted]")
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) > limit {
		s = strings.ToValidUTF8(s[:limit], "") + "..."
	}
	return s
}
