package engagement

import (
	"testing"
	"time"
)

// Registration values of a date-typed attribute, at month edges, in zones
// west and east of UTC and one with DST. Expected days worked out by hand:
// a value at exactly 00:00:00 UTC is that UTC date; any other instant is
// its date in the zone.
func TestDateAttributeStamp_UTCMidnightIsTheUTCDateElseTheDateInTheTimezone(t *testing.T) {
	la, honolulu := mustLoc("America/Los_Angeles"), mustLoc("Pacific/Honolulu")
	tokyo, kiritimati := mustLoc("Asia/Tokyo"), mustLoc("Pacific/Kiritimati")
	ny := mustLoc("America/New_York")
	u := func(y int, m time.Month, d, h int) int64 { return time.Date(y, m, d, h, 0, 0, 0, utc).Unix() }
	tests := []struct {
		name string
		unix int64
		loc  *time.Location
		want Day
	}{
		// 1772323200 = 2026-03-01 00:00 UTC: read as an instant it is
		// 2026-02-28 16:00 in Los Angeles; as a date it is 1 March.
		{"LA, UTC midnight 1 March", 1772323200, la, DateDay(2026, 3, 1)},
		{"LA, UTC midnight 1 February", u(2026, 2, 1, 0), la, DateDay(2026, 2, 1)},
		{"LA, local midnight 1 March (08:00Z)", u(2026, 3, 1, 8), la, DateDay(2026, 3, 1)},
		{"LA, 07:59Z on 1 March is still 28 February there", u(2026, 3, 1, 7), la, DateDay(2026, 2, 28)},
		{"Honolulu, UTC midnight 1 March", u(2026, 3, 1, 0), honolulu, DateDay(2026, 3, 1)},
		{"Honolulu, local midnight 1 March (10:00Z)", u(2026, 3, 1, 10), honolulu, DateDay(2026, 3, 1)},
		{"Tokyo, UTC midnight 1 March", u(2026, 3, 1, 0), tokyo, DateDay(2026, 3, 1)},
		// 2026-03-01 00:00 +09 = 2026-02-28 15:00Z: not UTC midnight, so
		// its date in Tokyo, 1 March.
		{"Tokyo, local midnight 1 March (15:00Z the day before)", u(2026, 2, 28, 15), tokyo, DateDay(2026, 3, 1)},
		{"Kiritimati, UTC midnight 1 March", u(2026, 3, 1, 0), kiritimati, DateDay(2026, 3, 1)},
		// 2026-03-01 00:00 +14 = 2026-02-28 10:00Z.
		{"Kiritimati, local midnight 1 March (10:00Z the day before)", u(2026, 2, 28, 10), kiritimati, DateDay(2026, 3, 1)},
		{"Kiritimati, UTC midnight 31 December 2025", u(2025, 12, 31, 0), kiritimati, DateDay(2025, 12, 31)},
		// New York: 1 November 2026 is the day DST ends (EDT, -04, until 02:00).
		{"New York, UTC midnight 1 November (DST ends that day)", u(2026, 11, 1, 0), ny, DateDay(2026, 11, 1)},
		{"New York, local midnight 1 November EDT (04:00Z)", u(2026, 11, 1, 4), ny, DateDay(2026, 11, 1)},
		{"New York, UTC midnight 1 April (EDT)", u(2026, 4, 1, 0), ny, DateDay(2026, 4, 1)},
		{"New York, UTC midnight 1 February (EST)", u(2026, 2, 1, 0), ny, DateDay(2026, 2, 1)},
		{"UTC, UTC midnight 1 March", u(2026, 3, 1, 0), utc, DateDay(2026, 3, 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := DateAttributeStamp(tt.unix, tt.loc)
			if s.Day != tt.want {
				t.Errorf("Day = %s, want %s", s.Day, tt.want)
			}
			if d := DayOf(time.Unix(s.Unix, 0), tt.loc); d != tt.want {
				t.Errorf("the stamp's instant falls on %s in the timezone, want %s", d, tt.want)
			}
		})
	}
}
