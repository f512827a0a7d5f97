package config

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func zone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	require.NoError(t, err)
	return loc
}

func TestCheckSchedule_Form(t *testing.T) {
	now := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		spec string
		ok   bool
	}{
		{"0 6 * * *", true},
		{"59 0 * * 1-5", true},
		{"0 6,14 * * *", true},
		{"@daily", false},
		{"0 6 * *", false},
		{"0 0 6 * * *", false}, // six fields (seconds) are not cron here
		{"CRON_TZ=UTC 0 6 * * *", false},
		{"61 6 * * *", false},
	} {
		err := CheckSchedule(tc.spec, time.UTC, now)
		assert.Equal(t, tc.ok, err == nil, "%q: %v", tc.spec, err)
	}
}

func TestCheckSchedule_NeverFires(t *testing.T) {
	now := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		spec string
		ok   bool
	}{
		{"0 6 31 2 *", false}, // 31 February
		{"0 6 30 2 *", false}, // 30 February
		{"0 6 31 4 *", false}, // 31 April
		{"0 6 29 2 *", true},  // leap years: 2028
		{"0 6 31 * *", true},  // the months that have one
		{"0 6 31 2 1", true},  // day-of-week too: either matches, so Mondays in February
	} {
		err := CheckSchedule(tc.spec, time.UTC, now)
		assert.Equal(t, tc.ok, err == nil, "%q: %v", tc.spec, err)
		if !tc.ok && err != nil {
			assert.Contains(t, err.Error(), "never fires", tc.spec)
		}
	}
}

func TestCheckSchedule_DSTGapsOfTheZone(t *testing.T) {
	// Fixed now; the next two years hold these spring-forward gaps (from
	// the zones' rules): New York 2027-03-14 and 2028-03-12, 02:00-03:00;
	// London 2027-03-28 and 2028-03-26, 01:00-02:00; Havana 2027-03-14 and
	// Beirut 2027-03-28, 00:00-01:00; Lord Howe 2027-10-03, 02:00-02:30.
	now := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		zone, spec string
		skipped    string // "" when fine, else the day and time the error names
	}{
		{"America/New_York", "30 2 * * *", "2027-03-14 at 02:30"},
		{"America/New_York", "0 2 * * *", "2027-03-14 at 02:00"},
		{"America/New_York", "59 1 * * *", ""},   // 01:59 exists
		{"America/New_York", "0 3 * * *", ""},    // 03:00 exists
		{"America/New_York", "30 1 * * *", ""},   // repeated in November: runs twice, allowed
		{"America/New_York", "30 2 * * 1-5", ""}, // the change is on a Sunday
		{"America/New_York", "30 2 1 * *", ""},   // and never on the 1st
		{"America/New_York", "30 2 * * 0", "2027-03-14 at 02:30"},
		{"America/New_York", "30 2 12 3 *", "2028-03-12 at 02:30"}, // only the second year's gap
		{"Europe/London", "30 1 * * *", "2027-03-28 at 01:30"},
		{"Europe/London", "0 1 * * *", "2027-03-28 at 01:00"},
		{"Europe/London", "30 2 * * *", ""}, // the hour guard refused this; London skips 01:00-02:00 only
		{"Europe/London", "0 0 * * *", ""},
		{"America/Havana", "0 0 * * *", "2027-03-14 at 00:00"},
		{"America/Havana", "30 0 * * *", "2027-03-14 at 00:30"},
		{"America/Havana", "0 1 * * *", ""},
		{"America/Havana", "0 6 * * *", ""},
		{"Asia/Beirut", "0 0 * * *", "2027-03-28 at 00:00"},
		{"Asia/Beirut", "59 23 * * *", ""},
		{"Asia/Beirut", "0 1 * * *", ""},
		{"Australia/Lord_Howe", "15 2 * * *", "2027-10-03 at 02:15"}, // a half-hour gap
		{"Australia/Lord_Howe", "30 2 * * *", ""},
		{"UTC", "30 2 * * *", ""},
		{"Asia/Kolkata", "0 0-23 * * *", ""}, // no DST at all
	} {
		err := CheckSchedule(tc.spec, zone(t, tc.zone), now)
		if tc.skipped == "" {
			assert.NoError(t, err, "%s %q", tc.zone, tc.spec)
			continue
		}
		if assert.Error(t, err, "%s %q", tc.zone, tc.spec) {
			assert.Contains(t, err.Error(), "would be skipped on "+tc.skipped, "%s %q", tc.zone, tc.spec)
			assert.Contains(t, err.Error(), tc.zone)
		}
	}
}

func TestCheckSchedule_TwoYearHorizon(t *testing.T) {
	// "30 2 14 3 *" only runs on 14 March. New York skips 02:00-03:00 on
	// 2026-03-08 (not the 14th) and on 2027-03-14. From 2025-03-10 two
	// years end on 2027-03-10, before the gap; from 2025-03-20 they end
	// on 2027-03-20, after it.
	ny := zone(t, "America/New_York")
	assert.NoError(t, CheckSchedule("30 2 14 3 *", ny, time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)))
	err := CheckSchedule("30 2 14 3 *", ny, time.Date(2025, 3, 20, 12, 0, 0, 0, time.UTC))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "2027-03-14 at 02:30")
	assert.Contains(t, err.Error(), "from 02:00 to 03:00")
}

func TestLoad_ScheduleProblemsNameSYNC_SCHEDULE(t *testing.T) {
	for _, env := range []map[string]string{
		{"SYNC_SCHEDULE": "0 6 31 2 *"},
		{"SYNC_SCHEDULE": "30 2 * * *", "TIMEZONE": "America/New_York"},
		{"SYNC_SCHEDULE": "0 0 * * *", "TIMEZONE": "America/Havana"},
	} {
		env["INTERCOM_ACCESS_TOKEN"] = token
		_, err := load(t, env)
		if assert.Error(t, err, "%v", env) {
			assert.True(t, strings.Contains(err.Error(), "SYNC_SCHEDULE: "), err.Error())
		}
	}
}
