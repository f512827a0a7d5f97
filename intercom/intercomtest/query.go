package intercomtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/coaching/intercom_exporter/intercom"
)

// The search query language (POST /contacts/search, /conversations/search),
// as the official description states it:
//
//   - a query is a single filter {field, operator, value} or a group
//     {operator: AND|OR, value: [queries]};
//   - "max 2 nested filters": a group may hold groups, but those may hold
//     only filters ((1 OR 2) AND (3 OR 4) is the documented example);
//   - "max 15 filters for each AND or OR group";
//   - operators = != IN NIN > < >= <= ~ !~ ^ $, each valid for some field
//     types only; a value of the wrong type fails the query.
//
// Differences between the two endpoints, from their operator tables:
//
//   - Conversations: > is "Greater (or equal) than" and < "Lower (or equal)
//     than", on integers and timestamps alike; >= and <= are not listed and
//     are refused here. Timestamps compare to the second.
//   - Contacts: timestamp fields and date custom attributes "are matched by
//     calendar day" in the workspace's timezone: = matches the whole day of
//     the value, > matches from the start of the next day, < matches before
//     the start of that day; != >= <= IN NIN are refused on dates.
//
// String comparisons are exact for = != IN NIN and case-insensitive for
// ~ !~ ^ $. A null value with = or != tests for an unset field.

const (
	maxGroupFilters = 15
	maxNesting      = 2
)

// apiError is an error answered to the client as an error.list.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func badRequest(code, format string, args ...any) *apiError {
	return &apiError{status: 400, code: code, message: fmt.Sprintf(format, args...)}
}

type fieldKind uint8

const (
	kindString fieldKind = iota
	kindInt
	kindDate
	kindBool
)

func (k fieldKind) String() string {
	return [...]string{"String", "Integer", "Date", "Boolean"}[k]
}

// field says how to read one searchable field of a record of type T.
type field[T any] struct {
	kind    fieldKind
	str     func(*T) (string, bool) // kindString, single-valued
	strs    func(*T) []string       // kindString, multi-valued (contact_ids)
	num     func(*T) (int64, bool)  // kindInt and kindDate
	boolean func(*T) (bool, bool)   // kindBool
	indexed bool                    // updated_at: results are ordered by it
}

// model is one searchable resource.
type model[T any] struct {
	name     string
	byDay    bool // contacts: dates are matched by whole day in loc
	loc      *time.Location
	lookup   func(name string) (field[T], *apiError)
	noGreqLe bool // conversations: >= and <= are not operators
}

// span is an inclusive range of updated_at that contains every match.
type span struct{ lo, hi int64 }

var everything = span{math.MinInt64, math.MaxInt64}

func (s span) and(o span) span { return span{max(s.lo, o.lo), min(s.hi, o.hi)} }
func (s span) or(o span) span  { return span{min(s.lo, o.lo), max(s.hi, o.hi)} }

type compiled[T any] struct {
	match func(*T) bool
	span  span
	// ids, when not nil, holds every id a match can have (an "id = x" or
	// "id IN [...]" filter): the search looks those records up instead of
	// scanning the index, as a real database would.
	ids []string
}

// compileQuery parses and compiles a search query.
func compileQuery[T any](m *model[T], raw json.RawMessage) (compiled[T], *apiError) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return compiled[T]{}, badRequest("parameter_not_found", "query parameter missing")
	}
	return compileNode(m, raw, 0)
}

func compileNode[T any](m *model[T], raw json.RawMessage, depth int) (compiled[T], *apiError) {
	var n map[string]json.RawMessage
	if err := json.Unmarshal(raw, &n); err != nil || n == nil {
		return compiled[T]{}, badRequest("parameter_invalid", "each query must be an object with field, operator and value, or operator and a value list")
	}
	var op string
	if rawOp, ok := n["operator"]; !ok || json.Unmarshal(rawOp, &op) != nil {
		return compiled[T]{}, badRequest("parameter_invalid", "query operator missing or not a string")
	}
	if _, isFilter := n["field"]; isFilter {
		return compileFilter(m, n, op)
	}
	if op != "AND" && op != "OR" {
		return compiled[T]{}, badRequest("invalid_operator", "Composite operators must be of type AND or OR")
	}
	if depth >= maxNesting {
		return compiled[T]{}, badRequest("parameter_invalid", "query nesting too deep: there is a limit of max %d nested filters", maxNesting)
	}
	var children []json.RawMessage
	if err := json.Unmarshal(n["value"], &children); err != nil {
		return compiled[T]{}, badRequest("parameter_invalid", "the value of an %s group must be a list of queries", op)
	}
	if len(children) > maxGroupFilters {
		return compiled[T]{}, badRequest("parameter_invalid", "too many filters: there is a limit of max %d filters for each AND or OR group, got %d", maxGroupFilters, len(children))
	}
	parts := make([]compiled[T], 0, len(children))
	for _, c := range children {
		p, err := compileNode(m, c, depth+1)
		if err != nil {
			return compiled[T]{}, err
		}
		parts = append(parts, p)
	}
	if op == "AND" {
		sp := everything
		var ids []string
		for _, p := range parts {
			sp = sp.and(p.span)
			if ids == nil && p.ids != nil {
				ids = p.ids // any one restriction bounds an AND
			}
		}
		return compiled[T]{span: sp, ids: ids, match: func(r *T) bool {
			for _, p := range parts {
				if !p.match(r) {
					return false
				}
			}
			return true
		}}, nil
	}
	sp := span{math.MaxInt64, math.MinInt64} // empty OR matches nothing
	ids := []string{}
	for _, p := range parts {
		sp = sp.or(p.span)
		if ids != nil && p.ids != nil {
			ids = append(ids, p.ids...)
		} else {
			ids = nil // one unrestricted branch leaves the OR unrestricted
		}
	}
	return compiled[T]{span: sp, ids: ids, match: func(r *T) bool {
		for _, p := range parts {
			if p.match(r) {
				return true
			}
		}
		return false
	}}, nil
}

func compileFilter[T any](m *model[T], n map[string]json.RawMessage, op string) (compiled[T], *apiError) {
	var name string
	if err := json.Unmarshal(n["field"], &name); err != nil || name == "" {
		return compiled[T]{}, badRequest("parameter_invalid", "query field must be a non-empty string")
	}
	f, aerr := m.lookup(name)
	if aerr != nil {
		return compiled[T]{}, aerr
	}
	raw := bytes.TrimSpace(n["value"])
	isNull := len(raw) == 0 || string(raw) == "null"
	switch op {
	case "=", "!=", "IN", "NIN", ">", "<", ">=", "<=", "~", "!~", "^", "$":
	default:
		return compiled[T]{}, badRequest("invalid_operator", "operator %q is not a search operator", op)
	}
	if isNull {
		if op != "=" && op != "!=" {
			return compiled[T]{}, badRequest("parameter_invalid", "value of %s cannot be null with operator %s", name, op)
		}
		return compiled[T]{span: everything, match: nullFilter(f, op == "=")}, nil
	}
	unsupported := func() (compiled[T], *apiError) {
		return compiled[T]{}, badRequest("invalid_operator", "operator %s is not supported for field %s (%s) in %s search", op, name, f.kind, m.name)
	}
	switch f.kind {
	case kindString:
		c, err := compileString(f, name, op, raw, unsupported)
		if err == nil && name == "id" {
			c.ids = idValues(op, raw)
		}
		return c, err
	case kindBool:
		return compileBool(f, name, op, raw, unsupported)
	case kindInt, kindDate:
		return compileNumber(m, f, name, op, raw, unsupported)
	}
	return unsupported()
}

func nullFilter[T any](f field[T], wantUnset bool) func(*T) bool {
	isSet := func(r *T) bool {
		switch {
		case f.strs != nil:
			return len(f.strs(r)) > 0
		case f.str != nil:
			s, ok := f.str(r)
			return ok && s != ""
		case f.num != nil:
			_, ok := f.num(r)
			return ok
		default:
			_, ok := f.boolean(r)
			return ok
		}
	}
	return func(r *T) bool { return isSet(r) != wantUnset }
}

// stringValue reads a JSON string; numbers are accepted as their text.
func stringValue(raw json.RawMessage) (string, bool) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, true
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String(), true
	}
	return "", false
}

func listValue(raw json.RawMessage) ([]json.RawMessage, bool) {
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) != nil {
		return nil, false
	}
	return list, true
}

func compileString[T any](f field[T], name, op string, raw json.RawMessage, unsupported func() (compiled[T], *apiError)) (compiled[T], *apiError) {
	var test func(string) bool // does one value match
	negate := false            // != NIN !~: no value matches
	switch op {
	case "IN", "NIN":
		list, ok := listValue(raw)
		if !ok {
			return compiled[T]{}, badRequest("parameter_invalid", "value of %s with operator %s must be a list", name, op)
		}
		set := make(map[string]bool, len(list))
		for _, v := range list {
			s, ok := stringValue(v)
			if !ok {
				return compiled[T]{}, badRequest("parameter_invalid", "values of %s must be strings", name)
			}
			set[s] = true
		}
		test = func(s string) bool { return set[s] }
		negate = op == "NIN"
	case "=", "!=", "~", "!~", "^", "$":
		v, ok := stringValue(raw)
		if !ok {
			return compiled[T]{}, badRequest("parameter_invalid", "value of %s must be a string", name)
		}
		lv := strings.ToLower(v)
		switch op {
		case "=", "!=":
			test = func(s string) bool { return s == v }
		case "~", "!~":
			test = func(s string) bool { return strings.Contains(strings.ToLower(s), lv) }
		case "^":
			test = func(s string) bool { return strings.HasPrefix(strings.ToLower(s), lv) }
		case "$":
			test = func(s string) bool { return strings.HasSuffix(strings.ToLower(s), lv) }
		}
		negate = op == "!=" || op == "!~"
	default:
		return unsupported()
	}
	var anyMatch func(*T) bool
	if f.strs != nil {
		anyMatch = func(r *T) bool {
			for _, s := range f.strs(r) {
				if test(s) {
					return true
				}
			}
			return false
		}
	} else {
		anyMatch = func(r *T) bool {
			s, ok := f.str(r)
			return ok && test(s)
		}
	}
	if negate {
		return compiled[T]{span: everything, match: func(r *T) bool { return !anyMatch(r) }}, nil
	}
	return compiled[T]{span: everything, match: anyMatch}, nil
}

func boolValue(raw json.RawMessage) (bool, bool) {
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return b, true
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if v, err := strconv.ParseBool(s); err == nil {
			return v, true
		}
	}
	return false, false
}

func compileBool[T any](f field[T], name, op string, raw json.RawMessage, unsupported func() (compiled[T], *apiError)) (compiled[T], *apiError) {
	var set [2]bool
	switch op {
	case "=", "!=":
		v, ok := boolValue(raw)
		if !ok {
			return compiled[T]{}, badRequest("parameter_invalid", "value of %s must be a boolean", name)
		}
		set[b2i(v)] = true
	case "IN", "NIN":
		list, ok := listValue(raw)
		if !ok {
			return compiled[T]{}, badRequest("parameter_invalid", "value of %s with operator %s must be a list", name, op)
		}
		for _, item := range list {
			v, ok := boolValue(item)
			if !ok {
				return compiled[T]{}, badRequest("parameter_invalid", "values of %s must be booleans", name)
			}
			set[b2i(v)] = true
		}
	default:
		return unsupported()
	}
	want := op == "=" || op == "IN"
	return compiled[T]{span: everything, match: func(r *T) bool {
		v, ok := f.boolean(r)
		return (ok && set[b2i(v)]) == want
	}}, nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// intValue reads an integer given as a JSON number or a numeric string (the
// description's own examples send timestamps as strings), as the search
// compares numbers.
func intValue(raw json.RawMessage) (int64, bool) { return intercom.SearchNumber(raw) }

func compileNumber[T any](m *model[T], f field[T], name, op string, raw json.RawMessage, unsupported func() (compiled[T], *apiError)) (compiled[T], *apiError) {
	date := f.kind == kindDate
	if date && m.byDay {
		return compileDay(m, f, name, op, raw, unsupported)
	}
	switch op {
	case "~", "!~", "^", "$":
		return unsupported()
	case ">=", "<=":
		if m.noGreqLe {
			return unsupported()
		}
	}
	if op == "IN" || op == "NIN" {
		list, ok := listValue(raw)
		if !ok {
			return compiled[T]{}, badRequest("parameter_invalid", "value of %s with operator %s must be a list", name, op)
		}
		set := make(map[int64]bool, len(list))
		for _, item := range list {
			v, ok := intValue(item)
			if !ok {
				return compiled[T]{}, badRequest("parameter_invalid", "values of %s must be integers", name)
			}
			set[v] = true
		}
		want := op == "IN"
		return compiled[T]{span: everything, match: func(r *T) bool {
			v, ok := f.num(r)
			return (ok && set[v]) == want
		}}, nil
	}
	v, ok := intValue(raw)
	if !ok {
		return compiled[T]{}, badRequest("parameter_invalid", "value of %s must be %s, got %s", name, strings.ToLower(f.kind.String()), truncateJSON(raw))
	}
	sp := everything
	var test func(int64) bool
	switch op {
	case "=":
		test = func(x int64) bool { return x == v }
		sp = span{v, v}
	case "!=":
		return compiled[T]{span: everything, match: func(r *T) bool {
			x, ok := f.num(r)
			return !ok || x != v
		}}, nil
	case ">":
		if m.noGreqLe { // conversations: "Greater (or equal) than"
			test = func(x int64) bool { return x >= v }
			sp = span{v, math.MaxInt64}
		} else {
			test = func(x int64) bool { return x > v }
			sp = span{v + 1, math.MaxInt64}
		}
	case "<":
		if m.noGreqLe { // conversations: "Lower (or equal) than"
			test = func(x int64) bool { return x <= v }
			sp = span{math.MinInt64, v}
		} else {
			test = func(x int64) bool { return x < v }
			sp = span{math.MinInt64, v - 1}
		}
	case ">=":
		test = func(x int64) bool { return x >= v }
		sp = span{v, math.MaxInt64}
	case "<=":
		test = func(x int64) bool { return x <= v }
		sp = span{math.MinInt64, v}
	}
	if !f.indexed {
		sp = everything
	}
	return compiled[T]{span: sp, match: func(r *T) bool {
		x, ok := f.num(r)
		return ok && test(x)
	}}, nil
}

// compileDay compiles a contact date filter: matched by whole calendar day
// in the workspace timezone, as the contacts search description says.
func compileDay[T any](m *model[T], f field[T], name, op string, raw json.RawMessage, unsupported func() (compiled[T], *apiError)) (compiled[T], *apiError) {
	if op != "=" && op != "<" && op != ">" {
		return unsupported()
	}
	v, ok := intValue(raw)
	if !ok {
		return compiled[T]{}, badRequest("parameter_invalid", "value of %s must be a date (UNIX timestamp), got %s", name, truncateJSON(raw))
	}
	lo, hi, _ := intercom.DayFilter(op, v, m.loc)
	sp := span{lo, hi}
	match := func(r *T) bool {
		x, ok := f.num(r)
		return ok && x >= sp.lo && x <= sp.hi
	}
	if !f.indexed {
		return compiled[T]{span: everything, match: match}, nil
	}
	return compiled[T]{span: sp, match: match}, nil
}

func truncateJSON(raw json.RawMessage) string {
	if len(raw) > 40 {
		return string(raw[:40]) + "..."
	}
	return string(raw)
}

// idValues are the ids an "id" filter can match, nil when it can match
// others (!=, NIN, prefixes).
func idValues(op string, raw json.RawMessage) []string {
	one := func(v json.RawMessage) (string, bool) {
		var s string
		if json.Unmarshal(v, &s) == nil {
			return s, true
		}
		var n json.Number
		if json.Unmarshal(v, &n) == nil {
			return n.String(), true
		}
		return "", false
	}
	switch op {
	case "=":
		if s, ok := one(raw); ok {
			return []string{s}
		}
	case "IN":
		var vs []json.RawMessage
		if json.Unmarshal(raw, &vs) != nil {
			return nil
		}
		ids := make([]string, 0, len(vs))
		for _, v := range vs {
			s, ok := one(v)
			if !ok {
				return nil
			}
			ids = append(ids, s)
		}
		return ids
	}
	return nil
}
