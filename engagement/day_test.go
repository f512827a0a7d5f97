package engagement

import (
	"testing"
	"time"
)

func TestDayOf_InstantWhoseDayDiffersBetweenUTCAndTimezone(t *testing.T) {
	// Offsets in March 2026: Los Angeles is UTC-8 until 2026-03-08 02:00,
	// then UTC-7; Kolkata is UTC+5:30 all year.
	tests := []struct {
		name    string
		instant time.Time
		loc     *time.Location
		want    string
	}{
		{"05:00Z is the same day in UTC", time.Date(2026, 3, 15, 5, 0, 0, 0, utc), utc, "2026-03-15"},
		{"05:00Z is 22:00 the day before in Los Angeles", time.Date(2026, 3, 15, 5, 0, 0, 0, utc), la, "2026-03-14"},
		{"05:00Z is 10:30 the same day in Kolkata", time.Date(2026, 3, 15, 5, 0, 0, 0, utc), kolkata, "2026-03-15"},
		{"19:00Z is 00:30 the next day in Kolkata", time.Date(2026, 3, 14, 19, 0, 0, 0, utc), kolkata, "2026-03-15"},
		{"19:00Z is 12:00 the same day in Los Angeles", time.Date(2026, 3, 14, 19, 0, 0, 0, utc), la, "2026-03-14"},
		{"18:29:59Z is 23:59:59 in Kolkata", time.Date(2026, 3, 14, 18, 29, 59, 0, utc), kolkata, "2026-03-14"},
		{"18:30:00Z is midnight in Kolkata", time.Date(2026, 3, 14, 18, 30, 0, 0, utc), kolkata, "2026-03-15"},
		{"07:59:59Z is 23:59:59 PST in Los Angeles", time.Date(2026, 3, 1, 7, 59, 59, 0, utc), la, "2026-02-28"},
		{"08:00Z is midnight PST in Los Angeles", time.Date(2026, 3, 1, 8, 0, 0, 0, utc), la, "2026-03-01"},
		{"the location of the time value does not matter", time.Date(2026, 3, 15, 1, 0, 0, 0, kolkata), utc, "2026-03-14"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DayOf(tt.instant, tt.loc).String(); got != tt.want {
				t.Errorf("DayOf(%s, %s) = %s, want %s", tt.instant.UTC().Format(time.RFC3339), tt.loc, got, tt.want)
			}
			if got := DayOfUnix(tt.instant.Unix(), tt.loc).String(); got != tt.want {
				t.Errorf("DayOfUnix = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestDaysSince_CountsCalendarDaysInTheTimezone(t *testing.T) {
	// Every want is the difference of the two calendar dates read on a
	// wall calendar in loc; where DST makes the elapsed time divided by 24h
	// differ, the case says so.
	tests := []struct {
		name         string
		loc          *time.Location
		session, now time.Time
		want         int
	}{
		{"UTC: 00:05 today is 0", utc, at(utc, 2026, 3, 15, 0, 5), at(utc, 2026, 3, 15, 12, 0), 0},
		{"UTC: 23:55 today (later than now) is 0", utc, at(utc, 2026, 3, 15, 23, 55), at(utc, 2026, 3, 15, 12, 0), 0},
		{"UTC: 23:55 yesterday, 12h05m ago, is 1", utc, at(utc, 2026, 3, 14, 23, 55), at(utc, 2026, 3, 15, 12, 0), 1},
		{"UTC: 00:05 seven days ago is 7", utc, at(utc, 2026, 3, 8, 0, 5), at(utc, 2026, 3, 15, 23, 59), 7},
		{"UTC: 23:55 eight days ago, 7d12h05m elapsed, is 8", utc, at(utc, 2026, 3, 7, 23, 55), at(utc, 2026, 3, 15, 0, 0), 8},
		{"LA: 00:05 local is 0 at 23:55 local", la, at(la, 2026, 6, 15, 0, 5), at(la, 2026, 6, 15, 23, 55), 0},
		{"LA: 23:55 local is 1 at 00:05 next day", la, at(la, 2026, 6, 14, 23, 55), at(la, 2026, 6, 15, 0, 5), 1},
		// 2026-03-07T19:00Z is 2026-03-08 00:30 in Kolkata, 2026-03-07 in UTC
		// and LA; now 2026-03-15T12:00Z is 2026-03-15 in all three.
		{"UTC: instant on Mar 7 UTC is 8 days", utc, time.Date(2026, 3, 7, 19, 0, 0, 0, utc), time.Date(2026, 3, 15, 12, 0, 0, 0, utc), 8},
		{"Kolkata: same instant is Mar 8 there, 7 days", kolkata, time.Date(2026, 3, 7, 19, 0, 0, 0, utc), time.Date(2026, 3, 15, 12, 0, 0, 0, utc), 7},
		{"LA: same instant is Mar 7 11:00 PST, 8 days", la, time.Date(2026, 3, 7, 19, 0, 0, 0, utc), time.Date(2026, 3, 15, 12, 0, 0, 0, utc), 8},
		// 2026-03-15T05:00Z is Mar 14 22:00 PDT; now 12:00Z is Mar 15 05:00 PDT.
		{"LA: 05:00Z is yesterday there, 1 day", la, time.Date(2026, 3, 15, 5, 0, 0, 0, utc), time.Date(2026, 3, 15, 12, 0, 0, 0, utc), 1},
		{"UTC: 05:00Z is today, 0 days", utc, time.Date(2026, 3, 15, 5, 0, 0, 0, utc), time.Date(2026, 3, 15, 12, 0, 0, 0, utc), 0},
		// Los Angeles springs forward 2026-03-08 02:00 -> 03:00 (23h day).
		{"LA spring: Mar 7 23:30 PST to Mar 15 23:30 PDT is 8 (7d23h elapsed)", la, at(la, 2026, 3, 7, 23, 30), at(la, 2026, 3, 15, 23, 30), 8},
		{"LA spring: Mar 7 23:30 PST to Mar 9 00:15 PDT is 2 (47h45m elapsed)", la, at(la, 2026, 3, 7, 23, 30), at(la, 2026, 3, 9, 0, 15), 2},
		{"LA spring: 00:30 to 23:30 on the 23h day is 0", la, at(la, 2026, 3, 8, 0, 30), at(la, 2026, 3, 8, 23, 30), 0},
		// Los Angeles falls back 2026-11-01 02:00 -> 01:00 (25h day).
		{"LA fall: 00:30 to 23:45 on the 25h day is 0 (24h15m elapsed)", la, at(la, 2026, 11, 1, 0, 30), at(la, 2026, 11, 1, 23, 45), 0},
		{"LA fall: Nov 1 00:30 PDT to Nov 8 23:59 PST is 7 (8d0h29m elapsed)", la, at(la, 2026, 11, 1, 0, 30), at(la, 2026, 11, 8, 23, 59), 7},
		// London: BST starts 2026-03-29 01:00, ends 2026-10-25 02:00.
		{"London spring: Mar 28 23:30 GMT to Apr 5 23:15 BST is 8 (7d22h45m elapsed)", london, at(london, 2026, 3, 28, 23, 30), at(london, 2026, 4, 5, 23, 15), 8},
		{"London fall: Oct 25 00:10 BST to 23:50 GMT is 0 (24h40m elapsed)", london, at(london, 2026, 10, 25, 0, 10), at(london, 2026, 10, 25, 23, 50), 0},
		{"UTC: that London session is on Oct 24 UTC, 1 day", utc, at(london, 2026, 10, 25, 0, 10), at(london, 2026, 10, 25, 23, 50), 1},
		{"future: tomorrow counts as 0", utc, at(utc, 2026, 3, 16, 9, 0), at(utc, 2026, 3, 15, 12, 0), 0},
		{"future: next year counts as 0", la, at(la, 2027, 3, 16, 9, 0), at(la, 2026, 3, 15, 12, 0), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DaysSince(DayOf(tt.session, tt.loc), DayOf(tt.now, tt.loc)); got != tt.want {
				t.Errorf("DaysSince = %d, want %d", got, tt.want)
			}
			// The same through the model: a member's caseload row.
			m := build(input{Conversations: []tconv{call("1", tt.session, "c")}}, cfgIn(tt.loc), tt.now)
			row := caseloadRow(m, "c")
			if row == nil {
				t.Fatal("member c is not in the caseload")
			}
			if row.DaysSince != tt.want {
				t.Errorf("caseload days since = %d, want %d", row.DaysSince, tt.want)
			}
		})
	}
}

func TestDay_StartIsTheFirstInstantOfTheDayInTheTimezone(t *testing.T) {
	santiago := mustLoc("America/Santiago")
	tests := []struct {
		name string
		day  Day
		loc  *time.Location
		want time.Time
	}{
		{"UTC midnight", DateDay(2026, 3, 8), utc, time.Date(2026, 3, 8, 0, 0, 0, 0, utc)},
		{"LA spring day starts 00:00 PST = 08:00Z", DateDay(2026, 3, 8), la, time.Date(2026, 3, 8, 8, 0, 0, 0, utc)},
		{"LA day after spring starts 00:00 PDT = 07:00Z", DateDay(2026, 3, 9), la, time.Date(2026, 3, 9, 7, 0, 0, 0, utc)},
		{"Kolkata midnight is 18:30Z the day before", DateDay(2026, 3, 15), kolkata, time.Date(2026, 3, 14, 18, 30, 0, 0, utc)},
		// Santiago skips 2026-09-06 00:00 -04 -> 01:00 -03: the day begins at
		// 01:00 -03 = 04:00Z; 03:00Z is still 23:00 -04 on Sept 5.
		{"Santiago: DST skips midnight, day starts 01:00 -03", DateDay(2026, 9, 6), santiago, time.Date(2026, 9, 6, 4, 0, 0, 0, utc)},
		// Havana skips 2026-03-08 00:00 CST -> 01:00 CDT = 05:00Z.
		{"Havana: DST skips midnight, day starts 01:00 CDT", DateDay(2026, 3, 8), mustLoc("America/Havana"), time.Date(2026, 3, 8, 5, 0, 0, 0, utc)},
		// Amman repeats midnight on 2021-10-29: 01:00 +03 -> 00:00 +02.
		// The day begins at the first 00:00, +03 = 21:00Z on the 28th.
		{"Amman: DST repeats midnight, day starts at the first one", DateDay(2021, 10, 29), mustLoc("Asia/Amman"), time.Date(2021, 10, 28, 21, 0, 0, 0, utc)},
		// Havana repeats midnight every November: 01:00 CDT -> 00:00 CST on
		// 2026-11-01; the first 00:00 CDT is 04:00Z.
		{"Havana: DST repeats midnight, day starts at the first one", DateDay(2026, 11, 1), mustLoc("America/Havana"), time.Date(2026, 11, 1, 4, 0, 0, 0, utc)},
		{"Amman: the day after the repeat starts 00:00 +02", DateDay(2021, 10, 30), mustLoc("Asia/Amman"), time.Date(2021, 10, 29, 22, 0, 0, 0, utc)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.day.Start(tt.loc)
			if !got.Equal(tt.want) {
				t.Errorf("Start = %s, want %s", got.UTC(), tt.want.UTC())
			}
			if d := DayOf(got, tt.loc); d != tt.day {
				t.Errorf("Start is on %s, want %s", d, tt.day)
			}
			if d := DayOf(got.Add(-time.Second), tt.loc); d != tt.day-1 {
				t.Errorf("one second before Start is on %s, want %s", d, tt.day-1)
			}
		})
	}
}

func TestDayOfUnix_FirstHourOfARepeatedMidnightBelongsToThatDay(t *testing.T) {
	amman := mustLoc("Asia/Amman")
	// 21:30Z on 2021-10-28 is 00:30 +03 on the 29th, in the first of its
	// two midnight hours: a session then is on the 29th, not the 28th.
	at := time.Date(2021, 10, 28, 21, 30, 0, 0, utc).Unix()
	if got, want := DayOfUnix(at, amman), DateDay(2021, 10, 29); got != want {
		t.Errorf("DayOfUnix = %s, want %s", got, want)
	}
	table := newDayTable(amman, DateDay(2021, 10, 1), DateDay(2021, 11, 30))
	if got, want := table.day(at), DateDay(2021, 10, 29); got != want {
		t.Errorf("dayTable.day = %s, want %s", got, want)
	}
	if got, want := table.day(at-1800-1), DateDay(2021, 10, 28); got != want {
		t.Errorf("dayTable.day one second before the first midnight = %s, want %s", got, want)
	}
}

func TestParseDay_RejectsAnythingButAValidYYYYMMDD(t *testing.T) {
	for _, s := range []string{
		"", "2026-3-01", "2026-03-1", "2026/03/01", "20260301", "26-03-01",
		"2026-02-29", // 2026 is not a leap year
		"2026-04-31", "2026-13-01", "2026-00-10", "2026-01-00",
		" 2026-03-01", "2026-03-01 ", "2026-03-01T00:00:00Z", "yesterday",
	} {
		if d, err := ParseDay(s); err == nil {
			t.Errorf("ParseDay(%q) = %s, want an error", s, d)
		}
	}
	for s, want := range map[string]Day{
		"1970-01-01": 0,
		"1970-01-02": 1,
		"1969-12-31": -1,
		"2024-02-29": DateDay(2024, 2, 29),
		"2026-03-08": DateDay(2026, 3, 8),
	} {
		d, err := ParseDay(s)
		if err != nil || d != want {
			t.Errorf("ParseDay(%q) = %d, %v; want %d", s, d, err, want)
		}
		if d.String() != s {
			t.Errorf("ParseDay(%q).String() = %q", s, d.String())
		}
	}
}

func TestParseMonth_RejectsAnythingButAValidYYYYMM(t *testing.T) {
	for _, s := range []string{
		"", "2026-3", "2026-13", "2026-00", "2026/03", "202603", "26-03",
		"2026-03-01", " 2026-03", "2026-03 ", "March", "2026-1a",
	} {
		if m, err := ParseMonth(s); err == nil {
			t.Errorf("ParseMonth(%q) = %s, want an error", s, m)
		}
	}
	m, err := ParseMonth("2026-02")
	if err != nil || m != (Month{2026, time.February}) || m.String() != "2026-02" {
		t.Errorf("ParseMonth(2026-02) = %v, %v", m, err)
	}
}

func TestMonth_FirstLastPrevNext(t *testing.T) {
	tests := []struct {
		month       Month
		first, last string
		prev, next  string
	}{
		{Month{2024, time.February}, "2024-02-01", "2024-02-29", "2024-01", "2024-03"}, // leap year
		{Month{2026, time.February}, "2026-02-01", "2026-02-28", "2026-01", "2026-03"},
		{Month{2000, time.February}, "2000-02-01", "2000-02-29", "2000-01", "2000-03"}, // divisible by 400
		{Month{2100, time.February}, "2100-02-01", "2100-02-28", "2100-01", "2100-03"}, // divisible by 100, not 400
		{Month{2026, time.January}, "2026-01-01", "2026-01-31", "2025-12", "2026-02"},  // Prev across year end
		{Month{2025, time.December}, "2025-12-01", "2025-12-31", "2025-11", "2026-01"}, // Next across year end
		{Month{2026, time.April}, "2026-04-01", "2026-04-30", "2026-03", "2026-05"},
	}
	for _, tt := range tests {
		t.Run(tt.month.String(), func(t *testing.T) {
			if got := tt.month.First().String(); got != tt.first {
				t.Errorf("First = %s, want %s", got, tt.first)
			}
			if got := tt.month.Last().String(); got != tt.last {
				t.Errorf("Last = %s, want %s", got, tt.last)
			}
			if got := tt.month.Prev().String(); got != tt.prev {
				t.Errorf("Prev = %s, want %s", got, tt.prev)
			}
			if got := tt.month.Next().String(); got != tt.next {
				t.Errorf("Next = %s, want %s", got, tt.next)
			}
			if !tt.month.Prev().Before(tt.month) || tt.month.Before(tt.month) || tt.month.Next().Before(tt.month) {
				t.Error("Before is not a strict order on Prev < month < Next")
			}
			if MonthOf(tt.month.Last()) != tt.month || MonthOf(tt.month.First()) != tt.month {
				t.Error("MonthOf(First/Last) is not the month")
			}
		})
	}
}

func TestDateDay_NormalisesLikeTimeDate(t *testing.T) {
	if DateDay(2026, 3, 0) != DateDay(2026, 2, 28) {
		t.Error("2026-03-00 is not 2026-02-28")
	}
	if DateDay(2025, 13, 1) != DateDay(2026, 1, 1) {
		t.Error("2025-13-01 is not 2026-01-01")
	}
	y, m, d := DateDay(2024, 2, 29).Date()
	if y != 2024 || m != time.February || d != 29 {
		t.Errorf("Date() = %d-%d-%d", y, m, d)
	}
}
