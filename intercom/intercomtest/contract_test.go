package intercomtest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coaching/intercom_exporter/intercom"
)

// The contract test sends the requests the exporter's client makes (and
// the failures it must handle) to the fake, and validates every request and
// every answer against the official API descriptions of every supported
// version, 2.10 to 2.16.

// descriptionDir is the project's copy of the official API descriptions
// (testdata/intercom-openapi, with their license and source);
// INTERCOM_OPENAPI_DIR points the test at another copy.
func descriptionDir(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("INTERCOM_OPENAPI_DIR"); dir != "" {
		return dir
	}
	dir := filepath.Join("testdata", "intercom-openapi")
	_, err := os.Stat(dir)
	require.NoError(t, err, "the official API descriptions are expected in %s (or set INTERCOM_OPENAPI_DIR)", dir)
	return dir
}

// customAttributesSchema is added under components/schemas before loading
// where it is missing. Descriptions 2.10 and 2.11 refer to "#/components/schemas/custom_attributes" (2.11
// from conversation and conversation_list_item, 2.10 from
// create_phone_switch_request) without defining it, a dangling $ref that
// makes the loader fail. Intercom documents custom attribute values as any
// JSON type, unset ones as null, so the schema is an unconstrained object.
const customAttributesSchema = `    custom_attributes:
      type: object
      description: Added by the contract test; the description refers to it without defining it.
`

var uuidFormatOnce sync.Once

func loadDescription(t *testing.T, version string) *openapi3.T {
	t.Helper()
	uuidFormatOnce.Do(func() {
		// error.request_id is format uuid: check it (off by default).
		openapi3.DefineStringFormatValidator("uuid", openapi3.NewRegexpFormatValidator(openapi3.FormatOfStringForUUIDOfRFC4122))
	})
	data, err := os.ReadFile(filepath.Join(descriptionDir(t), version, "api.intercom.io.yaml"))
	require.NoError(t, err)
	require.Equal(t, 1, bytes.Count(data, []byte("\n  schemas:\n")), "components/schemas is where it was")
	// Versions 2.12 and later define it.
	if !bytes.Contains(data, []byte("\n"+strings.SplitN(customAttributesSchema, "\n", 2)[0]+"\n")) {
		data = bytes.Replace(data, []byte("\n  schemas:\n"), []byte("\n  schemas:\n"+customAttributesSchema), 1)
	}

	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(data)
	require.NoError(t, err, "loading description %s", version)
	return doc
}

// findRoute routes a request by path only: the description's path that
// matches it segment by segment, literal segments preferred to parameters
// (/contacts/search before /contacts/{id}); parameter names are the
// description's own (2.11 says {contact_id} where 2.10 says {id}).
// kin-openapi's routers are not used because they validate the whole
// document first, and the descriptions have unrelated defects (array
// schemas without items, examples of the wrong type).
func findRoute(t *testing.T, doc *openapi3.T, method, path string) (*routers.Route, map[string]string) {
	t.Helper()
	segs := strings.Split(strings.Trim(path, "/"), "/")
	var best string
	var bestParams map[string]string
	bestVars := len(segs) + 1
	for tmpl := range doc.Paths.Map() {
		tsegs := strings.Split(strings.Trim(tmpl, "/"), "/")
		if len(tsegs) != len(segs) || doc.Paths.Value(tmpl).GetOperation(method) == nil {
			continue
		}
		params := map[string]string{}
		for i, ts := range tsegs {
			if strings.HasPrefix(ts, "{") && strings.HasSuffix(ts, "}") {
				params[ts[1:len(ts)-1]] = segs[i]
			} else if ts != segs[i] {
				params = nil
				break
			}
		}
		if params != nil && len(params) < bestVars {
			best, bestParams, bestVars = tmpl, params, len(params)
		}
	}
	require.NotEmpty(t, best, "the description has no operation %s %s", method, path)
	item := doc.Paths.Value(best)
	return &routers.Route{Spec: doc, Path: best, PathItem: item, Method: method, Operation: item.GetOperation(method)}, bestParams
}

// documentedErrorStatus: the statuses Intercom's error documentation lists
// besides those in the description: 400, 401, 403, 404, 429 and 5xx.
func documentedErrorStatus(status int) bool {
	switch status {
	case 400, 401, 403, 404, 429:
		return true
	}
	return status >= 500 && status <= 599
}

type contractCase struct {
	name       string
	server     *Server
	method     string
	path       string
	body       any
	auth       bool // send the bearer token
	wantStatus int
	// next, if set, derives a follow-up request (the next page) from the
	// answer; it returns "" when there is none.
	next func(t *testing.T, body []byte) any
}

func TestContract_FakeAnswersValidateAgainstOfficialDescriptions(t *testing.T) {
	now := time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)
	ws := Generate(GenerateOptions{Seed: 7, Participants: 60, Conversations: 400, Now: now, Timezone: "Europe/London"})
	srv := startServer(t, ws, Options{Now: func() time.Time { return now }})
	forbidden := startServer(t, ws, Options{AdminsForbidden: true})
	limitedClock := newClock(now)
	limited := startServer(t, ws, Options{RateLimitPerMinute: 6, Now: limitedClock.Now}) // 1 call per window
	faulty := startServer(t, ws, Options{})
	faulty.AddFault(Fault{Endpoint: EndpointConversationsSearch, Kind: FaultStatus500})
	faulty.AddFault(Fault{Endpoint: EndpointContactsSearch, Kind: FaultStatus503})
	faulty.AddFault(Fault{Endpoint: EndpointMe, Kind: FaultStatus429})

	contactID := ws.Contacts()[0].ID
	since := now.Add(-400 * 24 * time.Hour).Unix()
	nextPage := func(query any, perPage int) func(*testing.T, []byte) any {
		return func(t *testing.T, body []byte) any {
			var p struct {
				Pages pages `json:"pages"`
			}
			require.NoError(t, json.Unmarshal(body, &p))
			if p.Pages.Next == nil {
				return nil
			}
			return searchBody(query, perPage, p.Pages.Next.StartingAfter)
		}
	}
	fullLoad := group("AND", filter("updated_at", ">", since), filter("state", "=", "closed"))
	incremental := filter("updated_at", ">", now.Add(-48*time.Hour).Unix())
	nested := group("AND",
		group("OR", filter("state", "=", "open"), filter("state", "=", "snoozed")),
		group("OR", filter("admin_assignee_id", "IN", []int{4100001, 4100014}), filter("contact_ids", "=", contactID)))
	contactsQuery := group("AND", filter("role", "=", "user"), filter("updated_at", ">", since))
	sixteen := make([]any, 16)
	for i := range sixteen {
		sixteen[i] = filter("state", "=", "closed")
	}

	cases := []contractCase{
		{name: "me", server: srv, method: "GET", path: "/me", auth: true, wantStatus: 200},
		{name: "admins", server: srv, method: "GET", path: "/admins", auth: true, wantStatus: 200},
		{name: "admins forbidden", server: forbidden, method: "GET", path: "/admins", auth: true, wantStatus: 403},
		{name: "data attributes", server: srv, method: "GET", path: "/data_attributes?model=contact", auth: true, wantStatus: 200},
		{name: "contact", server: srv, method: "GET", path: "/contacts/" + contactID, auth: true, wantStatus: 200},
		{name: "unknown contact", server: srv, method: "GET", path: "/contacts/0000", auth: true, wantStatus: 404},
		{name: "update contact", server: srv, method: "PUT", path: "/contacts/" + contactID, auth: true, wantStatus: 200,
			body: map[string]any{"custom_attributes": map[string]any{AttrLastCoachingCall: now.Unix() - 3600, AttrEngagementStatus: "Engaged"}}},
		{name: "update contact, unknown attribute", server: srv, method: "PUT", path: "/contacts/" + contactID, auth: true, wantStatus: 400,
			body: map[string]any{"custom_attributes": map[string]any{"Last Call": 1}}},
		{name: "search conversations, full load", server: srv, method: "POST", path: "/conversations/search", auth: true, wantStatus: 200,
			body: searchBody(fullLoad, 150, ""), next: nextPage(fullLoad, 150)},
		{name: "search conversations, incremental", server: srv, method: "POST", path: "/conversations/search", auth: true, wantStatus: 200,
			body: searchBody(incremental, 3, ""), next: nextPage(incremental, 3)},
		{name: "search conversations, nested", server: srv, method: "POST", path: "/conversations/search", auth: true, wantStatus: 200,
			body: searchBody(nested, 0, "")},
		{name: "search conversations, no match", server: srv, method: "POST", path: "/conversations/search", auth: true, wantStatus: 200,
			body: searchBody(filter("id", "=", "nope"), 0, "")},
		{name: "search contacts", server: srv, method: "POST", path: "/contacts/search", auth: true, wantStatus: 200,
			body: searchBody(contactsQuery, 50, ""), next: nextPage(contactsQuery, 50)},
		{name: "search contacts, custom date", server: srv, method: "POST", path: "/contacts/search", auth: true, wantStatus: 200,
			body: searchBody(filter("custom_attributes."+AttrRegistrationDate, ">", since), 0, "")},
		{name: "search, too many filters", server: srv, method: "POST", path: "/conversations/search", auth: true, wantStatus: 400,
			body: searchBody(group("OR", sixteen...), 0, "")},
		{name: "no token", server: srv, method: "GET", path: "/me", wantStatus: 401},
		{name: "rate limited, first", server: limited, method: "GET", path: "/admins", auth: true, wantStatus: 200},
		{name: "rate limited, second", server: limited, method: "GET", path: "/admins", auth: true, wantStatus: 429},
		{name: "fault 500", server: faulty, method: "POST", path: "/conversations/search", auth: true, wantStatus: 500,
			body: searchBody(incremental, 0, "")},
		{name: "fault 503", server: faulty, method: "POST", path: "/contacts/search", auth: true, wantStatus: 503,
			body: searchBody(contactsQuery, 0, "")},
		{name: "fault 429", server: faulty, method: "GET", path: "/me", auth: true, wantStatus: 429},
	}
	// Contact search refuses these operators on date fields (versions
	// 2.7-2.16, "Searching for Timestamp Fields"), with an error list.
	for _, op := range []string{"!=", ">=", "<=", "IN", "NIN"} {
		var v any = since
		if op == "IN" || op == "NIN" {
			v = []int64{since}
		}
		for _, field := range []string{"updated_at", "custom_attributes." + AttrRegistrationDate} {
			cases = append(cases, contractCase{name: "search contacts, refused date operator " + op + " on " + field, server: srv,
				method: "POST", path: "/contacts/search", auth: true, wantStatus: 400, body: searchBody(filter(field, op, v), 0, "")})
		}
	}

	for _, version := range intercom.SupportedVersions {
		t.Run(version, func(t *testing.T) {
			doc := loadDescription(t, version)
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					if c.server == limited && c.wantStatus == 200 {
						limitedClock.Set(limitedClock.Now().Add(10 * time.Second)) // a fresh window
					}
					body := c.body
					for page := 1; ; page++ {
						answer := checkContract(t, doc, version, c, body)
						if c.next == nil {
							return
						}
						if body = c.next(t, answer); body == nil {
							assert.Greater(t, page, 1, "the case should span several pages")
							return
						}
						require.Less(t, page, 200)
					}
				})
			}
		})
	}
}

// checkContract sends one request, validates it and its answer, and
// returns the answer's body.
func checkContract(t *testing.T, doc *openapi3.T, version string, c contractCase, body any) []byte {
	t.Helper()
	ctx := context.Background()
	var reqBody []byte
	if body != nil {
		var err error
		reqBody, err = json.Marshal(body)
		require.NoError(t, err)
	}
	req, err := http.NewRequest(c.method, c.server.URL()+c.path, bytes.NewReader(reqBody))
	require.NoError(t, err)
	req.Header.Set("Intercom-Version", version)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.auth {
		req.Header.Set("Authorization", "Bearer "+testToken)
	}

	route, params := findRoute(t, doc, c.method, req.URL.Path)
	in := &openapi3filter.RequestValidationInput{
		Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{
			AuthenticationFunc: func(_ context.Context, a *openapi3filter.AuthenticationInput) error {
				if !strings.HasPrefix(a.RequestValidationInput.Request.Header.Get("Authorization"), "Bearer ") {
					return a.NewError(errNoBearer)
				}
				return nil
			},
		},
	}
	if c.auth { // the no-token case is invalid on purpose
		require.NoError(t, openapi3filter.ValidateRequest(ctx, in), "request %s %s does not follow the description", c.method, c.path)
	}
	req.Body = io.NopCloser(bytes.NewReader(reqBody))

	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, c.wantStatus, resp.StatusCode, "answer: %s", answer)
	for _, h := range []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} {
		_, err := strconv.ParseInt(resp.Header.Get(h), 10, 64)
		assert.NoError(t, err, "%s on every answer", h)
	}

	status := strconv.Itoa(resp.StatusCode)
	if route.Operation.Responses.Value(status) != nil {
		out := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: in,
			Status:                 resp.StatusCode,
			Header:                 resp.Header,
			Body:                   io.NopCloser(bytes.NewReader(answer)),
			Options:                &openapi3filter.Options{IncludeResponseStatus: true},
		}
		require.NoError(t, openapi3filter.ValidateResponse(ctx, out), "answer %s to %s %s: %s", status, c.method, c.path, truncateJSON(answer))
		return answer
	}
	require.True(t, resp.StatusCode >= 400 && documentedErrorStatus(resp.StatusCode),
		"status %d is neither in the description of %s %s nor in Intercom's error documentation", resp.StatusCode, c.method, c.path)
	var v any
	require.NoError(t, json.Unmarshal(answer, &v), "error body is JSON")
	errSchema := doc.Components.Schemas["error"]
	require.NotNil(t, errSchema)
	require.NoError(t, errSchema.Value.VisitJSON(v), "error body follows the error schema: %s", answer)
	assert.Contains(t, string(answer), `"type":"error.list"`)
	return answer
}

var errNoBearer = errorString("no bearer token")

type errorString string

func (e errorString) Error() string { return string(e) }
