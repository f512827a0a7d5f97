package replica

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coaching/intercom_exporter/intercom"
)

// maxFiltersPerGroup is the API's limit of filters in one AND or OR group.
const maxFiltersPerGroup = 15

// searchAttrs lists the contact attributes a contact is read for (the
// registration attributes and the last call attribute) with the type the
// search needs, leaving out those the workspace does not have (when its
// attributes could be read).
func (rep *Replica) searchAttrs(types map[string]string, known bool) []searchAttr {
	var out []searchAttr
	for _, name := range rep.set.TimeAttributes() {
		dataType, ok := types[name]
		if known && !ok {
			rep.warnOnce("missing-attr-"+name, "contact attribute does not exist in Intercom: no contact is read for it", "attribute", name)
			continue
		}
		out = append(out, searchAttr{name: name, dataType: dataType})
	}
	return out
}

// attributeQueries are the contact searches for the contacts that have a
// value for one of attrs: one OR group (or more, 15 filters a group). The
// operator depends on the attribute's type (dates take neither != nor IN):
// dates are matched by whole day in the workspace timezone, so "> 0" is
// every day after 1970-01-01's.
func attributeQueries(attrs []searchAttr) []intercom.Query {
	var filters []intercom.Query
	for _, a := range attrs {
		field := "custom_attributes." + a.name
		switch a.dataType {
		case "date", "integer", "float":
			filters = append(filters, intercom.Filter(field, ">", 0))
		default:
			filters = append(filters, intercom.Filter(field, "!=", nil))
		}
	}
	var out []intercom.Query
	for chunk := range slices.Chunk(filters, maxFiltersPerGroup) {
		if len(chunk) == 1 {
			out = append(out, chunk[0])
		} else {
			out = append(out, intercom.Or(chunk...))
		}
	}
	return out
}

// dateFloor is the first instant a contact search's "date > 0" matches:
// the start of the day after 1970-01-01's day in the workspace timezone.
func dateFloor(loc *time.Location) int64 {
	y, m, d := time.Unix(0, 0).In(loc).Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, loc).Unix()
}

// searchNumber reads a value as the contact search compares numbers: a
// JSON number or a numeric string (decimals rounded down).
func searchNumber(raw json.RawMessage) (int64, bool) {
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

// searchDate reads a date attribute's stored value as the contact search
// compares it: a number (or numeric string) is UNIX seconds as stored, an
// ISO date the start of that day in the workspace timezone, an RFC 3339
// date-time its instant; anything else matches no date filter.
func searchDate(raw json.RawMessage, loc *time.Location) (int64, bool) {
	if v, ok := searchNumber(raw); ok {
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
