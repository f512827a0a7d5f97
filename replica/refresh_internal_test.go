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
