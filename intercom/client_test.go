package intercom

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNew_RejectsBadBaseURLsTokensAndSettingsWithoutEchoingSecrets(t *testing.T) {
	tests := []struct {
		base, token, version string
		opts                 []Option
		want                 string
	}{
		{"", testToken, "2.10", nil, "must start with https://"},
		{"api.intercom.io", testToken, "2.10", nil, "must start with https://"},
		{"ftp://api.intercom.io", testToken, "2.10", nil, "must start with https://"},
		{"https://", testToken, "2.10", nil, "has no host"},
		{"https://user:" + testToken + "@api.intercom.io", testToken, "2.10", nil, "must not contain credentials"},
		{"https://api.intercom.io/?token=" + testToken, testToken, "2.10", nil, "must not have a query"},
		{"https://api.intercom.io/#" + testToken, testToken, "2.10", nil, "must not have a query or fragment"},
		{"https://api intercom.io/" + testToken, testToken, "2.10", nil, "not a valid URL"},
		{"https://api.intercom.io", "", "2.10", nil, "access token is empty"},
		{"https://api.intercom.io", testToken + "\n", "2.10", nil, "cannot be sent in an HTTP header"},
		{"https://api.intercom.io", "a " + testToken, "2.10", nil, "cannot be sent in an HTTP header"},
		{"https://api.intercom.io", testToken, " ", nil, "API version is empty"},
		{"https://api.intercom.io", testToken, "2.10", []Option{WithRequestTimeout(0)}, "timeout must be positive"},
		{"https://api.intercom.io", testToken, "2.10", []Option{WithRetry(0, time.Second, time.Second)}, "at least 1"},
		{"https://api.intercom.io", testToken, "2.10", []Option{WithRetry(3, time.Second, time.Millisecond)}, "0 < base <= max"},
	}
	for _, tt := range tests {
		_, err := New(tt.base, tt.token, tt.version, tt.opts...)
		require.Error(t, err, tt.base)
		assert.Contains(t, err.Error(), tt.want)
		assert.NotContains(t, err.Error(), testToken)
	}

	for _, ok := range []string{"https://api.intercom.io", "https://api.eu.intercom.io/", "http://127.0.0.1:8080/proxy/"} {
		_, err := New(ok, testToken, "2.10")
		assert.NoError(t, err, ok)
	}
}

func TestRequests_CarryAuthVersionAndJSONHeadersAndKeepTheBasePath(t *testing.T) {
	rc := &recorder{defaults: true, respond: []func(http.ResponseWriter, *http.Request){
		reply(200, `{"type":"admin.list","admins":[]}`),
		reply(200, `{"type":"contact","id":"a/b c"}`),
	}}
	srv := newHTTPTestServer(t, rc)
	c, err := New(srv+"/proxy/", testToken, "2.11", WithLogger(discardLogger()))
	require.NoError(t, err)

	_, err = c.ListAdmins(context.Background())
	require.NoError(t, err)
	_, err = c.UpdateContactAttributes(context.Background(), "a/b c", map[string]any{"Engagement Status": "Engaged"})
	require.NoError(t, err)

	reqs := rc.requests()
	require.Len(t, reqs, 2)
	for _, r := range reqs {
		assert.Equal(t, "Bearer "+testToken, r.Header.Get("Authorization"))
		assert.Equal(t, "2.11", r.Header.Get("Intercom-Version"))
		assert.Equal(t, "application/json", r.Header.Get("Accept"))
	}
	assert.Equal(t, "GET", reqs[0].Method)
	assert.Equal(t, "/proxy/admins", reqs[0].Path)
	assert.Empty(t, reqs[0].Header.Get("Content-Type"), "no body, no Content-Type")

	assert.Equal(t, "PUT", reqs[1].Method)
	assert.Equal(t, "/proxy/contacts/a%2Fb%20c", reqs[1].RawPath, "the id is one escaped path segment")
	assert.Equal(t, "application/json", reqs[1].Header.Get("Content-Type"))
	assert.JSONEq(t, `{"custom_attributes":{"Engagement Status":"Engaged"}}`, string(reqs[1].Body))
}

// pagedConversations answers a conversation search from pages of ids,
// handing out cursors with characters that need escaping in JSON.
func pagedConversations(pages [][]string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Pagination struct {
				StartingAfter string `json:"starting_after"`
			} `json:"pagination"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		i := 0
		if c := req.Pagination.StartingAfter; c != "" {
			i, _ = strconv.Atoi(strings.TrimPrefix(c, `cur"/+&=é`))
		}
		type conv struct {
			ID string `json:"id"`
		}
		resp := map[string]any{"type": "conversation.list"}
		list := []conv{}
		if i < len(pages) {
			for _, id := range pages[i] {
				list = append(list, conv{ID: id})
			}
		}
		resp["conversations"] = list
		pg := map[string]any{"type": "pages", "page": i + 1, "per_page": 150, "total_pages": len(pages)}
		if i+1 < len(pages) {
			pg["next"] = map[string]any{"per_page": 150, "starting_after": fmt.Sprintf(`cur"/+&=é%d`, i+1)}
		}
		resp["pages"] = pg
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(resp)
	}
}

func TestSearchConversations_WalksEveryPageHandingTheCursorBackExactly(t *testing.T) {
	var pages [][]string
	for p := range 7 {
		var ids []string
		for i := range 3 {
			ids = append(ids, strconv.Itoa(p*10+i))
		}
		pages = append(pages, ids)
	}
	rc := &recorder{defaults: true}
	rc.respond = []func(http.ResponseWriter, *http.Request){func(w http.ResponseWriter, r *http.Request) {
		// The recorder has consumed the body: replay it.
		reqs := rc.requests()
		r.Body = io.NopCloser(strings.NewReader(string(reqs[len(reqs)-1].Body)))
		pagedConversations(pages)(w, r)
	}}
	c := newClientFor(t, newHTTPTestServer(t, rc))

	q := And(Filter("updated_at", ">", 1717000000), Filter("state", "=", "closed"))
	var got [][]string
	err := c.SearchConversations(context.Background(), q, func(page []Conversation) error {
		var ids []string
		for _, cv := range page {
			ids = append(ids, cv.ID)
		}
		got = append(got, ids)
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, pages, got, "every page, in order, one call of fn each")

	reqs := rc.requests()
	require.Len(t, reqs, 7)
	wantQuery := `{"operator":"AND","value":[{"field":"updated_at","operator":">","value":1717000000},{"field":"state","operator":"=","value":"closed"}]}`
	for i, r := range reqs {
		assert.Equal(t, "POST", r.Method)
		assert.Equal(t, "/conversations/search", r.Path)
		var body struct {
			Query      json.RawMessage `json:"query"`
			Pagination map[string]any  `json:"pagination"`
		}
		require.NoError(t, json.Unmarshal(r.Body, &body))
		assert.JSONEq(t, wantQuery, string(body.Query))
		assert.Equal(t, float64(150), body.Pagination["per_page"])
		if i == 0 {
			assert.NotContains(t, body.Pagination, "starting_after", "first page has no cursor")
		} else {
			assert.Equal(t, fmt.Sprintf(`cur"/+&=é%d`, i), body.Pagination["starting_after"])
		}
	}
}

func TestSearchContacts_ReadsTheDataListAndStopsWithoutNext(t *testing.T) {
	c, rc := newTestServer(t, nil,
		reply(200, `{"type":"list","data":[{"type":"contact","id":"c1","custom_attributes":{"Employer":"Acme"}}],"pages":{"type":"pages","page":1,"next":{"starting_after":"abc"}}}`),
		reply(200, `{"type":"list","data":[{"type":"contact","id":"c2"}],"pages":{"type":"pages","page":2,"next":null}}`),
	)
	var ids []string
	err := c.SearchContacts(context.Background(), Filter("role", "=", "user"), func(page []Contact) error {
		for _, ct := range page {
			ids = append(ids, ct.ID)
		}
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, []string{"c1", "c2"}, ids)
	reqs := rc.requests()
	require.Len(t, reqs, 2)
	assert.Equal(t, "/contacts/search", reqs[0].Path)
	assert.Contains(t, string(reqs[1].Body), `"starting_after":"abc"`)
}

func TestSearch_ErrorFromFnStopsTheWalk(t *testing.T) {
	c, rc := newTestServer(t, nil,
		reply(200, `{"conversations":[{"id":"1"}],"pages":{"next":{"starting_after":"p2"}}}`),
		reply(200, `{"conversations":[{"id":"2"}],"pages":{"next":{"starting_after":"p3"}}}`),
		reply(200, `{"conversations":[{"id":"3"}],"pages":{}}`),
	)
	stop := errors.New("enough")
	calls := 0
	err := c.SearchConversations(context.Background(), Filter("state", "=", "closed"), func([]Conversation) error {
		calls++
		if calls == 2 {
			return stop
		}
		return nil
	})
	assert.ErrorIs(t, err, stop)
	assert.Equal(t, 2, calls)
	assert.Len(t, rc.requests(), 2, "no page is fetched after fn fails")
}

func TestSearch_RepeatedCursorIsAnErrorNotAnEndlessWalk(t *testing.T) {
	c, rc := newTestServer(t, nil,
		reply(200, `{"conversations":[{"id":"1"}],"pages":{"next":{"starting_after":"same"}}}`),
	)
	err := c.SearchConversations(context.Background(), Filter("state", "=", "closed"), func([]Conversation) error { return nil })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "POST /conversations/search")
	assert.Len(t, rc.requests(), 2)
}

func TestSearch_InvalidQueryIsRefusedBeforeSending(t *testing.T) {
	c, rc := newTestServer(t, nil, reply(200, `{"conversations":[]}`))
	err := c.SearchConversations(context.Background(), And(), func([]Conversation) error { return nil })
	assert.ErrorIs(t, err, ErrInvalidQuery)
	assert.Empty(t, rc.requests())
}

func TestRetry_TooManyRequestsWaitsUntilTheResetHeader(t *testing.T) {
	var reset time.Time
	c, rc := newTestServer(t, nil,
		func(w http.ResponseWriter, _ *http.Request) {
			// The window ends at the next full second, at least 500 ms away.
			reset = time.Now().Add(1500 * time.Millisecond).Truncate(time.Second)
			setRateHeaders(w, 1000, 0, reset)
			reply(429, `{"type":"error.list","request_id":"r-1","errors":[{"code":"rate_limit_exceeded","message":"Exceeded rate limit of 167 in 10_seconds"}]}`)(w, nil)
		},
		reply(200, `{"type":"admin.list","admins":[{"id":"1","name":"Ann"}]}`),
	)
	admins, err := c.ListAdmins(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []Admin{{ID: "1", Name: "Ann"}}, admins)
	reqs := rc.requests()
	require.Len(t, reqs, 2)
	// The back-off alone is at most 5 ms: only the reset header explains a longer wait.
	assert.False(t, reqs[1].At.Before(reset), "retried at %v, before the reset %v", reqs[1].At, reset)
}

func TestRetry_TemporaryServerErrorsAreRetriedUntilSuccess(t *testing.T) {
	for _, status := range []int{500, 502, 503, 504} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			obs := &observed{}
			c, rc := newTestServer(t, []Option{WithObserver(obs)},
				reply(status, `{"type":"error.list","errors":[{"code":"server_error","message":"boom"}]}`),
				reply(status, `<html>bad gateway</html>`),
				reply(200, `{"type":"admin.list","admins":[{"id":"7"}]}`),
			)
			admins, err := c.ListAdmins(context.Background())
			require.NoError(t, err)
			assert.Equal(t, []Admin{{ID: "7"}}, admins)
			assert.Len(t, rc.requests(), 3)
			s := strconv.Itoa(status)
			assert.Equal(t, []string{"GET /admins " + s, "GET /admins " + s, "GET /admins 200"}, obs.reqs())
		})
	}
}

func TestRetry_OtherClientErrorsAreNotRetried(t *testing.T) {
	for _, status := range []int{400, 401, 403, 404, 409, 422} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			c, rc := newTestServer(t, nil,
				reply(status, `{"type":"error.list","request_id":"req-9","errors":[{"code":"some_code","message":"nope"}]}`),
				reply(200, `{"type":"contact","id":"x"}`),
			)
			_, err := c.GetContact(context.Background(), "x")
			var apiErr *APIError
			require.ErrorAs(t, err, &apiErr)
			assert.Equal(t, status, apiErr.Status)
			assert.Equal(t, "GET", apiErr.Method)
			assert.Equal(t, "/contacts/{id}", apiErr.Endpoint)
			assert.Equal(t, "req-9", apiErr.RequestID)
			assert.Equal(t, []ErrorDetail{{Code: "some_code", Message: "nope"}}, apiErr.Errors)
			assert.Len(t, rc.requests(), 1)
		})
	}
}

func TestRetry_GivesUpAfterMaxAttemptsWithTheLastError(t *testing.T) {
	c, rc := newTestServer(t, []Option{WithRetry(3, time.Millisecond, 2*time.Millisecond)},
		reply(503, `{"type":"error.list","errors":[{"code":"service_unavailable","message":"try later"}]}`))
	_, err := c.Me(context.Background())
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, 503, apiErr.Status)
	assert.Contains(t, err.Error(), "GET /me: HTTP 503")
	assert.Contains(t, err.Error(), "gave up after 3 attempts")
	assert.Len(t, rc.requests(), 3)
}

func TestRetry_TransportFailuresTruncatedAndGarbledBodiesAreRetried(t *testing.T) {
	obs := &observed{}
	c, rc := newTestServer(t, []Option{WithObserver(obs)},
		func(w http.ResponseWriter, _ *http.Request) { // connection dropped
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = conn.Close()
			}
		},
		func(w http.ResponseWriter, _ *http.Request) { // body cut short of its length
			w.Header().Set("Content-Length", "500")
			w.WriteHeader(200)
			_, _ = io.WriteString(w, `{"type":"admin.list","admins":[`)
		},
		reply(200, `{"type":"admin.list","admins":[{"id":"1"`), // complete but garbled JSON
		reply(200, `{"type":"admin.list","admins":[{"id":"1"}]}`),
	)
	admins, err := c.ListAdmins(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []Admin{{ID: "1"}}, admins)
	assert.Len(t, rc.requests(), 4)
	assert.Equal(t, []string{"GET /admins error", "GET /admins error", "GET /admins 200", "GET /admins 200"}, obs.reqs())
}

func TestRetry_AnAttemptThatOutlivesItsDeadlineIsRetried(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	c, rc := newTestServer(t, []Option{WithRequestTimeout(150 * time.Millisecond)},
		func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		},
		reply(200, `{"type":"contact","id":"c1"}`),
	)
	start := time.Now()
	ct, err := c.GetContact(context.Background(), "c1")
	require.NoError(t, err)
	assert.Equal(t, "c1", ct.ID)
	assert.Len(t, rc.requests(), 2)
	assert.Less(t, time.Since(start), 2*time.Second)
}

func TestMalformedSuccessBodiesAreErrorsNamingTheEndpoint(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		call     func(*Client) error
		endpoint string
		attempts int
	}{
		{"wrong shape is not retried", `{"type":"admin.list","admins":"nope"}`,
			func(c *Client) error { _, err := c.ListAdmins(context.Background()); return err }, "GET /admins", 1},
		{"missing list is not empty data", `{"type":"admin.list"}`,
			func(c *Client) error { _, err := c.ListAdmins(context.Background()); return err }, "GET /admins", 1},
		{"missing search list", `{"type":"conversation.list","pages":{}}`,
			func(c *Client) error {
				return c.SearchConversations(context.Background(), Filter("state", "=", "closed"), func([]Conversation) error { return nil })
			}, "POST /conversations/search", 1},
		{"missing app", `{"type":"admin","id":"1"}`,
			func(c *Client) error { _, err := c.Me(context.Background()); return err }, "GET /me", 1},
		{"not a contact", `{"type":"list","data":[]}`,
			func(c *Client) error { _, err := c.GetContact(context.Background(), "42"); return err }, "GET /contacts/{id}", 1},
		{"truncated every time is retried, then fails", `{"type":"list","data":[{"name":"x"`,
			func(c *Client) error { _, err := c.ListDataAttributes(context.Background(), "contact"); return err }, "GET /data_attributes", 4},
		{"empty body", ``,
			func(c *Client) error { _, err := c.ListDataAttributes(context.Background(), "contact"); return err }, "GET /data_attributes", 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, rc := newTestServer(t, nil, reply(200, tt.body))
			err := tt.call(c)
			require.Error(t, err)
			assert.ErrorIs(t, err, errMalformed)
			assert.Contains(t, err.Error(), tt.endpoint+": malformed response body")
			assert.NotContains(t, err.Error(), "42", "no contact id in the error")
			assert.Len(t, rc.requests(), tt.attempts)
		})
	}
}

func TestAPIError_401And403SayWhatIsWrong(t *testing.T) {
	c401, _ := newTestServer(t, nil, reply(401, string(readFixture(t, "error_401.json"))))
	_, err := c401.ListAdmins(context.Background())
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, 401, apiErr.Status)
	assert.Equal(t, "b334e891-4036-4408-960e-57cadddae3ea", apiErr.RequestID)
	assert.Equal(t, []ErrorDetail{{Code: "unauthorized", Message: "Access Token Invalid"}}, apiErr.Errors)
	assert.Contains(t, err.Error(), "GET /admins: HTTP 401 Unauthorized: unauthorized: Access Token Invalid")
	assert.Contains(t, err.Error(), "token is invalid or has been revoked")
	assert.NotContains(t, err.Error(), testToken)

	c403, _ := newTestServer(t, nil, reply(403, string(readFixture(t, "error_403.json"))))
	err = c403.SearchContacts(context.Background(), Filter("role", "=", "user"), func([]Contact) error { return nil })
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, 403, apiErr.Status)
	assert.True(t, apiErr.HasCode("api_plan_restricted"))
	assert.Contains(t, err.Error(), "POST /contacts/search: HTTP 403 Forbidden")
	assert.Contains(t, err.Error(), "code api_plan_restricted")
	assert.Contains(t, err.Error(), "scope or permission")
	assert.Contains(t, err.Error(), "plan")
	assert.NotContains(t, err.Error(), testToken)
}

func TestErrors_NeverContainTheToken(t *testing.T) {
	// A misbehaving proxy echoes the Authorization header in every kind of body.
	echo := func(status int, asList bool) func(http.ResponseWriter, *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			auth := r.Header.Get("Authorization")
			setRateHeaders(w, 10000, 0, time.Now()) // this second's window is spent
			body := "denied for " + auth
			if asList {
				body = fmt.Sprintf(`{"type":"error.list","request_id":%q,"errors":[{"code":%q,"message":%q}]}`, auth, auth, "bad "+auth)
			}
			reply(status, body)(w, r)
		}
	}
	for _, tt := range []struct {
		status int
		asList bool
	}{{401, true}, {403, false}, {400, true}, {502, false}, {429, true}} {
		c, _ := newTestServer(t, []Option{WithRetry(2, time.Millisecond, time.Millisecond)}, echo(tt.status, tt.asList))
		_, err := c.GetContact(context.Background(), "c1")
		require.Error(t, err)
		assert.NotContains(t, err.Error(), testToken, "status %d", tt.status)
		assert.Contains(t, err.Error(), "[redacted]")
	}

	// Transport failures: nothing listening.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	c, err := New("http://"+addr, testToken, "2.10", WithRetry(2, time.Millisecond, time.Millisecond), WithLogger(discardLogger()))
	require.NoError(t, err)
	_, err = c.GetContact(context.Background(), "c1")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "GET /contacts/{id}")
	assert.NotContains(t, err.Error(), testToken)
}

func TestUpdateContactAttributes_IsRetriedWithTheSameBody(t *testing.T) {
	obs := &observed{}
	c, rc := newTestServer(t, []Option{WithObserver(obs)},
		reply(503, `{"type":"error.list","errors":[{"code":"service_unavailable"}]}`),
		reply(200, `{"type":"contact","id":"6657ac5e6abd0166b52ae241","custom_attributes":{"Last Coaching Call":1717021790}}`),
	)
	ct, err := c.UpdateContactAttributes(context.Background(), "6657ac5e6abd0166b52ae241",
		map[string]any{"Last Coaching Call": 1717021790, "Engagement Status": "At Risk"})
	require.NoError(t, err)
	v, err := ct.CustomAttributes.Time("Last Coaching Call")
	require.NoError(t, err)
	assert.Equal(t, int64(1717021790), v.Unix)

	reqs := rc.requests()
	require.Len(t, reqs, 2)
	for _, r := range reqs {
		assert.Equal(t, "PUT", r.Method)
		assert.Equal(t, "/contacts/6657ac5e6abd0166b52ae241", r.Path)
		assert.JSONEq(t, `{"custom_attributes":{"Last Coaching Call":1717021790,"Engagement Status":"At Risk"}}`, string(r.Body))
	}
	assert.Equal(t, []string{"PUT /contacts/{id} 503", "PUT /contacts/{id} 200"}, obs.reqs(), "route template, never the id")

	_, err = c.UpdateContactAttributes(context.Background(), "", map[string]any{"x": 1})
	assert.Error(t, err, "an empty id would address /contacts/")
	_, err = c.GetContact(context.Background(), "")
	assert.Error(t, err)
	assert.Len(t, rc.requests(), 2)
}

func TestListDataAttributesAndMeAndAdmins_DecodeTheDescriptionExamples(t *testing.T) {
	obs := &observed{}
	c, rc := newTestServer(t, []Option{WithObserver(obs)},
		reply(200, string(readFixture(t, "data_attributes.json"))),
		reply(200, string(readFixture(t, "me.json"))),
		reply(200, string(readFixture(t, "admins.json"))),
	)
	attrs, err := c.ListDataAttributes(context.Background(), "contact")
	require.NoError(t, err)
	require.NotEmpty(t, attrs)
	assert.Equal(t, "name", attrs[0].Name)
	ws, err := c.Me(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "America/Los_Angeles", ws.Timezone)
	admins, err := c.ListAdmins(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "Ciaran7 Lee", admins[0].Name)

	reqs := rc.requests()
	assert.Equal(t, "/data_attributes", reqs[0].Path)
	assert.Equal(t, "model=contact", reqs[0].Query)
	assert.Equal(t, "/me", reqs[1].Path)
	assert.Equal(t, []string{"GET /data_attributes 200", "GET /me 200", "GET /admins 200"}, obs.reqs())
	assert.Len(t, obs.limits, 3, "every response carried rate-limit headers")
	assert.Equal(t, 10000, obs.limits[0].Limit)
	assert.Equal(t, 9999, obs.limits[0].Remaining)
}

func TestRateLimit_ReportsTheLastHeadersSeen(t *testing.T) {
	reset := time.Now().Add(7 * time.Second).Truncate(time.Second)
	c, _ := newTestServer(t, nil, func(w http.ResponseWriter, _ *http.Request) {
		setRateHeaders(w, 1000, 123, reset)
		reply(200, `{"admins":[]}`)(w, nil)
	})
	assert.False(t, c.RateLimit().Seen)
	_, err := c.ListAdmins(context.Background())
	require.NoError(t, err)
	assert.Equal(t, RateLimitStatus{Limit: 1000, Remaining: 123, Reset: time.Unix(reset.Unix(), 0), Seen: true}, c.RateLimit())
	assert.Equal(t, c.RateLimit(), c.Share(0.5).RateLimit(), "views share the state")
}

func TestContextCancelledMidWalkReturnsPromptly(t *testing.T) {
	t.Run("during a request", func(t *testing.T) {
		c, rc := newTestServer(t, nil,
			reply(200, `{"conversations":[{"id":"1"}],"pages":{"next":{"starting_after":"p2"}}}`),
			reply(200, `{"conversations":[{"id":"2"}],"pages":{"next":{"starting_after":"p3"}}}`),
			func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }, // hangs
		)
		ctx, cancel := context.WithCancel(context.Background())
		pages := 0
		go func() {
			for len(rc.requests()) < 3 {
				time.Sleep(time.Millisecond)
			}
			time.Sleep(20 * time.Millisecond)
			cancel()
		}()
		start := time.Now()
		err := c.SearchConversations(ctx, Filter("state", "=", "closed"), func([]Conversation) error { pages++; return nil })
		assert.ErrorIs(t, err, context.Canceled)
		assert.Contains(t, err.Error(), "POST /conversations/search")
		assert.Equal(t, 2, pages)
		assert.Less(t, time.Since(start), time.Second, "the default 30s attempt deadline was not waited for")
		assert.Len(t, rc.requests(), 3, "a cancelled call is not retried")
	})
	t.Run("while waiting for the rate limit", func(t *testing.T) {
		c, _ := newTestServer(t, nil, func(w http.ResponseWriter, _ *http.Request) {
			setRateHeaders(w, 1000, 0, time.Now().Add(time.Hour)) // nothing left for an hour
			reply(200, `{"conversations":[{"id":"1"}],"pages":{"next":{"starting_after":"p2"}}}`)(w, nil)
		})
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := c.SearchConversations(ctx, Filter("state", "=", "closed"), func([]Conversation) error { return nil })
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Less(t, time.Since(start), time.Second)
	})
	t.Run("while backing off", func(t *testing.T) {
		c, _ := newTestServer(t, []Option{WithRetry(5, 10*time.Second, 10*time.Second)},
			reply(503, `{"type":"error.list","errors":[{"code":"x"}]}`))
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := c.ListAdmins(ctx)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Less(t, time.Since(start), time.Second)
	})
}
