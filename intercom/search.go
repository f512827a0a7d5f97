package intercom

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
)

// How the search endpoints compare stored values (docs/intercom.md). The
// exporter's reader uses these to know which records a search returns
// (so that a record read because it changed is kept or dropped as a full
// read would), and the fake Intercom to answer searches: one
// implementation for both.

// SearchNumber reads a value as the search compares numbers: a JSON number
// or a numeric string, decimals rounded down. null, other strings and
// other types are no number (they match no number filter).
func SearchNumber(raw json.RawMessage) (int64, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return 0, false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		var n json.Number
		if json.Unmarshal(raw, &n) != nil {
			return 0, false
		}
		s = n.String()
	}
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, true
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) && math.Abs(f) < 9e18 {
		return int64(math.Floor(f)), true
	}
	return 0, false
}

// SearchDate reads a date attribute's stored value as the contact search
// compares it: a number (or numeric string) is UNIX seconds as stored,
// however wrong; an ISO date is the start of that day in the workspace
// timezone loc; an RFC 3339 date-time is its instant. Anything else
// matches no date filter.
func SearchDate(raw json.RawMessage, loc *time.Location) (int64, bool) {
	if v, ok := SearchNumber(raw); ok {
		return v, true
	}
	var s string
	if json.Unmarshal(bytes.TrimSpace(raw), &s) != nil {
		return 0, false
	}
	s = strings.TrimSpace(s)
	if d, err := time.ParseInLocation(time.DateOnly, s, loc); err == nil {
		return d.Unix(), true
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.Unix(), true
	}
	return 0, false
}

// DayFilter is the range of instants (inclusive) that a contact search's
// date filter "op v" matches: dates are compared by whole calendar day in
// the workspace timezone loc, so "> v" starts at the next day, "< v" ends
// before v's day and "= v" is v's day (days of 23 or 25 hours included).
// ok is false for an operator the contact search does not take on dates.
func DayFilter(op string, v int64, loc *time.Location) (lo, hi int64, ok bool) {
	d := time.Unix(v, 0).In(loc)
	y, mo, day := d.Date()
	start := time.Date(y, mo, day, 0, 0, 0, 0, loc).Unix()
	next := time.Date(y, mo, day+1, 0, 0, 0, 0, loc).Unix()
	switch op {
	case "=":
		return start, next - 1, true
	case ">":
		return next, math.MaxInt64, true
	case "<":
		return math.MinInt64, start - 1, true
	}
	return 0, 0, false
}
