package intercom_test

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/coaching/intercom_exporter/intercom"
)

func TestSearchNumber_NumbersAndNumericStringsDecimalsRoundedDown(t *testing.T) {
	for _, tt := range []struct {
		raw  string
		want int64
		ok   bool
	}{
		{`1767225600`, 1767225600, true},
		{`"1767225600"`, 1767225600, true},
		{`" 42 "`, 42, true},
		{`2.9`, 2, true},
		{`-2.1`, -3, true},
		{`"7.5"`, 7, true},
		{`null`, 0, false},
		{``, 0, false},
		{`"soon"`, 0, false},
		{`true`, 0, false},
		{`1e30`, 0, false},
	} {
		got, ok := intercom.SearchNumber(json.RawMessage(tt.raw))
		if got != tt.want || ok != tt.ok {
			t.Errorf("SearchNumber(%s) = %d, %v; want %d, %v", tt.raw, got, ok, tt.want, tt.ok)
		}
	}
}

func TestSearchDate_ISODateIsTheStartOfThatDayInTheWorkspaceTimezone(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no timezone database")
	}
	for _, tt := range []struct {
		raw  string
		want int64
		ok   bool
	}{
		// 2026-03-08 00:00 EST = 05:00 UTC (the DST change is at 02:00).
		{`"2026-03-08"`, time.Date(2026, 3, 8, 5, 0, 0, 0, time.UTC).Unix(), true},
		{`"2026-03-08T12:00:00Z"`, time.Date(2026, 3, 8, 12, 0, 0, 0, time.UTC).Unix(), true},
		{`1000`, 1000, true}, // a number is seconds as stored
		{`"8 March"`, 0, false},
		{`null`, 0, false},
	} {
		got, ok := intercom.SearchDate(json.RawMessage(tt.raw), ny)
		if got != tt.want || ok != tt.ok {
			t.Errorf("SearchDate(%s) = %d, %v; want %d, %v", tt.raw, got, ok, tt.want, tt.ok)
		}
	}
}

func TestDayFilter_ComparesByWholeDayInTheWorkspaceTimezone(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no timezone database")
	}
	// 2026-03-08 15:00 EDT; that day in New York runs from 05:00 UTC to
	// 04:00 UTC the next day (23 hours: the clocks go forward).
	v := time.Date(2026, 3, 8, 19, 0, 0, 0, time.UTC).Unix()
	start := time.Date(2026, 3, 8, 5, 0, 0, 0, time.UTC).Unix()
	next := time.Date(2026, 3, 9, 4, 0, 0, 0, time.UTC).Unix()
	for _, tt := range []struct {
		op     string
		lo, hi int64
		ok     bool
	}{
		{"=", start, next - 1, true},
		{">", next, math.MaxInt64, true},
		{"<", math.MinInt64, start - 1, true},
		{">=", 0, 0, false},
		{"!=", 0, 0, false},
	} {
		lo, hi, ok := intercom.DayFilter(tt.op, v, ny)
		if lo != tt.lo || hi != tt.hi || ok != tt.ok {
			t.Errorf("DayFilter(%q) = [%d, %d] %v; want [%d, %d] %v", tt.op, lo, hi, ok, tt.lo, tt.hi, tt.ok)
		}
	}
	// "> 0" in UTC starts on 1970-01-02.
	if lo, _, _ := intercom.DayFilter(">", 0, time.UTC); lo != 86400 {
		t.Errorf(`"> 0" in UTC starts at %d, want 86400`, lo)
	}
}
