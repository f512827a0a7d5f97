package intercomtest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// Answers differ between API versions where the descriptions do
// (testdata/intercom-openapi/<version>). The fake renders the 2.10 shape
// and adapts a successful answer to the version the request asks for
// (the Intercom-Version header):
//
//   - 2.14 and later type conversation custom attribute values as string,
//     integer, date-time or object list, never null: an unset attribute is
//     left out instead of null;
//   - 2.16 types a contact's owner_id as a string, a conversation's
//     priority as none, low, medium, high or urgent (2.10 to 2.15:
//     priority or not_priority), and answers 0, not null, for an
//     unassigned admin_assignee_id or team_assignee_id.
//
// Clients decode both shapes alike (an unset attribute is missing or null;
// ids are strings or integers).

// minorVersion is the x of an Intercom-Version "2.x", 0 for anything else
// (the default shape).
func minorVersion(r *http.Request) int {
	v := strings.TrimSpace(r.Header.Get("Intercom-Version"))
	rest, ok := strings.CutPrefix(v, "2.")
	if !ok {
		return 0
	}
	n, err := strconv.Atoi(rest)
	if err != nil {
		return 0
	}
	return n
}

// adaptToVersion rewrites a successful answer of endpoint for the request's
// API version; other answers, and versions that need nothing, pass as they
// are.
func adaptToVersion(r *http.Request, endpoint string, resp response) response {
	minor := minorVersion(r)
	if resp.status != http.StatusOK || minor < 14 {
		return resp
	}
	var adapt func(map[string]any)
	switch endpoint {
	case EndpointConversationsSearch:
		adapt = func(doc map[string]any) {
			for _, c := range list(doc["conversations"]) {
				adaptConversation(c, minor)
			}
		}
	case EndpointContactsSearch:
		if minor < 16 {
			return resp
		}
		adapt = func(doc map[string]any) {
			for _, c := range list(doc["data"]) {
				adaptContact(c)
			}
		}
	case EndpointContact:
		if minor < 16 {
			return resp
		}
		adapt = adaptContact
	default:
		return resp
	}
	dec := json.NewDecoder(bytes.NewReader(resp.body))
	dec.UseNumber() // numbers pass through exactly
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return resp
	}
	adapt(doc)
	resp.body = marshal(doc)
	return resp
}

func list(v any) []map[string]any {
	items, _ := v.([]any)
	out := make([]map[string]any, 0, len(items))
	for _, it := range items {
		if m, ok := it.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func adaptConversation(c map[string]any, minor int) {
	if attrs, ok := c["custom_attributes"].(map[string]any); ok {
		for k, v := range attrs {
			if v == nil {
				delete(attrs, k)
			}
		}
	}
	if minor >= 16 {
		for _, k := range []string{"admin_assignee_id", "team_assignee_id"} {
			if v, ok := c[k]; ok && v == nil {
				c[k] = json.Number("0")
			}
		}
		if p, _ := c["priority"].(string); p == "not_priority" {
			c["priority"] = "none"
		} else if p == "priority" {
			c["priority"] = "high"
		}
	}
}

func adaptContact(c map[string]any) {
	if n, ok := c["owner_id"].(json.Number); ok {
		c["owner_id"] = n.String()
	}
}
