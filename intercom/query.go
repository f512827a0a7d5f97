package intercom

import (
	"errors"
	"fmt"
)

// Query is a search query: a single filter {field, operator, value} or a
// group {operator: "AND"|"OR", value: [...Query]}. Build it with Filter, And
// and Or.
type Query struct {
	Field    string `json:"field,omitempty"`
	Operator string `json:"operator"`
	Value    any    `json:"value"`
}

// Search limits (API description, "Nesting & Limitations").
const (
	maxQueryNesting    = 2   // levels of AND/OR groups
	maxFiltersPerGroup = 15  // members of one AND/OR group
	searchPerPage      = 150 // the most the search endpoints return a page
)

// Filter is a single condition, e.g. Filter("updated_at", ">", 1717000000).
func Filter(field, operator string, value any) Query {
	return Query{Field: field, Operator: operator, Value: value}
}

// And matches what every q matches.
func And(q ...Query) Query { return Query{Operator: "AND", Value: q} }

// Or matches what any q matches.
func Or(q ...Query) Query { return Query{Operator: "OR", Value: q} }

var filterOperators = map[string]bool{
	"=": true, "!=": true, "IN": true, "NIN": true,
	"<": true, "<=": true, ">": true, ">=": true,
	"~": true, "!~": true, "^": true, "$": true,
}

// ErrInvalidQuery is wrapped by every error Validate returns.
var ErrInvalidQuery = errors.New("invalid search query")

// Validate checks the query against the search API's rules before it is
// sent: known operators, non-empty groups of at most 15 members, and at most
// 2 levels of nesting (a group may hold groups, which may hold only filters).
func (q Query) Validate() error {
	return q.validate(0)
}

func (q Query) validate(depth int) error {
	switch q.Operator {
	case "AND", "OR":
		if q.Field != "" {
			return fmt.Errorf("%w: %s group has a field (%q); groups hold only queries", ErrInvalidQuery, q.Operator, q.Field)
		}
		members, ok := q.Value.([]Query)
		if !ok {
			return fmt.Errorf("%w: %s group value must be a list of queries, got %T", ErrInvalidQuery, q.Operator, q.Value)
		}
		if len(members) == 0 {
			return fmt.Errorf("%w: empty %s group", ErrInvalidQuery, q.Operator)
		}
		if len(members) > maxFiltersPerGroup {
			return fmt.Errorf("%w: %s group has %d members, the API allows at most %d", ErrInvalidQuery, q.Operator, len(members), maxFiltersPerGroup)
		}
		if depth >= maxQueryNesting {
			return fmt.Errorf("%w: groups nested more than %d levels deep", ErrInvalidQuery, maxQueryNesting)
		}
		for _, m := range members {
			if err := m.validate(depth + 1); err != nil {
				return err
			}
		}
		return nil
	default:
		if q.Field == "" {
			return fmt.Errorf("%w: filter with operator %q has no field", ErrInvalidQuery, q.Operator)
		}
		if !filterOperators[q.Operator] {
			return fmt.Errorf("%w: filter on %q has unknown operator %q", ErrInvalidQuery, q.Field, q.Operator)
		}
		if _, isGroup := q.Value.([]Query); isGroup {
			return fmt.Errorf("%w: filter on %q has a list of queries as its value", ErrInvalidQuery, q.Field)
		}
		return nil
	}
}
