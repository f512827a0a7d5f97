package intercomtest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coaching/intercom_exporter/intercom"
)

const testToken = "test-token"

// clock is a settable Now for Options.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func startServer(t *testing.T, ws *Workspace, opts Options) *Server {
	t.Helper()
	if opts.Token == "" {
		opts.Token = testToken
	}
	s := NewServer(ws, opts)
	t.Cleanup(s.Close)
	return s
}

// call sends a request with the test token; body is JSON-encoded unless it
// is a string or []byte.
func call(t *testing.T, s *Server, method, path string, body any) (*http.Response, []byte) {
	t.Helper()
	return callWith(t, s, method, path, body, "Bearer "+testToken)
}

func callWith(t *testing.T, s *Server, method, path string, body any, auth string) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		enc, err := json.Marshal(b)
		require.NoError(t, err)
		rd = bytes.NewReader(enc)
	}
	req, err := http.NewRequest(method, s.URL()+path, rd)
	require.NoError(t, err)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set("Intercom-Version", "2.11")
	req.Header.Set("Accept", "application/json")
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, out
}

type errorList struct {
	Type      string `json:"type"`
	RequestID string `json:"request_id"`
	Errors    []struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"errors"`
}

func decodeError(t *testing.T, body []byte) errorList {
	t.Helper()
	var e errorList
	require.NoError(t, json.Unmarshal(body, &e), "error body: %s", body)
	require.Equal(t, "error.list", e.Type)
	require.NotEmpty(t, e.RequestID)
	require.Len(t, e.Errors, 1)
	return e
}

type pages struct {
	Type       string `json:"type"`
	Page       int    `json:"page"`
	PerPage    int    `json:"per_page"`
	TotalPages int    `json:"total_pages"`
	Next       *struct {
		Page          int    `json:"page"`
		StartingAfter string `json:"starting_after"`
	} `json:"next"`
}

type conversationPage struct {
	Type          string                  `json:"type"`
	Conversations []intercom.Conversation `json:"conversations"`
	TotalCount    int                     `json:"total_count"`
	Pages         pages                   `json:"pages"`
}

type contactPage struct {
	Type       string             `json:"type"`
	Data       []intercom.Contact `json:"data"`
	TotalCount int                `json:"total_count"`
	Pages      pages              `json:"pages"`
}

// searchBody builds a search request body.
func searchBody(query any, perPage int, after string) map[string]any {
	b := map[string]any{"query": query}
	p := map[string]any{}
	if perPage > 0 {
		p["per_page"] = perPage
	}
	if after != "" {
		p["starting_after"] = after
	}
	if len(p) > 0 {
		b["pagination"] = p
	}
	return b
}

func searchConversations(t *testing.T, s *Server, query any, perPage int, after string) conversationPage {
	t.Helper()
	resp, body := call(t, s, http.MethodPost, "/conversations/search", searchBody(query, perPage, after))
	require.Equal(t, http.StatusOK, resp.StatusCode, "body: %s", body)
	var p conversationPage
	require.NoError(t, json.Unmarshal(body, &p))
	return p
}

func searchContacts(t *testing.T, s *Server, query any, perPage int, after string) contactPage {
	t.Helper()
	resp, body := call(t, s, http.MethodPost, "/contacts/search", searchBody(query, perPage, after))
	require.Equal(t, http.StatusOK, resp.StatusCode, "body: %s", body)
	var p contactPage
	require.NoError(t, json.Unmarshal(body, &p))
	return p
}

func filter(field, op string, value any) map[string]any {
	return map[string]any{"field": field, "operator": op, "value": value}
}

func group(op string, children ...any) map[string]any {
	return map[string]any{"operator": op, "value": children}
}

func convIDs(cs []intercom.Conversation) []string {
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	return ids
}

func contactIDs(cs []intercom.Contact) []string {
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	return ids
}

func conv(id string, created, updated int64, state, channel string, contacts ...string) intercom.Conversation {
	c := intercom.Conversation{ID: id, CreatedAt: created, UpdatedAt: updated, State: state}
	if channel != "" {
		c.CustomAttributes = intercom.Attributes{"Channel": json.RawMessage(`"` + channel + `"`)}
	}
	for _, ct := range contacts {
		c.Contacts.Contacts = append(c.Contacts.Contacts, intercom.ContactRef{ID: ct})
	}
	return c
}

// smallWorkspace: 3 admins, coaching attributes, and the given records.
func smallWorkspace(tz string) *Workspace {
	ws := NewWorkspace(tz)
	ws.AddCoachingAttributes()
	ws.AddAdmin(intercom.Admin{ID: "101", Name: "Ann Coach", Email: "ann@coaching.example"})
	ws.AddAdmin(intercom.Admin{ID: "102", Name: "Bob Coach", Email: "bob@coaching.example"})
	ws.AddAdmin(intercom.Admin{ID: "103", Name: "Ann Coach", Email: "ann2@coaching.example"})
	return ws
}
