package daemon_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coaching/intercom_exporter/intercom/intercomtest"
)

// Contact search refuses != >= <= IN NIN on date fields (docs/intercom.md).
var refusedDateOperators = map[string]bool{"!=": true, ">=": true, "<=": true, "IN": true, "NIN": true}

// contactDateFilters walks a contact search query and returns its filters
// on date fields: the contact timestamps and the custom attributes of type
// date.
func contactDateFilters(t *testing.T, q any, dateAttrs map[string]bool) []map[string]any {
	t.Helper()
	n, ok := q.(map[string]any)
	require.True(t, ok, "query node %v", q)
	if kids, ok := n["value"].([]any); ok && (n["operator"] == "AND" || n["operator"] == "OR") {
		var out []map[string]any
		for _, k := range kids {
			out = append(out, contactDateFilters(t, k, dateAttrs)...)
		}
		return out
	}
	field, _ := n["field"].(string)
	switch {
	case strings.HasSuffix(field, "_at") && !strings.Contains(field, "."):
	case strings.HasPrefix(field, "custom_attributes.") && dateAttrs[strings.TrimPrefix(field, "custom_attributes.")]:
	default:
		return nil
	}
	return []map[string]any{n}
}

// checkContactSearches asserts that no contact search in reqs uses a
// refused operator on a date field, nor was refused, and returns how many
// date filters it saw.
func checkContactSearches(t *testing.T, reqs []intercomtest.Request, dateAttrs map[string]bool) int {
	t.Helper()
	seen := 0
	for _, r := range reqs {
		if r.Method != http.MethodPost || r.Endpoint != intercomtest.EndpointContactsSearch {
			continue
		}
		var body struct{ Query any }
		require.NoError(t, json.Unmarshal(r.Body, &body), "%s", r.Body)
		for _, f := range contactDateFilters(t, body.Query, dateAttrs) {
			seen++
			assert.False(t, refusedDateOperators[f["operator"].(string)], "contact search with a refused date operator: %v", f)
		}
	}
	return seen
}

// Over a full and an incremental refresh, the exporter's contact searches
// never use an operator Intercom refuses on dates, and none is refused.
func TestContactSearches_NeverUseTheDateOperatorsIntercomRefuses(t *testing.T) {
	start := time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)
	ws := intercomtest.Generate(intercomtest.GenerateOptions{Seed: 5, Participants: 120, Conversations: 900, Coaches: 4, Employers: 5,
		Now: start, Timezone: "America/New_York"})
	dateAttrs := map[string]bool{}
	for _, a := range ws.DataAttributes("contact") {
		if a.DataType == "date" {
			dateAttrs[a.Name] = true
		}
	}
	require.NotEmpty(t, dateAttrs)
	srv := startFake(t, ws, intercomtest.Options{})
	clk := &clock{t: start}
	e := newEnv(srv)
	e["SYNC_MODE"] = "off"
	exp := newExporter(t, e, clk.Now, nil)

	require.NoError(t, exp.Refresh(context.Background()))
	full := srv.Requests()
	assert.Positive(t, checkContactSearches(t, full, dateAttrs), "the full read searches contacts by date")

	// Something changes; the next refresh reads only what changed.
	c := ws.Contacts()[0]
	c.UpdatedAt = clk.Now().Unix() + 30
	ws.AddContact(c)
	srv.ResetRequests()
	clk.Add(15 * time.Minute)
	require.NoError(t, exp.Refresh(context.Background()))
	incremental := srv.Requests()
	assert.Positive(t, checkContactSearches(t, incremental, dateAttrs), "the incremental read searches contacts by date")
	assert.Less(t, len(incremental), len(full), "the second refresh is incremental")

	for _, r := range append(full, incremental...) {
		assert.Less(t, r.Status, 400, "%s %s was refused: %s", r.Method, r.Path, r.Body)
	}
}
