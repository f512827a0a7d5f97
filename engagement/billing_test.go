package engagement

import (
	"errors"
	"testing"
	"time"
)

// Billing month M = 2026-02 seen on 2026-03-10: first(M) = Feb 1,
// last(M) = Feb 28, engaged window from first(M) - 56 days: Feb 1 - 31 =
// Jan 1, Jan 1 - 25 = Dec 7 2025. So Dec 7 is the first day in, Dec 6 out.
var feb2026 = Month{2026, time.February}

func TestBilling_MonthEdges(t *testing.T) {
	for _, loc := range []*time.Location{utc, la, kolkata} {
		now := at(loc, 2026, 3, 10, 12, 0)
		reg := func(y int, mo time.Month, d int) *Stamp { return dateStamp(loc, y, mo, d) }
		longAgo := reg(2025, 6, 1)
		tests := []struct {
			name                  string
			registration          *Stamp
			storedLastCall        *Stamp
			convs                 []tconv
			wantReason            string // "" when not in the cohort
			wantLast, wantQualify string // conversation ids
		}{
			{"registered on first day of M is new", reg(2026, 2, 1), nil, nil, ReasonNew, "", ""},
			{"registered on last day of M is new", reg(2026, 2, 28), nil, nil, ReasonNew, "", ""},
			{"registered the day after last(M) is not in the cohort", reg(2026, 3, 1), nil,
				[]tconv{call("1", at(loc, 2026, 2, 10, 10, 0), "c")}, "", "", ""},
			{"registered the day before first(M) without calls is not in the cohort", reg(2026, 1, 31), nil, nil, "", "", ""},
			{"call exactly first(M)-56 days (Dec 7 00:05) is engaged", longAgo, nil,
				[]tconv{call("1", at(loc, 2025, 12, 7, 0, 5), "c")}, ReasonEngaged, "1", "1"},
			{"call first(M)-57 days (Dec 6 23:55) is not engaged", longAgo, nil,
				[]tconv{call("1", at(loc, 2025, 12, 6, 23, 55), "c")}, "", "", ""},
			{"call on last(M) at 23:55 is engaged", longAgo, nil,
				[]tconv{call("1", at(loc, 2026, 2, 28, 23, 55), "c")}, ReasonEngaged, "1", "1"},
			{"call the day after last(M) at 00:05 is not engaged", longAgo, nil,
				[]tconv{call("1", at(loc, 2026, 3, 1, 0, 5), "c")}, "", "", ""},
			{"call after last(M) is not the Last Coaching Session", longAgo, nil,
				[]tconv{call("50", at(loc, 2026, 2, 20, 9, 0), "c"), call("60", at(loc, 2026, 3, 1, 0, 5), "c")}, ReasonEngaged, "50", "50"},
			{"new and a call in the window is new_and_engaged", reg(2026, 2, 15), nil,
				[]tconv{call("1", at(loc, 2026, 1, 20, 9, 0), "c")}, ReasonNewAndEngaged, "1", "1"},
			{"new with an old call: Last Coaching Session set, no Qualifying conv", reg(2026, 2, 10), nil,
				[]tconv{call("90", at(loc, 2025, 12, 1, 9, 0), "c")}, ReasonNew, "90", ""},
			{"Qualifying conv is the newest call in the window", longAgo, nil,
				[]tconv{call("70", at(loc, 2025, 11, 1, 9, 0), "c"), call("71", at(loc, 2026, 1, 5, 9, 0), "c"), call("72", at(loc, 2025, 12, 20, 9, 0), "c")},
				ReasonEngaged, "71", "71"},
			{"same-time calls: larger id as a number wins (101 over 99)", longAgo, nil,
				[]tconv{call("101", at(loc, 2026, 2, 5, 9, 0), "c"), call("99", at(loc, 2026, 2, 5, 9, 0), "c")},
				ReasonEngaged, "101", "101"},
			{"email and chat in M are not calls", longAgo, nil,
				[]tconv{session("1", at(loc, 2026, 2, 10, 9, 0), "Email", "c"), session("2", at(loc, 2026, 2, 11, 9, 0), "chat", "c")}, "", "", ""},
			{"an open call conversation is not evidence", longAgo, nil,
				[]tconv{{ID: "1", CreatedAt: at(loc, 2026, 2, 10, 9, 0).Unix(), State: "open", Channel: "Phone", ContactIDs: []string{"c"}}}, "", "", ""},
			{"stored Last Coaching Call is never billing evidence", longAgo, instant(at(loc, 2026, 2, 15, 9, 0), loc), nil, "", "", ""},
			{"stored call later than the evidence does not change the rows", longAgo, instant(at(loc, 2026, 2, 25, 9, 0), loc),
				[]tconv{call("1", at(loc, 2026, 2, 2, 9, 0), "c")}, ReasonEngaged, "1", "1"},
			{"call shared with another contact counts for both", longAgo, nil,
				[]tconv{call("1", at(loc, 2026, 2, 2, 9, 0), "x", "c")}, ReasonEngaged, "1", "1"},
			{"not enrolled with a call in M is never billed", nil, nil,
				[]tconv{call("1", at(loc, 2026, 2, 10, 9, 0), "c")}, "", "", ""},
		}
		for _, tt := range tests {
			t.Run(loc.String()+"/"+tt.name, func(t *testing.T) {
				data := input{Contacts: []Contact{{ID: "c", Registration: tt.registration, StoredLastCall: tt.storedLastCall}}, Conversations: tt.convs}
				m := build(data, cfgIn(loc), now)
				rows, err := m.Billing(feb2026)
				if err != nil {
					t.Fatal(err)
				}
				row := billingRow(rows, "c")
				if tt.wantReason == "" {
					if row != nil {
						t.Fatalf("in the cohort (%s), want not", row.Reason())
					}
					return
				}
				if row == nil {
					t.Fatalf("not in the cohort, want %s", tt.wantReason)
				}
				if row.Reason() != tt.wantReason {
					t.Errorf("reason %s, want %s", row.Reason(), tt.wantReason)
				}
				if got := convID(row.LastCall); got != tt.wantLast {
					t.Errorf("Last Coaching Session %q, want %q", got, tt.wantLast)
				}
				if got := convID(row.Qualifying); got != tt.wantQualify {
					t.Errorf("Qualifying conv %q, want %q", got, tt.wantQualify)
				}
				if row.Engaged != (tt.wantQualify != "") {
					t.Errorf("Engaged = %v with Qualifying %q", row.Engaged, tt.wantQualify)
				}
			})
		}
	}
}

func TestBilling_DayOfACallIsTheDayInTheTimezone(t *testing.T) {
	// Window of 2026-02: Dec 7 2025 .. Feb 28 2026, in the timezone.
	tests := []struct {
		name    string
		call    time.Time
		loc     *time.Location
		engaged bool
	}{
		// 2026-03-01T07:00Z is Feb 28 23:00 PST: in the window in LA only.
		{"LA: 07:00Z Mar 1 is Feb 28 there", time.Date(2026, 3, 1, 7, 0, 0, 0, utc), la, true},
		{"UTC: 07:00Z Mar 1 is Mar 1", time.Date(2026, 3, 1, 7, 0, 0, 0, utc), utc, false},
		// 2025-12-07T06:00Z is Dec 6 22:00 PST: before the window in LA only.
		{"LA: 06:00Z Dec 7 is Dec 6 there", time.Date(2025, 12, 7, 6, 0, 0, 0, utc), la, false},
		{"UTC: 06:00Z Dec 7 is Dec 7", time.Date(2025, 12, 7, 6, 0, 0, 0, utc), utc, true},
		// 2026-02-28T19:00Z is Mar 1 00:30 IST: after the window in Kolkata only.
		{"Kolkata: 19:00Z Feb 28 is Mar 1 there", time.Date(2026, 2, 28, 19, 0, 0, 0, utc), kolkata, false},
		{"UTC: 19:00Z Feb 28 is Feb 28", time.Date(2026, 2, 28, 19, 0, 0, 0, utc), utc, true},
		// 2025-12-06T19:00Z is Dec 7 00:30 IST: inside the window in Kolkata only.
		{"Kolkata: 19:00Z Dec 6 is Dec 7 there", time.Date(2025, 12, 6, 19, 0, 0, 0, utc), kolkata, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := input{
				Contacts:      []Contact{{ID: "c", Registration: dateStamp(tt.loc, 2025, 6, 1)}},
				Conversations: []tconv{call("1", tt.call, "c")},
			}
			m := build(data, cfgIn(tt.loc), at(tt.loc, 2026, 3, 10, 12, 0))
			rows, err := m.Billing(feb2026)
			if err != nil {
				t.Fatal(err)
			}
			if got := billingRow(rows, "c") != nil; got != tt.engaged {
				t.Errorf("in the cohort = %v, want %v", got, tt.engaged)
			}
		})
	}

	// Registration date-only "2026-03-01" in Kolkata: its Unix is
	// Feb 28 18:30Z, but the day is Mar 1, so it is not in February's
	// cohort, and is new in March (the current month, month to date).
	data := input{Contacts: []Contact{{ID: "c", Registration: dateStamp(kolkata, 2026, 3, 1)}}}
	m := build(data, cfgIn(kolkata), at(kolkata, 2026, 3, 10, 12, 0))
	if rows, _ := m.Billing(feb2026); len(rows) != 0 {
		t.Errorf("registered Mar 1 in Kolkata is billed in February")
	}
	if rows, err := m.Billing(Month{2026, time.March}); err != nil || len(rows) != 1 || rows[0].Reason() != ReasonNew {
		t.Errorf("March cohort %v, %v; want c as new", rows, err)
	}
}

func TestBilling_ReportIsThePreviousMonthByEmployerAndReason(t *testing.T) {
	now := at(utc, 2026, 3, 10, 12, 0)
	data := input{
		Contacts: []Contact{
			{ID: "new", Employer: "Acme", Registration: dateStamp(utc, 2026, 2, 3)},
			{ID: "both", Employer: "Acme", Registration: dateStamp(utc, 2026, 2, 3)},
			{ID: "eng", Employer: "Beta", Registration: dateStamp(utc, 2025, 5, 3)},
			{ID: "out", Employer: "Beta", Registration: dateStamp(utc, 2025, 5, 3)},
			{ID: "lead", Employer: "Beta"}, // not enrolled
		},
		Conversations: []tconv{
			call("1", at(utc, 2026, 2, 4, 9, 0), "both"),
			call("2", at(utc, 2026, 1, 4, 9, 0), "eng"),
			call("3", at(utc, 2025, 11, 4, 9, 0), "out"),
			call("4", at(utc, 2026, 2, 4, 9, 0), "lead"),
		},
	}
	r := build(data, cfgIn(utc), now).Reports()
	if r.BillingMonth != feb2026 {
		t.Errorf("billing month %s, want 2026-02", r.BillingMonth)
	}
	// Reasons are ordered new, engaged, new_and_engaged.
	want := map[string][3]int{"Acme": {1, 0, 1}, "Beta": {0, 1, 0}}
	if len(r.Billing) != len(want) || r.Billing["Acme"] != want["Acme"] || r.Billing["Beta"] != want["Beta"] {
		t.Errorf("billing report %v, want %v", r.Billing, want)
	}
}

func TestBilling_MonthValidation(t *testing.T) {
	// Today 2026-03-15. Data window starts today - LOOKBACK_DAYS.
	// With 365: 2025-03-15; May 2025 needs Mar 6 (May 1 - 56) -> error,
	// June 2025 needs Apr 6 -> fine. With 129: Mar 15 - 129 = Nov 6 2025
	// (15+28+31+31+24) = Jan 1 2026 - 56, so January 2026 is exactly in;
	// with 128 the window starts Nov 7 and January is out.
	now := at(utc, 2026, 3, 15, 12, 0)
	tests := []struct {
		name     string
		lookback int
		month    Month
		ok       bool
		earliest Month
	}{
		{"future month is an error", 365, Month{2026, time.April}, false, Month{2025, time.June}},
		{"next year is an error", 365, Month{2027, time.January}, false, Month{2025, time.June}},
		{"current month is allowed", 365, Month{2026, time.March}, true, Month{2025, time.June}},
		{"previous month is allowed", 365, Month{2026, time.February}, true, Month{2025, time.June}},
		{"earliest month is allowed", 365, Month{2025, time.June}, true, Month{2025, time.June}},
		{"month whose window starts before the data is an error", 365, Month{2025, time.May}, false, Month{2025, time.June}},
		{"window starting exactly on the data start is allowed", 129, Month{2026, time.January}, true, Month{2026, time.January}},
		{"window starting a day before the data start is an error", 128, Month{2026, time.January}, false, Month{2026, time.February}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := cfgIn(utc)
			cfg.LookbackDays = tt.lookback
			m := build(input{}, cfg, now)
			if got := m.EarliestBillingMonth(); got != tt.earliest {
				t.Errorf("EarliestBillingMonth = %s, want %s", got, tt.earliest)
			}
			_, err := m.Billing(tt.month)
			if tt.ok {
				if err != nil {
					t.Errorf("Billing(%s) = %v, want no error", tt.month, err)
				}
				return
			}
			var bme *BillingMonthError
			if !errors.As(err, &bme) {
				t.Errorf("Billing(%s) error %v, want a BillingMonthError", tt.month, err)
			}
		})
	}
}

func TestBilling_EarliestMonthInATimezoneWhereTheUTCDayDiffers(t *testing.T) {
	// 2026-03-15T02:00Z is Mar 14 19:00 PDT in LA: today there is Mar 14.
	// Lookback 128: data start Mar 14 - 128 = Nov 6 2025 = Jan 1 - 56, so
	// January 2026 is billable in LA but not in UTC (data start Nov 7).
	now := time.Date(2026, 3, 15, 2, 0, 0, 0, utc)
	for _, tc := range []struct {
		loc *time.Location
		ok  bool
	}{{la, true}, {utc, false}} {
		cfg := cfgIn(tc.loc)
		cfg.LookbackDays = 128
		_, err := build(input{}, cfg, now).Billing(Month{2026, time.January})
		if (err == nil) != tc.ok {
			t.Errorf("%s: Billing(2026-01) error %v, want ok=%v", tc.loc, err, tc.ok)
		}
	}
}
