package intercomtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coaching/intercom_exporter/intercom"
)

const base = int64(1_773_000_000) // 2026-03-08T20:00:00Z

// numberedConversations: ids "1".."n", created and updated at base+100*i,
// all closed Phone conversations.
func numberedConversations(ws *Workspace, n int) {
	for i := 1; i <= n; i++ {
		ws.AddConversation(conv(strconv.Itoa(i), base+int64(100*i), base+int64(100*i), "closed", "Phone", "u1"))
	}
}

func TestSearchConversations_DefaultPageIs20AndMaximum150(t *testing.T) {
	ws := smallWorkspace("UTC")
	numberedConversations(ws, 200)
	s := startServer(t, ws, Options{})
	all := filter("updated_at", ">", 0)

	p := searchConversations(t, s, all, 0, "")
	assert.Equal(t, "conversation.list", p.Type)
	assert.Len(t, p.Conversations, 20)
	assert.Equal(t, pages{Type: "pages", Page: 1, PerPage: 20, TotalPages: 10, Next: p.Pages.Next}, p.Pages)
	assert.NotNil(t, p.Pages.Next)
	assert.Equal(t, 200, p.TotalCount)

	p = searchConversations(t, s, all, 150, "")
	assert.Len(t, p.Conversations, 150)
	assert.Equal(t, 2, p.Pages.TotalPages)

	for _, bad := range []any{151, 0, -1, "many"} {
		resp, body := call(t, s, http.MethodPost, "/conversations/search",
			map[string]any{"query": all, "pagination": map[string]any{"per_page": bad}})
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, "per_page %v", bad)
		assert.Equal(t, "parameter_invalid", decodeError(t, body).Errors[0].Code)
	}
}

func TestSearchContacts_DefaultPageIs50(t *testing.T) {
	ws := smallWorkspace("UTC")
	for i := range 60 {
		ws.AddContact(intercom.Contact{ID: fmt.Sprintf("c%02d", i), Role: "user", CreatedAt: base, UpdatedAt: base + int64(i)})
	}
	s := startServer(t, ws, Options{})
	p := searchContacts(t, s, filter("role", "=", "user"), 0, "")
	assert.Equal(t, "list", p.Type)
	assert.Len(t, p.Data, 50)
	assert.Equal(t, 50, p.Pages.PerPage)
	assert.Equal(t, 60, p.TotalCount)
	assert.Equal(t, 2, p.Pages.TotalPages)
}

func TestSearch_WalkingAllPagesReturnsEachMatchOnceAndTheLastPageHasNoNext(t *testing.T) {
	ws := smallWorkspace("UTC")
	numberedConversations(ws, 90)
	for i := 1; i <= 90; i += 2 {
		ws.UpdateConversation(strconv.Itoa(i), func(c *intercom.Conversation) { c.State = "open" })
	}
	s := startServer(t, ws, Options{})
	q := filter("state", "=", "closed") // the 45 even ids
	var seen []string
	after := ""
	for page := 1; ; page++ {
		p := searchConversations(t, s, q, 10, after)
		assert.Equal(t, page, p.Pages.Page)
		assert.Equal(t, 5, p.Pages.TotalPages)
		assert.Equal(t, 45, p.TotalCount)
		seen = append(seen, convIDs(p.Conversations)...)
		if p.Pages.Next == nil {
			assert.Equal(t, 5, page, "no next on the last page only")
			assert.Len(t, p.Conversations, 5)
			break
		}
		assert.Len(t, p.Conversations, 10)
		assert.Equal(t, page+1, p.Pages.Next.Page)
		after = p.Pages.Next.StartingAfter
		require.Less(t, page, 10)
	}
	var want []string
	for i := 2; i <= 90; i += 2 {
		want = append(want, strconv.Itoa(i))
	}
	assert.Equal(t, want, seen, "in updated_at order, each once")
}

func TestSearch_ExactlyFullLastPageHasNoNext(t *testing.T) {
	ws := smallWorkspace("UTC")
	numberedConversations(ws, 20)
	s := startServer(t, ws, Options{})
	p := searchConversations(t, s, filter("state", "=", "closed"), 10, "")
	require.NotNil(t, p.Pages.Next)
	p = searchConversations(t, s, filter("state", "=", "closed"), 10, p.Pages.Next.StartingAfter)
	assert.Len(t, p.Conversations, 10)
	assert.Nil(t, p.Pages.Next)

	empty := searchConversations(t, s, filter("state", "=", "snoozed"), 10, "")
	assert.Empty(t, empty.Conversations)
	assert.Equal(t, pages{Type: "pages", Page: 1, PerPage: 10, TotalPages: 0}, empty.Pages)
}

func TestSearch_CursorIsStableWhenDataChangesBetweenPages(t *testing.T) {
	ws := smallWorkspace("UTC")
	numberedConversations(ws, 30)
	s := startServer(t, ws, Options{})
	q := filter("updated_at", ">", base)

	p1 := searchConversations(t, s, q, 10, "")
	require.Equal(t, []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10"}, convIDs(p1.Conversations))

	// Between the pages: a served conversation and an unseen one are
	// deleted, a new one arrives, an unseen one is touched (moves to the
	// end) and a served one is reopened (also moves to the end).
	ws.DeleteConversation("3")
	ws.DeleteConversation("15")
	ws.AddConversation(conv("99", base+5000, base+5000, "closed", "Chat", "u2"))
	ws.UpdateConversation("20", func(c *intercom.Conversation) { c.UpdatedAt = base + 6000 })
	ws.UpdateConversation("5", func(c *intercom.Conversation) { c.State, c.UpdatedAt = "open", base+7000 })

	p2 := searchConversations(t, s, q, 10, p1.Pages.Next.StartingAfter)
	assert.Equal(t, 2, p2.Pages.Page)
	assert.Equal(t, []string{"11", "12", "13", "14", "16", "17", "18", "19", "21", "22"}, convIDs(p2.Conversations),
		"starts right after the last served record: deleting one before it does not shift the page")
	p3 := searchConversations(t, s, q, 10, p2.Pages.Next.StartingAfter)
	assert.Equal(t, []string{"23", "24", "25", "26", "27", "28", "29", "30", "99", "20"}, convIDs(p3.Conversations))
	require.NotNil(t, p3.Pages.Next)
	p4 := searchConversations(t, s, q, 10, p3.Pages.Next.StartingAfter)
	assert.Equal(t, []string{"5"}, convIDs(p4.Conversations), "the reopened one comes again, in its new state")
	assert.Equal(t, "open", p4.Conversations[0].State)
	assert.Nil(t, p4.Pages.Next)
}

func TestSearch_BadCursorIs400(t *testing.T) {
	s := startServer(t, smallWorkspace("UTC"), Options{})
	for _, cur := range []string{"not-base64!", "bm9wZQ==", "WzEsIjEiLDFd"} { // "nope", [1,"1",1]
		resp, body := call(t, s, http.MethodPost, "/contacts/search", searchBody(filter("role", "=", "user"), 5, cur))
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, cur)
		assert.Equal(t, "parameter_invalid", decodeError(t, body).Errors[0].Code)
	}
}

func TestSearch_OrderIsUpdatedAtThenNumericID(t *testing.T) {
	ws := smallWorkspace("UTC")
	ws.AddConversation(conv("10", base, base+5, "closed", ""))
	ws.AddConversation(conv("9", base, base+5, "closed", ""))
	ws.AddConversation(conv("100", base, base+1, "closed", ""))
	s := startServer(t, ws, Options{})
	p := searchConversations(t, s, filter("state", "=", "closed"), 0, "")
	assert.Equal(t, []string{"100", "9", "10"}, convIDs(p.Conversations))
}

// operatorWorkspace has conversations and contacts for operator tests.
func operatorWorkspace() *Workspace {
	ws := smallWorkspace("UTC")
	add := func(id string, created, updated int64, state string, admin intercom.ID, contacts ...string) {
		c := conv(id, created, updated, state, "Phone", contacts...)
		c.AdminAssigneeID = admin
		ws.AddConversation(c)
	}
	add("1", base+100, base+1000, "closed", "101", "u1")
	add("2", base+200, base+2000, "open", "102", "u2")
	add("3", base+300, base+3000, "snoozed", "", "u1", "u3")
	add("4", base+400, base+4000, "closed", "0", "u4")
	add("15", base+500, base+5000, "closed", "101")

	contact := func(id, role, email, ext string, owner intercom.ID, employer string) {
		c := intercom.Contact{ID: id, Role: role, Email: email, ExternalID: ext, OwnerID: owner, CreatedAt: base, UpdatedAt: base,
			CustomAttributes: intercom.Attributes{}}
		if employer != "" {
			c.CustomAttributes[AttrEmployer] = json.RawMessage(strconv.Quote(employer))
		}
		ws.AddContact(c)
	}
	contact("a1", "user", "ann@example.com", "P1", "101", "Acme Health")
	contact("a2", "lead", "bob@Example.ORG", "", "", "Globex Bank")
	contact("a3", "user", "cy@example.net", "P3", "103", "")
	contact("a4", "user", "di@example.com", "P4", "102", "Acme Foods")
	return ws
}

func TestSearchConversations_EachOperator(t *testing.T) {
	s := startServer(t, operatorWorkspace(), Options{})
	for _, c := range []struct {
		name  string
		query any
		want  []string
	}{
		{"= string", filter("state", "=", "closed"), []string{"1", "4", "15"}},
		{"!= string", filter("state", "!=", "closed"), []string{"2", "3"}},
		{"IN", filter("state", "IN", []string{"open", "snoozed"}), []string{"2", "3"}},
		{"NIN", filter("state", "NIN", []string{"open", "snoozed"}), []string{"1", "4", "15"}},
		{"~ contains", filter("id", "~", "1"), []string{"1", "15"}},
		{"!~ does not contain", filter("id", "!~", "1"), []string{"2", "3", "4"}},
		{"^ starts with", filter("state", "^", "CLO"), []string{"1", "4", "15"}},
		{"$ ends with", filter("state", "$", "zed"), []string{"3"}},
		{"= integer", filter("admin_assignee_id", "=", 101), []string{"1", "15"}},
		{"= integer as string", filter("admin_assignee_id", "=", "102"), []string{"2"}},
		{"!= integer includes unassigned", filter("admin_assignee_id", "!=", 101), []string{"2", "3", "4"}},
		{"IN integers", filter("admin_assignee_id", "IN", []int{0, 102}), []string{"2", "4"}},
		{"NIN integers", filter("admin_assignee_id", "NIN", []int{0, 102}), []string{"1", "3", "15"}},
		{"= null: unassigned", filter("admin_assignee_id", "=", nil), []string{"3"}},
		{"!= null: assigned", filter("admin_assignee_id", "!=", nil), []string{"1", "2", "4", "15"}},
		{"> timestamp (or equal)", filter("created_at", ">", base+300), []string{"3", "4", "15"}},
		{"< timestamp (or equal)", filter("created_at", "<", base+200), []string{"1", "2"}},
		{"= timestamp", filter("updated_at", "=", base+2000), []string{"2"}},
		{"> integer (or equal)", filter("admin_assignee_id", ">", 102), []string{"2"}},
		{"contact_ids =", filter("contact_ids", "=", "u1"), []string{"1", "3"}},
		{"contact_ids IN", filter("contact_ids", "IN", []string{"u3", "u4"}), []string{"3", "4"}},
		{"contact_ids !=", filter("contact_ids", "!=", "u1"), []string{"2", "4", "15"}},
		{"open = true", filter("open", "=", true), []string{"2", "3"}},
		{"id IN", filter("id", "IN", []string{"4", "15", "77"}), []string{"4", "15"}},
		{"AND", group("AND", filter("state", "=", "closed"), filter("updated_at", ">", base+2000)), []string{"4", "15"}},
		{"OR", group("OR", filter("state", "=", "open"), filter("id", "=", "15")), []string{"2", "15"}},
		{"two levels", group("AND",
			group("OR", filter("state", "=", "open"), filter("state", "=", "snoozed")),
			group("OR", filter("contact_ids", "=", "u1"), filter("contact_ids", "=", "u2"))), []string{"2", "3"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := searchConversations(t, s, c.query, 0, "")
			assert.Equal(t, c.want, convIDs(p.Conversations))
			assert.Equal(t, len(c.want), p.TotalCount)
		})
	}
}

func TestSearchConversations_GreaterThanIsGreaterOrEqual(t *testing.T) {
	ws := smallWorkspace("UTC")
	ws.AddConversation(conv("1", base-10, base-1, "closed", "Phone"))
	ws.AddConversation(conv("2", base-10, base, "closed", "Phone"))
	ws.AddConversation(conv("3", base-10, base+1, "closed", "Phone"))
	s := startServer(t, ws, Options{})
	p := searchConversations(t, s, filter("updated_at", ">", base), 0, "")
	assert.Equal(t, []string{"2", "3"}, convIDs(p.Conversations),
		"a conversation updated exactly at T matches updated_at > T: a client must not rely on > being strict")
	p = searchConversations(t, s, filter("updated_at", "<", base), 0, "")
	assert.Equal(t, []string{"1", "2"}, convIDs(p.Conversations))
}

func TestSearchContacts_EachOperator(t *testing.T) {
	s := startServer(t, operatorWorkspace(), Options{})
	for _, c := range []struct {
		name  string
		query any
		want  []string
	}{
		{"= role", filter("role", "=", "lead"), []string{"a2"}},
		{"!= id", filter("id", "!=", "a1"), []string{"a2", "a3", "a4"}},
		{"IN external_id", filter("external_id", "IN", []string{"P1", "P4"}), []string{"a1", "a4"}},
		{"NIN external_id", filter("external_id", "NIN", []string{"P1", "P4"}), []string{"a2", "a3"}},
		{"= null external_id", filter("external_id", "=", nil), []string{"a2"}},
		{"~ email, any case", filter("email", "~", "EXAMPLE.org"), []string{"a2"}},
		{"!~ email", filter("email", "!~", "example.com"), []string{"a2", "a3"}},
		{"^ email", filter("email", "^", "di@"), []string{"a4"}},
		{"$ email", filter("email", "$", ".net"), []string{"a3"}},
		{"> owner_id", filter("owner_id", ">", 101), []string{"a3", "a4"}},
		{">= owner_id", filter("owner_id", ">=", 102), []string{"a3", "a4"}},
		{"< owner_id", filter("owner_id", "<", 102), []string{"a1"}},
		{"<= owner_id", filter("owner_id", "<=", 102), []string{"a1", "a4"}},
		{"= custom string", filter("custom_attributes.Employer", "=", "Acme Health"), []string{"a1"}},
		{"^ custom string", filter("custom_attributes.Employer", "^", "acme"), []string{"a1", "a4"}},
		{"!= custom string includes unset", filter("custom_attributes.Employer", "!=", "Acme Health"), []string{"a2", "a3", "a4"}},
		{"= null custom", filter("custom_attributes.Employer", "=", nil), []string{"a3"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := searchContacts(t, s, c.query, 0, "")
			assert.Equal(t, c.want, contactIDs(p.Data))
		})
	}
}

func TestSearch_RefusedQueriesAre400ErrorLists(t *testing.T) {
	s := startServer(t, operatorWorkspace(), Options{})
	sixteen := make([]any, 16)
	for i := range sixteen {
		sixteen[i] = filter("id", "=", strconv.Itoa(i)) // valid for both models
	}
	threeLevels := group("AND", group("OR", group("AND", filter("state", "=", "closed")), filter("state", "=", "open")))
	for _, c := range []struct {
		name, path string
		body       any
		code       string
	}{
		{"3 levels of nesting", "/conversations/search", searchBody(threeLevels, 0, ""), "parameter_invalid"},
		{"16 filters in a group", "/conversations/search", searchBody(group("OR", sixteen...), 0, ""), "parameter_invalid"},
		{"16 filters in a contact group", "/contacts/search", searchBody(group("AND", sixteen...), 0, ""), "parameter_invalid"},
		{"composite operator", "/conversations/search", searchBody(map[string]any{"operator": "XOR", "value": []any{}}, 0, ""), "invalid_operator"},
		{"unknown operator", "/conversations/search", searchBody(filter("state", "==", "closed"), 0, ""), "invalid_operator"},
		{"missing query", "/conversations/search", map[string]any{"pagination": map[string]any{"per_page": 5}}, "parameter_not_found"},
		{"not JSON", "/contacts/search", "{", "parameter_invalid"},
		{"IN without a list", "/conversations/search", searchBody(filter("state", "IN", "closed"), 0, ""), "parameter_invalid"},
		{"text for a timestamp", "/conversations/search", searchBody(filter("created_at", ">", "foorbar"), 0, ""), "parameter_invalid"},
		{"conversation >=", "/conversations/search", searchBody(filter("updated_at", ">=", base), 0, ""), "invalid_operator"},
		{"conversation <=", "/conversations/search", searchBody(filter("updated_at", "<=", base), 0, ""), "invalid_operator"},
		{"~ on a timestamp", "/conversations/search", searchBody(filter("updated_at", "~", "17"), 0, ""), "invalid_operator"},
		{"conversation custom attribute", "/conversations/search", searchBody(filter("custom_attributes.Channel", "=", "Phone"), 0, ""), "parameter_invalid"},
		{"unknown conversation field", "/conversations/search", searchBody(filter("colour", "=", "red"), 0, ""), "parameter_invalid"},
		{"unknown custom attribute", "/contacts/search", searchBody(filter("custom_attributes.Nope", "=", "x"), 0, ""), "parameter_invalid"},
		{"contact date !=", "/contacts/search", searchBody(filter("updated_at", "!=", base), 0, ""), "invalid_operator"},
		{"contact date >=", "/contacts/search", searchBody(filter("updated_at", ">=", base), 0, ""), "invalid_operator"},
		{"contact date <=", "/contacts/search", searchBody(filter("created_at", "<=", base), 0, ""), "invalid_operator"},
		{"contact date IN", "/contacts/search", searchBody(filter("updated_at", "IN", []int64{base}), 0, ""), "invalid_operator"},
		{"contact custom date NIN", "/contacts/search", searchBody(filter("custom_attributes.Registration Date", "NIN", []int64{base}), 0, ""), "invalid_operator"},
		{"contact custom date !=", "/contacts/search", searchBody(filter("custom_attributes.Registration Date", "!=", base), 0, ""), "invalid_operator"},
		{"contact custom date >=", "/contacts/search", searchBody(filter("custom_attributes.Registration Date", ">=", base), 0, ""), "invalid_operator"},
		{"contact custom date <=", "/contacts/search", searchBody(filter("custom_attributes.Registration Date", "<=", base), 0, ""), "invalid_operator"},
		{"contact custom date IN", "/contacts/search", searchBody(filter("custom_attributes.Registration Date", "IN", []int64{base}), 0, ""), "invalid_operator"},
		{"contact date NIN", "/contacts/search", searchBody(filter("updated_at", "NIN", []int64{base}), 0, ""), "invalid_operator"},
		{"> on a string", "/contacts/search", searchBody(filter("email", ">", "a"), 0, ""), "invalid_operator"},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, body := call(t, s, http.MethodPost, c.path, c.body)
			require.Equal(t, http.StatusBadRequest, resp.StatusCode, "body: %s", body)
			assert.Equal(t, c.code, decodeError(t, body).Errors[0].Code)
		})
	}
}

func TestSearch_FifteenFiltersAndTwoLevelsAreAllowed(t *testing.T) {
	s := startServer(t, operatorWorkspace(), Options{})
	fifteen := make([]any, 15)
	for i := range fifteen {
		fifteen[i] = filter("id", "=", strconv.Itoa(i+1))
	}
	p := searchConversations(t, s, group("AND", group("OR", fifteen...), filter("state", "=", "closed")), 0, "")
	assert.Equal(t, []string{"1", "4", "15"}, convIDs(p.Conversations))
}

// TestSearchContacts_DatesMatchByWholeDayInWorkspaceTimezone: in
// America/Los_Angeles (UTC-7 in March after DST), 23:30 on March 10 is
// 06:30 UTC on March 11, and 00:30 on March 11 is 07:30 UTC on March 11.
// Matching by the workspace's day separates them; UTC days would not.
func TestSearchContacts_DatesMatchByWholeDayInWorkspaceTimezone(t *testing.T) {
	la, err := time.LoadLocation("America/Los_Angeles")
	require.NoError(t, err)
	at := func(d, h, m int) int64 { return time.Date(2026, 3, d, h, m, 0, 0, la).Unix() }
	ws := smallWorkspace("America/Los_Angeles")
	late := at(10, 23, 30)  // March 10 in LA, March 11 in UTC
	early := at(11, 0, 30)  // March 11 in LA and in UTC
	before := at(10, 0, 10) // March 10, just after midnight in LA
	for id, upd := range map[string]int64{"late": late, "early": early, "before": before} {
		ws.AddContact(intercom.Contact{ID: id, CreatedAt: before - 86400, UpdatedAt: upd, CustomAttributes: intercom.Attributes{
			AttrRegistrationDate: json.RawMessage(strconv.FormatInt(upd, 10)),
		}})
	}
	s := startServer(t, ws, Options{})
	for _, c := range []struct {
		name  string
		query any
		want  []string
	}{
		// T = March 10 20:00 LA (March 11 03:00 UTC): > matches from March 11
		// 00:00 LA. By UTC days it would start at March 12 UTC and miss "early".
		{"> starts at the next day", filter("updated_at", ">", at(10, 20, 0)), []string{"early"}},
		// T = March 10 10:00 LA (17:00 UTC): by LA days "late" is on March 10,
		// not after it. By UTC days (from March 11 00:00 UTC) it would match.
		{"> excludes the rest of T's day", filter("updated_at", ">", at(10, 10, 0)), []string{"early"}},
		{"= matches the whole day", filter("updated_at", "=", at(10, 12, 0)), []string{"before", "late"}},
		{"< ends before T's day", filter("updated_at", "<", at(11, 23, 59)), []string{"before", "late"}},
		{"< excludes T's own day", filter("updated_at", "<", at(10, 23, 59)), []string(nil)},
		{"date custom attribute by day", filter("custom_attributes.Registration Date", "=", at(10, 1, 0)), []string{"before", "late"}},
		{"date custom attribute > by day", filter("custom_attributes.Registration Date", ">", at(10, 23, 59)), []string{"early"}},
		{"value as a numeric string", filter("updated_at", ">", strconv.FormatInt(at(10, 20, 0), 10)), []string{"early"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := searchContacts(t, s, c.query, 0, "")
			got := contactIDs(p.Data)
			slices.Sort(got)
			if len(got) == 0 {
				got = nil
			}
			assert.Equal(t, c.want, got)
		})
	}
}

func TestSearchContacts_DayMatchingHandlesDSTDays(t *testing.T) {
	// March 8 2026 is 23 hours long in Los Angeles.
	la, err := time.LoadLocation("America/Los_Angeles")
	require.NoError(t, err)
	ws := smallWorkspace("America/Los_Angeles")
	lastSecond := time.Date(2026, 3, 9, 0, 0, 0, 0, la).Unix() - 1
	ws.AddContact(intercom.Contact{ID: "x", UpdatedAt: lastSecond})
	s := startServer(t, ws, Options{})
	p := searchContacts(t, s, filter("updated_at", "=", time.Date(2026, 3, 8, 0, 0, 0, 0, la).Unix()), 0, "")
	assert.Equal(t, []string{"x"}, contactIDs(p.Data))
	p = searchContacts(t, s, filter("updated_at", ">", time.Date(2026, 3, 8, 0, 0, 0, 0, la).Unix()), 0, "")
	assert.Empty(t, p.Data)
}

func TestSearchConversations_ShapeOfAConversation(t *testing.T) {
	ws := smallWorkspace("UTC")
	c := conv("7", base, base+10, "closed", "Video Conference", "u1", "u2")
	c.Contacts.Contacts[0].ExternalID = "P1"
	c.AdminAssigneeID = "102"
	ws.AddConversation(c)
	ws.AddConversation(conv("8", base, base+20, "open", ""))
	s := startServer(t, ws, Options{})
	resp, body := call(t, s, http.MethodPost, "/conversations/search", searchBody(filter("updated_at", ">", 0), 0, ""))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var raw struct {
		Conversations []map[string]json.RawMessage `json:"conversations"`
	}
	require.NoError(t, json.Unmarshal(body, &raw))
	require.Len(t, raw.Conversations, 2)
	first := raw.Conversations[0]
	assert.JSONEq(t, `102`, string(first["admin_assignee_id"]), "an integer")
	assert.JSONEq(t, `{"type":"contact.list","contacts":[{"type":"contact","id":"u1","external_id":"P1"},{"type":"contact","id":"u2","external_id":null}]}`, string(first["contacts"]))
	assert.JSONEq(t, `{"Channel":"Video Conference"}`, string(first["custom_attributes"]))
	assert.JSONEq(t, `"closed"`, string(first["state"]))
	assert.JSONEq(t, `false`, string(first["open"]))
	second := raw.Conversations[1]
	assert.JSONEq(t, `null`, string(second["admin_assignee_id"]))
	assert.JSONEq(t, `{}`, string(second["custom_attributes"]), "no channel: no key")
	assert.JSONEq(t, `true`, string(second["open"]))
}

// TestSearchContacts_IDListPagesLikeAScan: an "id IN" search (looked up,
// not scanned) pages through exactly the listed live contacts, once each,
// also inside an AND with another filter; unknown and deleted ids match
// nothing.
func TestSearchContacts_IDListPagesLikeAScan(t *testing.T) {
	ws := Generate(GenerateOptions{Seed: 3, Participants: 600, Conversations: -1, Now: genNow})
	all := ws.Contacts()
	var ids []string
	for i := 0; i < len(all); i += 2 {
		ids = append(ids, all[i].ID)
	}
	ws.DeleteContact(ids[5])
	ids = append(ids, "no-such-contact", ids[7]) // unknown, and listed twice
	want := map[string]bool{}
	for _, id := range ids {
		if _, ok := ws.Contact(id); ok {
			want[id] = true
		}
	}
	s := startServer(t, ws, Options{})
	for _, q := range []any{
		filter("id", "IN", ids),
		group("AND", filter("id", "IN", ids), filter("updated_at", ">", 1)),
	} {
		got := map[string]bool{}
		after := ""
		for {
			p := searchContacts(t, s, q, 150, after)
			assert.Equal(t, len(want), p.TotalCount)
			for _, c := range p.Data {
				assert.False(t, got[c.ID], "contact %s returned twice", c.ID)
				got[c.ID] = true
			}
			if p.Pages.Next == nil {
				break
			}
			after = p.Pages.Next.StartingAfter
		}
		assert.Equal(t, want, got)
	}
}
