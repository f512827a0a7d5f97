package intercom

import (
	"context"
	"fmt"
	"net/http"
)

// SearchPage is one page of a search answer with what the answer says about
// the whole search.
type SearchPage[T any] struct {
	Items []T
	// Total is the answer's total_count: how many records match the query;
	// -1 when the answer did not say.
	Total int
	// Next is the cursor of the next page (pages.next.starting_after), ""
	// on the last page.
	Next string
}

// SearchConversationsPage reads one page of POST /conversations/search for
// q: perPage results (1 to 150) after the cursor startingAfter ("" for the
// first page). With perPage 1 it is the cheapest way to count matches.
func (c *Client) SearchConversationsPage(ctx context.Context, q Query, perPage int, startingAfter string) (SearchPage[Conversation], error) {
	return searchOnePage(ctx, c, endpointConversationSearch, "conversations", q, perPage, startingAfter,
		func(p *countedPage[Conversation]) *[]Conversation { return p.Conversations })
}

// SearchContactsPage reads one page of POST /contacts/search, like
// SearchConversationsPage.
func (c *Client) SearchContactsPage(ctx context.Context, q Query, perPage int, startingAfter string) (SearchPage[Contact], error) {
	return searchOnePage(ctx, c, endpointContactSearch, "data", q, perPage, startingAfter,
		func(p *countedPage[Contact]) *[]Contact { return p.Data })
}

// countedPage is searchPage with total_count.
type countedPage[T any] struct {
	searchPage[T]
	TotalCount *int `json:"total_count"`
}

func searchOnePage[T any](ctx context.Context, c *Client, endpoint, listKey string, q Query, perPage int, cursor string,
	list func(*countedPage[T]) *[]T) (SearchPage[T], error) {
	if err := q.Validate(); err != nil {
		return SearchPage[T]{}, fmt.Errorf("intercom: POST %s: %w", endpoint, err)
	}
	if perPage < 1 || perPage > searchPerPage {
		return SearchPage[T]{}, fmt.Errorf("intercom: POST %s: per_page %d is outside 1..%d", endpoint, perPage, searchPerPage)
	}
	body, err := jsonBody(searchRequest{Query: q, Pagination: searchPagination{PerPage: perPage, StartingAfter: cursor}})
	if err != nil {
		return SearchPage[T]{}, err
	}
	p, err := callJSON(ctx, c, call{method: http.MethodPost, endpoint: endpoint, path: endpoint, body: body}, func(p *countedPage[T]) error {
		if list(p) == nil {
			return fmt.Errorf("no %q list in the answer", listKey)
		}
		return nil
	})
	if err != nil {
		return SearchPage[T]{}, err
	}
	out := SearchPage[T]{Items: *list(&p), Total: -1, Next: p.next()}
	if p.TotalCount != nil {
		out.Total = *p.TotalCount
	}
	if out.Next == cursor && cursor != "" {
		return SearchPage[T]{}, fmt.Errorf("intercom: POST %s: the page handed back the cursor it was asked for", endpoint)
	}
	return out, nil
}
