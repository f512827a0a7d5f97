package intercomtest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coaching/intercom_exporter/intercom"
)

func TestAuth_MissingOrWrongTokenGets401ErrorList(t *testing.T) {
	s := startServer(t, smallWorkspace("UTC"), Options{})
	for name, auth := range map[string]string{
		"no header":     "",
		"wrong token":   "Bearer nope",
		"empty bearer":  "Bearer ",
		"basic scheme":  "Basic " + testToken,
		"token, no tag": testToken,
	} {
		t.Run(name, func(t *testing.T) {
			for _, path := range []string{"/me", "/admins", "/contacts/abc", "/data_attributes"} {
				resp, body := callWith(t, s, http.MethodGet, path, nil, auth)
				require.Equal(t, http.StatusUnauthorized, resp.StatusCode, path)
				assert.Equal(t, "application/json; charset=utf-8", resp.Header.Get("Content-Type"))
				e := decodeError(t, body)
				assert.Equal(t, "unauthorized", e.Errors[0].Code)
				assert.Equal(t, "Access Token Invalid", e.Errors[0].Message)
				assert.NotEmpty(t, resp.Header.Get("X-RateLimit-Limit"), "rate headers on a 401 too")
			}
			resp, body := callWith(t, s, http.MethodPost, "/conversations/search", searchBody(filter("state", "=", "closed"), 0, ""), auth)
			require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
			decodeError(t, body)
		})
	}
}

func TestAuth_EmptyTokenOptionAcceptsAnyBearerToken(t *testing.T) {
	s := NewServer(smallWorkspace("UTC"), Options{})
	t.Cleanup(s.Close)
	resp, _ := callWith(t, s, http.MethodGet, "/me", nil, "Bearer whatever")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	resp, _ = callWith(t, s, http.MethodGet, "/me", nil, "Bearer ")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}

func TestMe_ReportsAdminWithAppTimezone(t *testing.T) {
	s := startServer(t, NewWorkspace("America/Los_Angeles"), Options{})
	resp, body := call(t, s, http.MethodGet, "/me", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var me struct {
		Type string `json:"type"`
		ID   string `json:"id"`
		App  struct {
			Type     string `json:"type"`
			Timezone string `json:"timezone"`
		} `json:"app"`
	}
	require.NoError(t, json.Unmarshal(body, &me))
	assert.Equal(t, "admin", me.Type)
	assert.NotEmpty(t, me.ID)
	assert.Equal(t, "app", me.App.Type)
	assert.Equal(t, "America/Los_Angeles", me.App.Timezone)
}

func TestAdmins_ListsTeammates(t *testing.T) {
	s := startServer(t, smallWorkspace("UTC"), Options{})
	resp, body := call(t, s, http.MethodGet, "/admins", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var list struct {
		Type   string           `json:"type"`
		Admins []intercom.Admin `json:"admins"`
	}
	require.NoError(t, json.Unmarshal(body, &list))
	assert.Equal(t, "admin.list", list.Type)
	assert.Equal(t, []intercom.Admin{
		{ID: "101", Name: "Ann Coach", Email: "ann@coaching.example"},
		{ID: "102", Name: "Bob Coach", Email: "bob@coaching.example"},
		{ID: "103", Name: "Ann Coach", Email: "ann2@coaching.example"},
	}, list.Admins)
}

func TestAdmins_ForbiddenOptionAnswers403(t *testing.T) {
	s := startServer(t, smallWorkspace("UTC"), Options{AdminsForbidden: true})
	resp, body := call(t, s, http.MethodGet, "/admins", nil)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.Equal(t, "token_unauthorized", decodeError(t, body).Errors[0].Code)
	resp, _ = call(t, s, http.MethodGet, "/me", nil)
	assert.Equal(t, http.StatusOK, resp.StatusCode, "only /admins is refused")
}

func TestContact_UnsetCustomAttributesComeBackAsNull(t *testing.T) {
	ws := smallWorkspace("UTC")
	ws.AddContact(intercom.Contact{ID: "c1", Role: "user", Email: "a@example.com", OwnerID: "102", CreatedAt: 10, UpdatedAt: 20,
		CustomAttributes: intercom.Attributes{AttrEmployer: json.RawMessage(`"Acme"`)}})
	s := startServer(t, ws, Options{})
	resp, body := call(t, s, http.MethodGet, "/contacts/c1", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var got struct {
		Type             string                     `json:"type"`
		ID               string                     `json:"id"`
		OwnerID          json.RawMessage            `json:"owner_id"`
		ExternalID       json.RawMessage            `json:"external_id"`
		UpdatedAt        int64                      `json:"updated_at"`
		CustomAttributes map[string]json.RawMessage `json:"custom_attributes"`
	}
	require.NoError(t, json.Unmarshal(body, &got))
	assert.Equal(t, "contact", got.Type)
	assert.Equal(t, "c1", got.ID)
	assert.JSONEq(t, `102`, string(got.OwnerID), "owner_id is an integer")
	assert.JSONEq(t, `null`, string(got.ExternalID))
	assert.Equal(t, int64(20), got.UpdatedAt)
	assert.Equal(t, map[string]json.RawMessage{
		AttrEmployer:         json.RawMessage(`"Acme"`),
		AttrRegistrationDate: json.RawMessage(`null`),
		AttrEnrolledDate:     json.RawMessage(`null`),
		AttrLastCoachingCall: json.RawMessage(`null`),
		AttrEngagementStatus: json.RawMessage(`null`),
	}, got.CustomAttributes)
}

func TestContact_UnknownIDIs404NotFound(t *testing.T) {
	s := startServer(t, smallWorkspace("UTC"), Options{})
	for _, method := range []string{http.MethodGet, http.MethodPut} {
		resp, body := call(t, s, method, "/contacts/missing", map[string]any{"custom_attributes": map[string]any{}})
		require.Equal(t, http.StatusNotFound, resp.StatusCode, method)
		assert.Equal(t, "not_found", decodeError(t, body).Errors[0].Code)
	}
}

func TestPutContact_SetsAttributesAndBumpsUpdatedAtToNow(t *testing.T) {
	ws := smallWorkspace("UTC")
	ws.AddContact(intercom.Contact{ID: "c1", CreatedAt: 10, UpdatedAt: 20})
	now := time.Date(2026, 3, 15, 9, 30, 0, 0, time.UTC)
	s := startServer(t, ws, Options{Now: func() time.Time { return now }})
	resp, body := call(t, s, http.MethodPut, "/contacts/c1", map[string]any{"custom_attributes": map[string]any{
		AttrLastCoachingCall: 1773000000, AttrEngagementStatus: "Engaged",
	}})
	require.Equal(t, http.StatusOK, resp.StatusCode, "body: %s", body)
	var got intercom.Contact
	require.NoError(t, json.Unmarshal(body, &got))
	assert.Equal(t, now.Unix(), got.UpdatedAt, "the answer carries the new updated_at")
	assert.JSONEq(t, `1773000000`, string(got.CustomAttributes[AttrLastCoachingCall]))
	assert.JSONEq(t, `"Engaged"`, string(got.CustomAttributes[AttrEngagementStatus]))

	stored, ok := ws.Contact("c1")
	require.True(t, ok)
	assert.Equal(t, now.Unix(), stored.UpdatedAt)
	assert.JSONEq(t, `"Engaged"`, string(stored.CustomAttributes[AttrEngagementStatus]))

	// The write moves the contact in updated_at order: a search from the
	// day before now finds it.
	page := searchContacts(t, s, filter("updated_at", ">", now.Add(-24*time.Hour).Unix()), 0, "")
	assert.Equal(t, []string{"c1"}, contactIDs(page.Data))
}

func TestPutContact_UnknownAttributeIs400ParameterInvalidAndWritesNothing(t *testing.T) {
	ws := smallWorkspace("UTC")
	ws.AddContact(intercom.Contact{ID: "c1", CreatedAt: 10, UpdatedAt: 20})
	s := startServer(t, ws, Options{})
	resp, body := call(t, s, http.MethodPut, "/contacts/c1", map[string]any{"custom_attributes": map[string]any{
		AttrEngagementStatus: "Engaged", "Last Coaching Cal": 1773000000,
	}})
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	e := decodeError(t, body)
	assert.Equal(t, "parameter_invalid", e.Errors[0].Code)
	assert.Contains(t, e.Errors[0].Message, "Last Coaching Cal")
	stored, _ := ws.Contact("c1")
	assert.Equal(t, int64(20), stored.UpdatedAt)
	assert.NotContains(t, stored.CustomAttributes, AttrEngagementStatus, "no partial write")
}

func TestPutContact_ArchivedOrBuiltinOrWrongTypeIs400(t *testing.T) {
	ws := smallWorkspace("UTC")
	ws.AddDataAttribute(intercom.DataAttribute{Name: "Old", DataType: "string", APIWritable: true, Archived: true})
	ws.AddContact(intercom.Contact{ID: "c1"})
	s := startServer(t, ws, Options{})
	for name, attrs := range map[string]map[string]any{
		"archived":           {"Old": "x"},
		"built-in":           {"email": "x@example.com"},
		"string for date":    {AttrLastCoachingCall: "2026-03-01"},
		"number for string":  {AttrEngagementStatus: 3},
		"float for date":     {AttrLastCoachingCall: 1.5},
		"conversation model": {AttrChannel: "Phone"},
	} {
		resp, body := call(t, s, http.MethodPut, "/contacts/c1", map[string]any{"custom_attributes": attrs})
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, name)
		assert.Equal(t, "parameter_invalid", decodeError(t, body).Errors[0].Code, name)
	}
	resp, _ := call(t, s, http.MethodPut, "/contacts/c1", map[string]any{"custom_attributes": map[string]any{AttrLastCoachingCall: nil}})
	assert.Equal(t, http.StatusOK, resp.StatusCode, "null clears an attribute")
}

func TestDataAttributes_ContactModelListsBuiltinsAndCustom(t *testing.T) {
	ws := smallWorkspace("UTC")
	ws.AddDataAttribute(intercom.DataAttribute{Name: "Old", DataType: "string", Archived: true})
	s := startServer(t, ws, Options{})
	resp, body := call(t, s, http.MethodGet, "/data_attributes?model=contact", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var list struct {
		Type string                   `json:"type"`
		Data []intercom.DataAttribute `json:"data"`
	}
	require.NoError(t, json.Unmarshal(body, &list))
	assert.Equal(t, "list", list.Type)
	byName := map[string]intercom.DataAttribute{}
	for _, a := range list.Data {
		assert.Equal(t, "contact", a.Model)
		byName[a.Name] = a
	}
	assert.False(t, byName["email"].Custom)
	assert.Equal(t, "email", byName["email"].FullName)
	assert.Contains(t, byName, "name")
	assert.Equal(t, intercom.DataAttribute{Name: AttrRegistrationDate, FullName: "custom_attributes." + AttrRegistrationDate,
		Label: AttrRegistrationDate, Model: "contact", DataType: "date", APIWritable: true, Custom: true}, byName[AttrRegistrationDate])
	assert.Equal(t, "string", byName[AttrEmployer].DataType)
	assert.NotContains(t, byName, AttrChannel, "conversation attributes are not in model=contact")
	assert.NotContains(t, byName, "Old", "archived attributes only with include_archived")

	_, body = call(t, s, http.MethodGet, "/data_attributes?model=contact&include_archived=true", nil)
	assert.Contains(t, string(body), `"name":"Old"`)
	_, body = call(t, s, http.MethodGet, "/data_attributes?model=conversation", nil)
	assert.Contains(t, string(body), `"name":"Channel"`)
}

func TestUnknownRouteOrMethodIs404ErrorList(t *testing.T) {
	s := startServer(t, smallWorkspace("UTC"), Options{})
	for _, c := range []struct{ method, path string }{
		{http.MethodGet, "/tickets"},
		{http.MethodDelete, "/contacts/c1"},
		{http.MethodGet, "/conversations/search"},
		{http.MethodPost, "/me"},
	} {
		resp, body := call(t, s, c.method, c.path, nil)
		require.Equal(t, http.StatusNotFound, resp.StatusCode, c)
		assert.Equal(t, "not_found", decodeError(t, body).Errors[0].Code)
	}
}

func TestRequests_RecordsEveryRequestWithItsRouteTemplate(t *testing.T) {
	ws := smallWorkspace("UTC")
	ws.AddContact(intercom.Contact{ID: "c1"})
	now := time.Date(2026, 3, 15, 9, 30, 0, 0, time.UTC)
	s := startServer(t, ws, Options{Now: func() time.Time { return now }})
	call(t, s, http.MethodGet, "/contacts/c1", nil)
	call(t, s, http.MethodGet, "/contacts/zz", nil)
	body := searchBody(filter("state", "=", "closed"), 5, "")
	call(t, s, http.MethodPost, "/conversations/search", body)
	call(t, s, http.MethodGet, "/data_attributes?model=contact", nil)
	callWith(t, s, http.MethodGet, "/me", nil, "")

	reqs := s.Requests()
	require.Len(t, reqs, 5)
	assert.Equal(t, Request{Method: "GET", Path: "/contacts/c1", Endpoint: "/contacts/{id}", Status: 200}, strip(reqs[0]))
	assert.Equal(t, 404, reqs[1].Status)
	assert.Equal(t, "/contacts/{id}", reqs[1].Endpoint)
	assert.Equal(t, "/conversations/search", reqs[2].Endpoint)
	assert.Equal(t, "POST", reqs[2].Method)
	wantBody, _ := json.Marshal(body)
	assert.JSONEq(t, string(wantBody), string(reqs[2].Body))
	assert.Equal(t, "contact", reqs[3].Query.Get("model"))
	assert.Equal(t, 401, reqs[4].Status)
	assert.Equal(t, now, reqs[0].Time)
	assert.Equal(t, "2.11", reqs[0].Header.Get("Intercom-Version"))

	assert.Equal(t, 2, s.Count("GET", "/contacts/{id}"))
	assert.Equal(t, 1, s.Count("POST", "/conversations/search"))
	assert.Equal(t, 0, s.Count("POST", "/contacts/search"))

	s.ResetRequests()
	assert.Empty(t, s.Requests())
	assert.Equal(t, 0, s.Count("GET", "/contacts/{id}"))
}

func strip(r Request) Request {
	return Request{Method: r.Method, Path: r.Path, Endpoint: r.Endpoint, Status: r.Status}
}

func TestLatency_IsAddedToEveryRequest(t *testing.T) {
	s := startServer(t, smallWorkspace("UTC"), Options{Latency: 80 * time.Millisecond})
	start := time.Now()
	resp, _ := call(t, s, http.MethodGet, "/me", nil)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.GreaterOrEqual(t, time.Since(start), 80*time.Millisecond)
}

func TestHandler_ServesOnAListenerOfOnesChoice(t *testing.T) {
	s := startServer(t, smallWorkspace("UTC"), Options{})
	other := httptest.NewServer(s.Handler())
	t.Cleanup(other.Close)
	req, _ := http.NewRequest(http.MethodGet, other.URL+"/me", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, 1, s.Count("GET", "/me"))
}

func TestRateLimit_HeadersOnEveryResponseAnd429WhenWindowBudgetSpent(t *testing.T) {
	// 60 per minute: 10 calls per 10-second window.
	start := time.Date(2026, 3, 15, 9, 30, 3, 0, time.UTC) // window 09:30:00-09:30:10
	clk := newClock(start)
	s := startServer(t, smallWorkspace("UTC"), Options{RateLimitPerMinute: 60, Now: clk.Now})
	windowEnd := strconv.FormatInt(time.Date(2026, 3, 15, 9, 30, 10, 0, time.UTC).Unix(), 10)

	for i := range 10 {
		path := "/me"
		if i%3 == 1 {
			path = "/contacts/nope" // errors spend the budget too
		}
		resp, _ := call(t, s, http.MethodGet, path, nil)
		require.NotEqual(t, http.StatusTooManyRequests, resp.StatusCode, "call %d", i)
		assert.Equal(t, "60", resp.Header.Get("X-RateLimit-Limit"))
		assert.Equal(t, strconv.Itoa(9-i), resp.Header.Get("X-RateLimit-Remaining"), "call %d", i)
		assert.Equal(t, windowEnd, resp.Header.Get("X-RateLimit-Reset"))
		clk.Set(clk.Now().Add(500 * time.Millisecond)) // still 09:30:03..09:30:08
	}
	resp, body := call(t, s, http.MethodGet, "/me", nil)
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	assert.Equal(t, "rate_limit_exceeded", decodeError(t, body).Errors[0].Code)
	assert.Equal(t, "0", resp.Header.Get("X-RateLimit-Remaining"))
	assert.Equal(t, windowEnd, resp.Header.Get("X-RateLimit-Reset"))

	clk.Set(time.Date(2026, 3, 15, 9, 30, 10, 0, time.UTC)) // the next window
	resp, _ = call(t, s, http.MethodGet, "/me", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "9", resp.Header.Get("X-RateLimit-Remaining"))
	assert.Equal(t, strconv.FormatInt(time.Date(2026, 3, 15, 9, 30, 20, 0, time.UTC).Unix(), 10), resp.Header.Get("X-RateLimit-Reset"))
}

func TestRateLimit_DefaultIs10000PerMinute(t *testing.T) {
	s := startServer(t, smallWorkspace("UTC"), Options{})
	resp, _ := call(t, s, http.MethodGet, "/me", nil)
	assert.Equal(t, "10000", resp.Header.Get("X-RateLimit-Limit"))
	remaining, err := strconv.Atoi(resp.Header.Get("X-RateLimit-Remaining"))
	require.NoError(t, err)
	assert.Equal(t, 10000/6-1, remaining, "first call of a window of 10000/6 calls")
	reset, err := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64)
	require.NoError(t, err)
	assert.Equal(t, int64(0), reset%10, "windows end on 10-second boundaries")
}
