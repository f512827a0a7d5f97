package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// ScheduleParser parses SYNC_SCHEDULE: standard cron, five fields.
var ScheduleParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)

// scheduleHorizon is how far ahead CheckSchedule looks for DST gaps.
const scheduleHorizon = 2 * 365 * 24 * time.Hour

// CheckSchedule checks a SYNC_SCHEDULE (docs/sync.md): five cron fields
// (minute hour day-of-month month day-of-week) in loc, that fire at least
// once, and none of whose runs within two years of now falls into a DST gap
// of loc (a wall-clock time the zone skips, so the run would be lost).
// The gaps are the zone's own transitions: midnight in America/Havana,
// 01:00 in Europe/London, 02:00 in America/New_York. A repeated hour only
// runs a job twice, which is harmless, so it is allowed.
func CheckSchedule(spec string, loc *time.Location, now time.Time) error {
	fields := strings.Fields(spec)
	if len(fields) != 5 || strings.HasPrefix(spec, "@") || strings.Contains(spec, "TZ=") {
		return fmt.Errorf("%q is not a cron expression of 5 fields (minute hour day-of-month month day-of-week, like \"0 6 * * *\"); the timezone is TIMEZONE", spec)
	}
	sched, err := ScheduleParser.Parse(spec)
	if err != nil {
		return fmt.Errorf("%q: %v", spec, err)
	}
	s, ok := sched.(*cron.SpecSchedule)
	if !ok {
		return fmt.Errorf("%q is not a cron expression", spec)
	}
	if loc == nil {
		loc = time.UTC
	}
	// The parser's Next looks five years ahead and gives up: a date that
	// never exists (31 February) never fires.
	probe := *s
	probe.Location = loc
	if probe.Next(now.In(loc)).IsZero() {
		return fmt.Errorf("%q never fires (no such date in the next five years); choose days that exist", spec)
	}
	for _, g := range dstGaps(loc, now, now.Add(scheduleHorizon)) {
		if at, ok := firesInGap(s, g); ok {
			return fmt.Errorf("%q would be skipped on %s at %s: TIMEZONE %s moves its clocks from %s to %s that day; choose a time outside the change",
				spec, at.Format("2006-01-02"), at.Format("15:04"), loc, g.from.Format("15:04"), g.from.Add(g.length).Format("15:04"))
		}
	}
	return nil
}

// dstGap is a span of wall-clock time that loc skips: from (as a wall
// clock, written in UTC) for length.
type dstGap struct {
	from   time.Time
	length time.Duration
}

// dstGaps lists the gaps of loc whose transitions lie in [start, end): the
// instants where the offset from UTC grows.
func dstGaps(loc *time.Location, start, end time.Time) []dstGap {
	const step = 6 * time.Hour // zones change at most once within hours
	var gaps []dstGap
	offset := func(t time.Time) int { _, o := t.In(loc).Zone(); return o }
	t, o := start, offset(start)
	for t.Before(end) {
		next := t.Add(step)
		no := offset(next)
		if no != o {
			// Find the first second with the new offset.
			lo, hi := t, next
			for hi.Sub(lo) > time.Second {
				mid := lo.Add(hi.Sub(lo) / 2)
				if offset(mid) == o {
					lo = mid
				} else {
					hi = mid
				}
			}
			// Transitions fall on whole seconds; hi is within one after.
			hi = hi.Truncate(time.Second)
			if no > o {
				wall := hi.UTC().Add(time.Duration(o) * time.Second)
				gaps = append(gaps, dstGap{from: wall, length: time.Duration(no-o) * time.Second})
			}
		}
		t, o = next, no
	}
	return gaps
}

// firesInGap reports the first wall-clock minute of g at which s fires.
func firesInGap(s *cron.SpecSchedule, g dstGap) (time.Time, bool) {
	end := g.from.Add(g.length)
	for m := g.from.Truncate(time.Minute); m.Before(end); m = m.Add(time.Minute) {
		if m.Before(g.from) {
			continue
		}
		if matches(s, m) {
			return m, true
		}
	}
	return time.Time{}, false
}

// starBit marks a field given as * (robfig/cron's convention).
const starBit = 1 << 63

// matches reports whether s fires at the wall-clock minute t, with cron's
// day rule: when both day fields are restricted, either may match.
func matches(s *cron.SpecSchedule, t time.Time) bool {
	if 1<<uint(t.Minute())&s.Minute == 0 || 1<<uint(t.Hour())&s.Hour == 0 || 1<<uint(t.Month())&s.Month == 0 {
		return false
	}
	dom := 1<<uint(t.Day())&s.Dom > 0
	dow := 1<<uint(t.Weekday())&s.Dow > 0
	if s.Dom&starBit > 0 || s.Dow&starBit > 0 {
		return dom && dow
	}
	return dom || dow
}
