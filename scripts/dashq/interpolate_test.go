package main

import (
	"testing"
	"time"
)

// Grafana's spelling of variables in a member table's URL, worked out from
// Grafana's formats: queryparam is var-<name>=<value>, All is $__all.
func TestInterpolateURL(t *testing.T) {
	vars := map[string]resolved{
		"coach": {all: ".*", one: "Alice Coach", hasAll: true},
		"band":  {all: ".*", one: "57d+", hasAll: true},
		"month": {all: "2026-10", one: "2026-10", alt: "2026-11"},
	}
	now := time.Date(2026, 11, 10, 23, 30, 0, 0, time.UTC)
	for _, tc := range []struct{ raw, one, want string }{
		{"/c.csv?format=json&${coach:queryparam}&${band:queryparam}", "", "/c.csv?format=json&var-coach=%24__all&var-band=%24__all"},
		{"/c.csv?format=json&${coach:queryparam}&${band:queryparam}", "band", "/c.csv?format=json&var-coach=%24__all&var-band=57d%2B"},
		{"/c.csv?${coach:queryparam}", "coach", "/c.csv?var-coach=Alice+Coach"},
		{"/b.csv?month=${month}", "", "/b.csv?month=2026-10"},
		{"/b.csv?month=$month", "month", "/b.csv?month=2026-11"},
		{"/s.csv?from=${__from:date:YYYY-MM-DD}&to=${__to:date:YYYY-MM-DD}", "", "/s.csv?from=2026-10-11&to=2026-11-10"},
	} {
		got, err := interpolateURL(tc.raw, vars, tc.one, now, 30)
		if err != nil || got != tc.want {
			t.Errorf("interpolateURL(%q, one=%q) = %q, %v; want %q", tc.raw, tc.one, got, err, tc.want)
		}
	}
	for _, raw := range []string{"/c.csv?${nope:queryparam}", "/c.csv?${coach:csv}", "/s.csv?from=${__from}"} {
		if _, err := interpolateURL(raw, vars, "", now, 30); err == nil {
			t.Errorf("%q: no error", raw)
		}
	}
}
