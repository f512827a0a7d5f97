package intercomtest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/coaching/intercom_exporter/intercom"
)

// Page sizes of the search endpoints, from the official description:
// "The default is `20` results per page and maximum is `150`" (search
// conversations), "The default is `50` results per page" (search contacts),
// and the pagination guide: "the max amount for any API is 150". A larger
// per_page is refused with 400 rather than silently capped, so that a client
// cannot come to depend on a cap.
const (
	defaultConversationsPerPage = 20
	defaultContactsPerPage      = 50
	maxPerPage                  = 150
)

// cursor is the position after the last result of a page. It is encoded in
// starting_after as base64 of the JSON array [updated_at, "id", next page]
// (opaque to clients), so a page starts after a record's (updated_at, id)
// rather than at an offset: records that change, appear or disappear between
// two pages neither shift nor hide the others. A record updated between two
// pages moves to the end of the order and may be returned twice; clients
// de-duplicate by id, as they must with Intercom.
type cursor struct {
	key  orderKey
	page int
}

func (c cursor) encode() string {
	// Conversations keep a numeric id in num only (id is "" then): spell
	// it out, or the next page would start from the wrong place.
	id := c.key.id
	if c.key.num >= 0 {
		id = strconv.FormatInt(c.key.num, 10)
	}
	b, _ := json.Marshal([]any{c.key.at, id, c.page})
	return base64.StdEncoding.EncodeToString(b)
}

func decodeCursor(s string) (*cursor, *apiError) {
	bad := badRequest("parameter_invalid", "starting_after %q is not a cursor from a previous page", truncateJSON(json.RawMessage(s)))
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, bad
	}
	var parts []json.RawMessage
	if json.Unmarshal(b, &parts) != nil || len(parts) != 3 {
		return nil, bad
	}
	var c cursor
	if json.Unmarshal(parts[0], &c.key.at) != nil || json.Unmarshal(parts[1], &c.key.id) != nil ||
		json.Unmarshal(parts[2], &c.page) != nil || c.page < 2 {
		return nil, bad
	}
	c.key.num = numericID(c.key.id)
	return &c, nil
}

// searchRequest is the body of a search.
type searchRequest struct {
	query   json.RawMessage
	perPage int
	after   *cursor
	// countKey identifies the query (not the page) for the count cache.
	countKey string
}

func parseSearchRequest(body []byte, defaultPerPage int) (searchRequest, *apiError) {
	var b struct {
		Query      json.RawMessage `json:"query"`
		Pagination json.RawMessage `json:"pagination"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return searchRequest{}, badRequest("parameter_invalid", "request body is not a JSON object: %v", err)
	}
	req := searchRequest{query: b.Query, perPage: defaultPerPage}
	if p := bytes.TrimSpace(b.Pagination); len(p) > 0 && string(p) != "null" {
		var pg struct {
			PerPage       json.RawMessage `json:"per_page"`
			StartingAfter *string         `json:"starting_after"`
		}
		if err := json.Unmarshal(p, &pg); err != nil {
			return searchRequest{}, badRequest("parameter_invalid", "pagination must be an object with per_page and starting_after")
		}
		if pp := bytes.TrimSpace(pg.PerPage); len(pp) > 0 && string(pp) != "null" {
			n, ok := intValue(pp)
			if !ok || n < 1 || n > maxPerPage {
				return searchRequest{}, badRequest("parameter_invalid", "per_page must be an integer from 1 to %d, got %s", maxPerPage, truncateJSON(pp))
			}
			req.perPage = int(n)
		}
		if pg.StartingAfter != nil && *pg.StartingAfter != "" {
			c, err := decodeCursor(*pg.StartingAfter)
			if err != nil {
				return searchRequest{}, err
			}
			req.after = c
		}
	}
	var canon bytes.Buffer
	if json.Compact(&canon, b.Query) == nil {
		req.countKey = canon.String()
	} else {
		req.countKey = string(b.Query)
	}
	return req, nil
}

// pageResult is one page of a search: record numbers and the pages object.
type pageResult struct {
	items []int32
	total int
	page  int
	next  *cursor
}

// runSearch serves one page from an index ordered by (updated_at, id). Only
// the part of the index inside the query's updated_at span is visited, from
// the cursor on; the total is counted once per query and workspace version.
func runSearch[T any](w *Workspace, ix *sortedIndex, key func(int32) orderKey, rec func(int32) *T, lookup func(string) (int32, bool), q compiled[T], req searchRequest, kind string) pageResult {
	order := ix.order
	if q.ids != nil {
		// Look the ids up and walk just those, in index order: the same
		// pages as the scan would give, without visiting every record.
		order = make([]int32, 0, len(q.ids))
		seen := make(map[int32]bool, len(q.ids))
		for _, id := range q.ids {
			if i, ok := lookup(id); ok && !seen[i] {
				seen[i] = true
				order = append(order, i)
			}
		}
		slices.SortFunc(order, func(a, b int32) int { return key(a).cmp(key(b)) })
		ix = &sortedIndex{order: order}
	}
	start := 0
	if q.span.lo != math.MinInt64 {
		lo := q.span.lo
		start = sort.Search(len(order), func(p int) bool { return key(order[p]).at >= lo })
	}
	res := pageResult{page: 1}
	if req.after != nil {
		start = max(start, ix.upperBound(req.after.key, key))
		res.page = req.after.page
	}
	hi := q.span.hi
	res.items = make([]int32, 0, req.perPage)
	p := start
	for ; p < len(order); p++ {
		i := order[p]
		if key(i).at > hi {
			break
		}
		if r := rec(i); r == nil || !q.match(r) {
			continue
		}
		if len(res.items) == req.perPage {
			last := res.items[len(res.items)-1]
			res.next = &cursor{key: key(last), page: res.page + 1}
			break
		}
		res.items = append(res.items, i)
	}
	res.total = w.cachedCount(kind+"\x00"+req.countKey, func() int {
		lo := 0
		if q.span.lo != math.MinInt64 {
			l := q.span.lo
			lo = sort.Search(len(order), func(p int) bool { return key(order[p]).at >= l })
		}
		n := 0
		for p := lo; p < len(order); p++ {
			i := order[p]
			if key(i).at > hi {
				break
			}
			if r := rec(i); r != nil && q.match(r) {
				n++
			}
		}
		return n
	})
	return res
}

func (p pageResult) pages(perPage int) pagesJSON {
	out := pagesJSON{Type: "pages", Page: p.page, PerPage: perPage, TotalPages: (p.total + perPage - 1) / perPage}
	if p.next != nil {
		out.Next = &nextJSON{Page: p.next.page, StartingAfter: p.next.encode(), PerPage: perPage}
	}
	return out
}

// ---- searchable fields ----

// conversationModel: the conversation fields of the description's table
// that the exporter's client can use. Custom attributes are not searchable
// on conversations (the description lists none).
func (w *Workspace) conversationModel() *model[convRec] {
	idNum := func(s string) (int64, bool) {
		n := numericID(s)
		return n, n >= 0
	}
	fields := map[string]field[convRec]{
		"id":         {kind: kindString, str: func(r *convRec) (string, bool) { return r.idString(), true }},
		"created_at": {kind: kindDate, num: func(r *convRec) (int64, bool) { return r.createdAt, true }},
		"updated_at": {kind: kindDate, num: func(r *convRec) (int64, bool) { return r.updatedAt, true }, indexed: true},
		"state":      {kind: kindString, str: func(r *convRec) (string, bool) { return w.strs[r.state], true }},
		"open":       {kind: kindBool, boolean: func(r *convRec) (bool, bool) { return w.strs[r.state] != "closed", true }},
		"read":       {kind: kindBool, boolean: func(*convRec) (bool, bool) { return true, true }},
		"admin_assignee_id": {kind: kindInt, num: func(r *convRec) (int64, bool) {
			return idNum(w.strs[r.admin])
		}},
		"team_assignee_id": {kind: kindInt, num: func(r *convRec) (int64, bool) {
			return idNum(w.strs[r.team])
		}},
		"contact_ids": {kind: kindString, strs: func(r *convRec) []string {
			ids := make([]string, r.refN)
			for k, ref := range w.refArena[r.refOff : r.refOff+uint32(r.refN)] {
				ids[k] = w.refs[ref].ID
			}
			return ids
		}},
	}
	return &model[convRec]{
		name:     "conversation",
		loc:      w.loc,
		noGreqLe: true,
		lookup: func(name string) (field[convRec], *apiError) {
			if f, ok := fields[name]; ok {
				return f, nil
			}
			return field[convRec]{}, badRequest("parameter_invalid", "%s is not a searchable conversation field in this fake (searchable: id, created_at, updated_at, state, open, read, admin_assignee_id, team_assignee_id, contact_ids)", name)
		},
	}
}

// contactModel: the contact fields of the description's table that the
// fake stores, and custom_attributes.<name> for every live custom data
// attribute of model contact, typed by its data_type.
func (w *Workspace) contactModel() *model[intercom.Contact] {
	str := func(get func(*intercom.Contact) string) field[intercom.Contact] {
		return field[intercom.Contact]{kind: kindString, str: func(c *intercom.Contact) (string, bool) {
			s := get(c)
			return s, s != ""
		}}
	}
	unset := field[intercom.Contact]{kind: kindDate, num: func(*intercom.Contact) (int64, bool) { return 0, false }}
	fields := map[string]field[intercom.Contact]{
		"id": str(func(c *intercom.Contact) string { return c.ID }),
		"role": str(func(c *intercom.Contact) string {
			if c.Role == "" {
				return "user" // as rendered
			}
			return c.Role
		}),
		"name":        str(func(c *intercom.Contact) string { return c.Name }),
		"email":       str(func(c *intercom.Contact) string { return c.Email }),
		"external_id": str(func(c *intercom.Contact) string { return c.ExternalID }),
		"email_domain": str(func(c *intercom.Contact) string {
			if at := strings.LastIndexByte(c.Email, '@'); at >= 0 {
				return c.Email[at+1:]
			}
			return ""
		}),
		"phone": {kind: kindString, str: func(*intercom.Contact) (string, bool) { return "", false }},
		"owner_id": {kind: kindInt, num: func(c *intercom.Contact) (int64, bool) {
			n := numericID(string(c.OwnerID))
			return n, n >= 0
		}},
		"created_at":   {kind: kindDate, num: func(c *intercom.Contact) (int64, bool) { return c.CreatedAt, true }},
		"updated_at":   {kind: kindDate, num: func(c *intercom.Contact) (int64, bool) { return c.UpdatedAt, true }, indexed: true},
		"signed_up_at": {kind: kindDate, num: func(c *intercom.Contact) (int64, bool) { return c.CreatedAt, true }},
		"last_seen_at": unset,
	}
	loc := w.loc
	return &model[intercom.Contact]{
		name:  "contact",
		byDay: true,
		loc:   loc,
		lookup: func(name string) (field[intercom.Contact], *apiError) {
			if f, ok := fields[name]; ok {
				return f, nil
			}
			attr, ok := strings.CutPrefix(name, "custom_attributes.")
			if !ok {
				return field[intercom.Contact]{}, badRequest("parameter_invalid", "%s is not a searchable contact field", name)
			}
			a, ok := w.customAttr("contact", attr)
			if !ok {
				return field[intercom.Contact]{}, badRequest("parameter_invalid", "custom attribute %q does not exist on contacts", attr)
			}
			return customField(attr, a.DataType, loc), nil
		},
	}
}

// customField reads a contact custom attribute as its data type says.
func customField(name, dataType string, loc *time.Location) field[intercom.Contact] {
	switch dataType {
	case "date":
		return field[intercom.Contact]{kind: kindDate, num: func(c *intercom.Contact) (int64, bool) {
			return intercom.SearchDate(c.CustomAttributes[name], loc)
		}}
	case "integer", "float":
		return field[intercom.Contact]{kind: kindInt, num: func(c *intercom.Contact) (int64, bool) {
			raw := bytes.TrimSpace(c.CustomAttributes[name])
			if len(raw) == 0 || string(raw) == "null" {
				return 0, false
			}
			return intValue(raw)
		}}
	case "boolean":
		return field[intercom.Contact]{kind: kindBool, boolean: func(c *intercom.Contact) (bool, bool) {
			return boolValue(c.CustomAttributes[name])
		}}
	}
	return field[intercom.Contact]{kind: kindString, str: func(c *intercom.Contact) (string, bool) {
		return c.CustomAttributes.String(name)
	}}
}

// ---- search entry points (used by the server) ----

func (w *Workspace) searchConversations(body []byte) ([]byte, *apiError) {
	req, aerr := parseSearchRequest(body, defaultConversationsPerPage)
	if aerr != nil {
		return nil, aerr
	}
	w.catchUpIndex()
	w.rlockConversations()
	defer w.mu.RUnlock()
	q, aerr := compileQuery(w.conversationModel(), req.query)
	if aerr != nil {
		return nil, aerr
	}
	res := runSearch(w, &w.convIndex, w.convKey, w.searchedConv, w.convIndexOf, q, req, "conversations")
	out := conversationListJSON{
		Type:          "conversation.list",
		Conversations: make([]conversationJSON, len(res.items)),
		TotalCount:    res.total,
		Pages:         res.pages(req.perPage),
	}
	for k, i := range res.items {
		out.Conversations[k] = w.conversationJSON(w.searchedConv(i))
	}
	return marshal(out), nil
}

func (w *Workspace) searchContacts(body []byte) ([]byte, *apiError) {
	req, aerr := parseSearchRequest(body, defaultContactsPerPage)
	if aerr != nil {
		return nil, aerr
	}
	w.catchUpIndex()
	w.rlockContacts()
	defer w.mu.RUnlock()
	q, aerr := compileQuery(w.contactModel(), req.query)
	if aerr != nil {
		return nil, aerr
	}
	res := runSearch(w, &w.contactIndex, w.contactKey, w.searchedContact, func(id string) (int32, bool) {
		i, ok := w.contactByID[id]
		return i, ok
	}, q, req, "contacts")
	out := contactListJSON{
		Type:       "list",
		Data:       make([]contactJSON, len(res.items)),
		TotalCount: res.total,
		Pages:      res.pages(req.perPage),
	}
	for k, i := range res.items {
		out.Data[k] = w.contactJSON(w.searchedContact(i))
	}
	return marshal(out), nil
}

func marshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Only our own JSON types get here; a failure is a bug in the fake.
		panic(fmt.Sprintf("intercomtest: encoding a response: %v", err))
	}
	return b
}
