package replica

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/coaching/intercom_exporter/engagement"
	"github.com/coaching/intercom_exporter/intercom"
)

func TestStampOf_DateOnlyIsThatDayAndInstantsFallOnTheirDayInTheTimezone(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no timezone database")
	}
	// A calendar day is that day, its instant the start of the day there
	// (2026-03-08 is the DST change in New York: it still starts at 00:00 EST).
	s := stampOf(intercom.TimeValue{DateOnly: true, Year: 2026, Month: 3, Day: 8}, ny)
	assert.Equal(t, engagement.DateDay(2026, 3, 8), s.Day)
	assert.Equal(t, time.Date(2026, 3, 8, 0, 0, 0, 0, ny).Unix(), s.Unix)

	// 2026-03-10 02:30 UTC is still 2026-03-09 in New York.
	at := time.Date(2026, 3, 10, 2, 30, 0, 0, time.UTC).Unix()
	s = stampOf(intercom.TimeValue{Unix: at}, ny)
	assert.Equal(t, at, s.Unix)
	assert.Equal(t, engagement.DateDay(2026, 3, 9), s.Day)
	assert.Equal(t, engagement.DateDay(2026, 3, 10), stampOf(intercom.TimeValue{Unix: at}, time.UTC).Day)
}

// The registration rule by attribute type (docs/reports.md): date-typed
// values given as instants are dates; integer and datetime values are
// instants; ISO dates are that day whatever the type.
func TestRegistrationStamp_FollowsTheAttributeType(t *testing.T) {
	la, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		t.Skip("no timezone database")
	}
	march1 := engagement.DateDay(2026, 3, 1)
	feb28 := engagement.DateDay(2026, 2, 28)
	mustParse := func(s string) intercom.TimeValue {
		v, err := intercom.ParseTimeString(s)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		return v
	}
	tests := []struct {
		name, typ, value string
		want             engagement.Day
	}{
		{"date, UTC midnight as UNIX seconds", "date", "1772323200", march1},
		{"date, UTC midnight as ISO date-time", "date", "2026-03-01T00:00:00Z", march1},
		{"date, local midnight as ISO date-time", "date", "2026-03-01T00:00:00-08:00", march1},
		{"date, ISO date", "date", "2026-03-01", march1},
		{"date, an afternoon instant on 28 February in LA", "date", "2026-03-01T01:00:00Z", feb28},
		{"integer, UTC midnight is an instant: 28 February in LA", "integer", "1772323200", feb28},
		{"datetime, UTC midnight ISO is an instant", "datetime", "2026-03-01T00:00:00Z", feb28},
		{"integer, ISO date", "integer", "2026-03-01", march1},
		{"unknown type (data attributes unreadable): an instant", "", "1772323200", feb28},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, registrationStamp(mustParse(tt.value), tt.typ, la).Day)
		})
	}
}
