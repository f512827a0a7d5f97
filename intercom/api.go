package intercom

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
)

// Route templates: the endpoint label of metrics, logs and errors.
const (
	endpointConversationSearch = "/conversations/search"
	endpointContactSearch      = "/contacts/search"
	endpointContact            = "/contacts/{id}"
	endpointAdmins             = "/admins"
	endpointDataAttributes     = "/data_attributes"
	endpointMe                 = "/me"
)

// callJSON performs cl and decodes the 2xx body into a fresh T per attempt.
func callJSON[T any](ctx context.Context, c *Client, cl call, check func(*T) error) (T, error) {
	var out T
	err := c.do(ctx, cl, func(b []byte) error {
		var v T
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		if check != nil {
			if err := check(&v); err != nil {
				return err
			}
		}
		out = v
		return nil
	})
	return out, err
}

func jsonBody(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("intercom: encoding the request body: %w", err)
	}
	return b, nil
}

type searchRequest struct {
	Query      Query            `json:"query"`
	Pagination searchPagination `json:"pagination"`
}

type searchPagination struct {
	PerPage       int    `json:"per_page"`
	StartingAfter string `json:"starting_after,omitempty"`
}

// searchPage is one page of a search answer: conversations come in
// "conversations", contacts in "data".
type searchPage[T any] struct {
	Conversations *[]T `json:"conversations"`
	Data          *[]T `json:"data"`
	Pages         *struct {
		Next *struct {
			StartingAfter string `json:"starting_after"`
		} `json:"next"`
	} `json:"pages"`
}

func (p *searchPage[T]) next() string {
	if p.Pages == nil || p.Pages.Next == nil {
		return ""
	}
	return p.Pages.Next.StartingAfter
}

// SearchConversations walks every page of POST /conversations/search for q
// (150 a page, following pages.next.starting_after) and hands each non-empty
// page to fn as it arrives; the slice is fn's to keep. An error from fn stops
// the walk and is returned as is.
func (c *Client) SearchConversations(ctx context.Context, q Query, fn func(page []Conversation) error) error {
	return search(ctx, c, endpointConversationSearch, "conversations", q, func(p *searchPage[Conversation]) *[]Conversation { return p.Conversations }, fn)
}

// SearchContacts walks every page of POST /contacts/search for q, like
// SearchConversations.
func (c *Client) SearchContacts(ctx context.Context, q Query, fn func(page []Contact) error) error {
	return search(ctx, c, endpointContactSearch, "data", q, func(p *searchPage[Contact]) *[]Contact { return p.Data }, fn)
}

func search[T any](ctx context.Context, c *Client, endpoint, listKey string, q Query,
	list func(*searchPage[T]) *[]T, fn func([]T) error) error {
	if err := q.Validate(); err != nil {
		return fmt.Errorf("intercom: POST %s: %w", endpoint, err)
	}
	check := func(p *searchPage[T]) error {
		if list(p) == nil {
			return fmt.Errorf("no %q list in the answer", listKey)
		}
		return nil
	}
	cursor := ""
	for page := 1; ; page++ {
		body, err := jsonBody(searchRequest{Query: q, Pagination: searchPagination{PerPage: searchPerPage, StartingAfter: cursor}})
		if err != nil {
			return err
		}
		p, err := callJSON(ctx, c, call{method: http.MethodPost, endpoint: endpoint, path: endpoint, body: body}, check)
		if err != nil {
			return err
		}
		if items := *list(&p); len(items) > 0 {
			if err := fn(items); err != nil {
				return err
			}
		}
		next := p.next()
		if next == "" {
			return nil
		}
		if next == cursor {
			return fmt.Errorf("intercom: POST %s: page %d handed back the cursor it was asked for; stopping instead of looping", endpoint, page)
		}
		cursor = next
	}
}

// contactPath is /contacts/{id} for a real id.
func contactPath(method, id string) (string, error) {
	if id == "" {
		return "", fmt.Errorf("intercom: %s %s: empty contact id", method, endpointContact)
	}
	return "/contacts/" + url.PathEscape(id), nil
}

func checkContact(ct *Contact) error {
	if ct.ID == "" {
		return errors.New("the answer is not a contact (no id)")
	}
	return nil
}

// GetContact reads one contact (GET /contacts/{id}).
func (c *Client) GetContact(ctx context.Context, id string) (Contact, error) {
	path, err := contactPath(http.MethodGet, id)
	if err != nil {
		return Contact{}, err
	}
	return callJSON(ctx, c, call{method: http.MethodGet, endpoint: endpointContact, path: path}, checkContact)
}

// UpdateContactAttributes sets custom attributes of a contact with
// PUT /contacts/{id} {"custom_attributes": attrs} and returns the contact as
// updated. The values are absolute, so a failed attempt is safely retried.
// Writing an attribute the workspace does not define fails (check
// ListDataAttributes first).
func (c *Client) UpdateContactAttributes(ctx context.Context, id string, attrs map[string]any) (Contact, error) {
	path, err := contactPath(http.MethodPut, id)
	if err != nil {
		return Contact{}, err
	}
	if len(attrs) == 0 {
		return Contact{}, fmt.Errorf("intercom: PUT %s: no attributes to write", endpointContact)
	}
	body, err := jsonBody(struct {
		CustomAttributes map[string]any `json:"custom_attributes"`
	}{attrs})
	if err != nil {
		return Contact{}, err
	}
	return callJSON(ctx, c, call{method: http.MethodPut, endpoint: endpointContact, path: path, body: body}, checkContact)
}

// ListAdmins lists the workspace's teammates (GET /admins). A token without
// the read-admins permission gets an *APIError with Status 403.
func (c *Client) ListAdmins(ctx context.Context) ([]Admin, error) {
	type adminList struct {
		Admins *[]Admin `json:"admins"`
	}
	l, err := callJSON(ctx, c, call{method: http.MethodGet, endpoint: endpointAdmins, path: endpointAdmins}, func(l *adminList) error {
		if l.Admins == nil {
			return errors.New(`no "admins" list in the answer`)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return *l.Admins, nil
}

// ListDataAttributes lists the attributes of a model ("contact", "company"
// or "conversation") with GET /data_attributes?model=...
func (c *Client) ListDataAttributes(ctx context.Context, model string) ([]DataAttribute, error) {
	type attrList struct {
		Data *[]DataAttribute `json:"data"`
	}
	cl := call{method: http.MethodGet, endpoint: endpointDataAttributes, path: endpointDataAttributes}
	if model != "" {
		cl.query = url.Values{"model": {model}}
	}
	l, err := callJSON(ctx, c, cl, func(l *attrList) error {
		if l.Data == nil {
			return errors.New(`no "data" list in the answer`)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return *l.Data, nil
}

// Me describes the workspace the token belongs to (GET /me, its "app"),
// notably its timezone, which the contact search uses for dates.
func (c *Client) Me(ctx context.Context) (Workspace, error) {
	type me struct {
		App *Workspace `json:"app"`
	}
	m, err := callJSON(ctx, c, call{method: http.MethodGet, endpoint: endpointMe, path: endpointMe}, func(m *me) error {
		if m.App == nil {
			return errors.New(`no "app" in the answer`)
		}
		return nil
	})
	if err != nil {
		return Workspace{}, err
	}
	return *m.App, nil
}
