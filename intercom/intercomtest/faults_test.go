package intercomtest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coaching/intercom_exporter/intercom"
)

// rawDo sends a request on a fresh connection (no keep-alive, so the
// transport never retries a dropped request on another connection) and
// returns the transport error, if any, and the body read error.
func rawDo(t *testing.T, s *Server, method, path, body string, timeout time.Duration) (resp *http.Response, data []byte, doErr, readErr error) {
	t.Helper()
	client := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
	req, err := http.NewRequest(method, s.URL()+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, doErr = client.Do(req)
	if doErr != nil {
		return nil, nil, doErr, nil
	}
	defer resp.Body.Close()
	data, readErr = io.ReadAll(resp.Body)
	return resp, data, nil, readErr
}

func faultWorkspace() *Workspace {
	ws := smallWorkspace("UTC")
	ws.AddContact(intercom.Contact{ID: "c1", UpdatedAt: base})
	numberedConversations(ws, 5)
	return ws
}

func TestFaults_StatusKindsAnswerErrorLists(t *testing.T) {
	for _, c := range []struct {
		kind   FaultKind
		status int
		code   string
	}{
		{FaultStatus500, 500, "server_error"},
		{FaultStatus503, 503, "service_unavailable"},
		{FaultStatus429, 429, "rate_limit_exceeded"},
	} {
		t.Run(c.kind.String(), func(t *testing.T) {
			s := startServer(t, faultWorkspace(), Options{})
			s.AddFault(Fault{Kind: c.kind})
			resp, body := call(t, s, http.MethodGet, "/contacts/c1", nil)
			require.Equal(t, c.status, resp.StatusCode)
			assert.Equal(t, c.code, decodeError(t, body).Errors[0].Code)
			assert.NotEmpty(t, resp.Header.Get("X-RateLimit-Reset"))
			if c.kind == FaultStatus429 {
				assert.Equal(t, "0", resp.Header.Get("X-RateLimit-Remaining"))
			}
			assert.Equal(t, c.status, s.Requests()[0].Status)
		})
	}
}

func TestFaults_MalformedJSONIs200WithABodyThatDoesNotParse(t *testing.T) {
	s := startServer(t, faultWorkspace(), Options{})
	s.AddFault(Fault{Kind: FaultMalformedJSON})
	resp, body := call(t, s, http.MethodGet, "/contacts/c1", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var v any
	assert.Error(t, json.Unmarshal(body, &v))
}

func TestFaults_TruncatedBodyEndsEarlyWithUnexpectedEOF(t *testing.T) {
	s := startServer(t, faultWorkspace(), Options{})
	s.AddFault(Fault{Kind: FaultTruncatedBody})
	resp, data, doErr, readErr := rawDo(t, s, http.MethodGet, "/contacts/c1", "", 5*time.Second)
	require.NoError(t, doErr)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.ErrorIs(t, readErr, io.ErrUnexpectedEOF)
	assert.Less(t, int64(len(data)), resp.ContentLength)
	assert.True(t, bytes.HasPrefix(data, []byte(`{"type":"contact"`)), "the first half of the real body: %s", data)
}

func TestFaults_DropConnectionGivesTheClientATransportError(t *testing.T) {
	s := startServer(t, faultWorkspace(), Options{})
	s.AddFault(Fault{Kind: FaultDropConnection, Times: 1})
	_, _, doErr, _ := rawDo(t, s, http.MethodPost, "/conversations/search", `{"query":{"field":"state","operator":"=","value":"closed"}}`, 5*time.Second)
	require.Error(t, doErr)
	assert.Equal(t, 0, s.Requests()[0].Status, "recorded as no answer")
	resp, _, doErr, _ := rawDo(t, s, http.MethodGet, "/me", "", 5*time.Second)
	require.NoError(t, doErr)
	assert.Equal(t, http.StatusOK, resp.StatusCode, "Times 1: only the first request")
}

func TestFaults_SlowAnswersAfterDelayOrTimesOutTheClient(t *testing.T) {
	s := startServer(t, faultWorkspace(), Options{})
	s.AddFault(Fault{Kind: FaultSlow, Delay: 150 * time.Millisecond})
	start := time.Now()
	resp, _, doErr, _ := rawDo(t, s, http.MethodGet, "/me", "", 5*time.Second)
	require.NoError(t, doErr)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond)

	_, _, doErr, _ = rawDo(t, s, http.MethodGet, "/me", "", 50*time.Millisecond)
	require.Error(t, doErr, "a client deadline shorter than the delay")
}

func TestFaults_TimesCountsDownAndZeroMeansForever(t *testing.T) {
	s := startServer(t, faultWorkspace(), Options{})
	s.AddFault(Fault{Kind: FaultStatus503, Times: 2})
	var got []int
	for range 3 {
		resp, _ := call(t, s, http.MethodGet, "/me", nil)
		got = append(got, resp.StatusCode)
	}
	assert.Equal(t, []int{503, 503, 200}, got)

	s.AddFault(Fault{Kind: FaultStatus500})
	for range 5 {
		resp, _ := call(t, s, http.MethodGet, "/me", nil)
		assert.Equal(t, 500, resp.StatusCode)
	}
	s.ClearFaults()
	resp, _ := call(t, s, http.MethodGet, "/me", nil)
	assert.Equal(t, 200, resp.StatusCode)
}

func TestFaults_MatchByMethodEndpointAndRequest_FirstRuleWins(t *testing.T) {
	s := startServer(t, faultWorkspace(), Options{})
	// Only the second page of conversation searches fails, with 503; any
	// other PUT fails with 500.
	laterPage := func(_ *http.Request, body []byte) bool { return bytes.Contains(body, []byte("starting_after")) }
	s.AddFault(Fault{Method: http.MethodPost, Endpoint: EndpointConversationsSearch, Kind: FaultStatus503, Match: laterPage})
	s.AddFault(Fault{Method: http.MethodPut, Kind: FaultStatus500})
	s.AddFault(Fault{Endpoint: EndpointConversationsSearch, Kind: FaultStatus429, Match: laterPage}) // shadowed by the first

	p1 := searchConversations(t, s, filter("state", "=", "closed"), 2, "")
	require.NotNil(t, p1.Pages.Next)
	resp, _ := call(t, s, http.MethodPost, "/conversations/search", searchBody(filter("state", "=", "closed"), 2, p1.Pages.Next.StartingAfter))
	assert.Equal(t, 503, resp.StatusCode, "the first matching rule applies")
	resp, _ = call(t, s, http.MethodPut, "/contacts/c1", map[string]any{"custom_attributes": map[string]any{}})
	assert.Equal(t, 500, resp.StatusCode)
	resp, _ = call(t, s, http.MethodGet, "/contacts/c1", nil)
	assert.Equal(t, 200, resp.StatusCode, "no rule for GET /contacts/{id}")
}

func TestFaults_ApplyOnlyAfterAuthentication(t *testing.T) {
	s := startServer(t, faultWorkspace(), Options{})
	s.AddFault(Fault{Kind: FaultStatus500})
	resp, _ := callWith(t, s, http.MethodGet, "/me", nil, "Bearer wrong")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}
