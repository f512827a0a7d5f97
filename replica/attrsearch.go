package replica

import (
	"slices"
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
	lo, _, _ := intercom.DayFilter(">", 0, loc)
	return lo
}
