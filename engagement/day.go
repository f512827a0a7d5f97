package engagement

import (
	"fmt"
	"time"
)

// Day is a calendar day in the organisation timezone, counted as days since
// 1970-01-01. Every day-based rule works on Days so that "days since" is a
// subtraction, never a duration divided by 24h (which breaks on DST days).
type Day int32

// DayOf is the calendar day of t in loc.
func DayOf(t time.Time, loc *time.Location) Day {
	y, m, d := t.In(loc).Date()
	return DateDay(y, m, d)
}

// DayOfUnix is the calendar day of a UNIX time in loc.
func DayOfUnix(sec int64, loc *time.Location) Day {
	return DayOf(time.Unix(sec, 0), loc)
}

// DateDay is the Day of a calendar date (normalised like time.Date).
func DateDay(y int, m time.Month, d int) Day {
	// time.Date in UTC has no DST, so the division is exact.
	return Day(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

// Date is the calendar date of the day.
func (d Day) Date() (int, time.Month, int) {
	return time.Unix(int64(d)*86400, 0).UTC().Date()
}

// Start is 00:00 of the day in loc (or the first instant of the day when a
// DST change skips midnight).
func (d Day) Start(loc *time.Location) time.Time {
	y, m, dd := d.Date()
	t := time.Date(y, m, dd, 0, 0, 0, 0, loc)
	// Where a DST change skips midnight (America/Santiago, America/Havana),
	// time.Date may answer an instant of the day before (23:00 of the old
	// offset); the day then begins when the new offset starts.
	if DayOf(t, loc) < d {
		_, end := t.ZoneBounds()
		t = end
	}
	return firstMidnight(t, loc)
}

// firstMidnight returns the earlier of two midnights when a clock change
// just before t repeated the hour that holds t (Asia/Amman 2021-10-29:
// 00:00 +03 and, an hour later, 00:00 +02): the day starts at the first
// one (docs/reports.md, "Day starts"). time.Date may answer either.
func firstMidnight(t time.Time, loc *time.Location) time.Time {
	start, _ := t.ZoneBounds()
	if start.IsZero() || t.Sub(start) >= 24*time.Hour {
		return t
	}
	_, offNow := t.Zone()
	_, offBefore := start.Add(-time.Second).Zone()
	if offBefore <= offNow {
		return t // clocks went forward (or only the name changed): no repeat
	}
	earlier := t.Add(-time.Duration(offBefore-offNow) * time.Second)
	if !earlier.Before(start) {
		return t
	}
	e := earlier.In(loc)
	if e.Hour() == 0 && e.Minute() == 0 && e.Second() == 0 && DayOf(e, loc) == DayOf(t, loc) {
		return earlier
	}
	return t
}

// String spells the day YYYY-MM-DD.
func (d Day) String() string {
	y, m, dd := d.Date()
	return fmt.Sprintf("%04d-%02d-%02d", y, int(m), dd)
}

// ParseDay reads YYYY-MM-DD.
func ParseDay(s string) (Day, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a date in the form YYYY-MM-DD", s)
	}
	return DateDay(t.Date()), nil
}

// DaysSince is the number of calendar days from d to today; a day in the
// future counts as 0 (docs/reports.md).
func DaysSince(d, today Day) int {
	if d >= today {
		return 0
	}
	return int(today - d)
}

// Month is a calendar month.
type Month struct {
	Year  int
	Month time.Month
}

// MonthOf is the month a day falls in.
func MonthOf(d Day) Month {
	y, m, _ := d.Date()
	return Month{y, m}
}

// ParseMonth reads YYYY-MM.
func ParseMonth(s string) (Month, error) {
	t, err := time.Parse("2006-01", s)
	if err != nil || len(s) != 7 {
		return Month{}, fmt.Errorf("month %q is not in the form YYYY-MM", s)
	}
	return Month{t.Year(), t.Month()}, nil
}

// First is the first day of the month.
func (m Month) First() Day { return DateDay(m.Year, m.Month, 1) }

// Last is the last day of the month.
func (m Month) Last() Day { return DateDay(m.Year, m.Month+1, 1) - 1 }

// Prev is the month before.
func (m Month) Prev() Month { return MonthOf(m.First() - 1) }

// Next is the month after.
func (m Month) Next() Month { return MonthOf(m.Last() + 1) }

// Before reports whether m is earlier than o.
func (m Month) Before(o Month) bool {
	return m.Year < o.Year || (m.Year == o.Year && m.Month < o.Month)
}

// String spells the month YYYY-MM.
func (m Month) String() string { return fmt.Sprintf("%04d-%02d", m.Year, int(m.Month)) }

// DateAttributeStamp reads an instant held by a contact attribute of
// Intercom type date as the calendar date it stands for (docs/reports.md,
// "A registration attribute of Intercom type date"): the UTC date when the
// instant is exactly 00:00:00 UTC (how Intercom keeps a date set in its
// interface or imported), else its date in loc (a value kept at the
// workspace's own midnight). The stamp's instant is then the start of that
// day in loc, as for an ISO date.
func DateAttributeStamp(unix int64, loc *time.Location) Stamp {
	if unix%86400 != 0 {
		return Stamp{Unix: unix, Day: DayOfUnix(unix, loc)}
	}
	d := Day(unix / 86400)
	return Stamp{Unix: d.Start(loc).Unix(), Day: d}
}
