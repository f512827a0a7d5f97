package engagement

import (
	"testing"
	"time"
)

func TestExceptionReason_FirstThatApplies(t *testing.T) {
	last := DateDay(2026, 2, 28)
	reg := func(d Day) *Stamp { return &Stamp{Day: d} }
	tests := []struct {
		name string
		c    Contact
		want string
	}{
		{"no registration attribute", Contact{}, ExceptionMissingRegistration},
		{"listed on a conversation but not read", Contact{Unread: true}, ExceptionMissingRegistration},
		{"present but unreadable", Contact{RegistrationRaw: `"early January"`}, ExceptionInvalidRegistration},
		{"present, empty text", Contact{RegistrationRaw: `""`}, ExceptionInvalidRegistration},
		{"registered the day after the month", Contact{Registration: reg(last + 1), RegistrationRaw: "1"}, ExceptionRegisteredAfterMonth},
		{"registered on the last day: in the cohort", Contact{Registration: reg(last), RegistrationRaw: "1"}, ""},
		{"registered before the month: in the cohort", Contact{Registration: reg(last - 40), RegistrationRaw: "1"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ExceptionReason(&tt.c, last); got != tt.want {
				t.Errorf("ExceptionReason = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRegistrationText_StringsUnquotedOtherValuesAsWritten(t *testing.T) {
	for raw, want := range map[string]string{`"early March"`: "early March", `1772323200`: "1772323200", `""`: "", ``: "", `true`: "true"} {
		if got := RegistrationText(raw); got != want {
			t.Errorf("RegistrationText(%s) = %q, want %q", raw, got, want)
		}
	}
}

// February 2026 seen on 2026-03-10 in Los Angeles: engaged window
// 2025-12-07..2026-02-28 (billing_test.go). Days are those of Los Angeles:
// 2026-03-01 05:00 UTC is still 28 February there.
func TestBillingExceptions_CallsInTheWindowLeftOutOfTheCohort(t *testing.T) {
	loc := la
	now := at(loc, 2026, 3, 10, 12, 0)
	data := input{
		Contacts: []Contact{
			{ID: "m", Name: "Missing"}, // no registration
			{ID: "i", RegistrationRaw: `"soon"`},
			{ID: "a", Registration: dateStamp(loc, 2026, 3, 1), RegistrationRaw: `"2026-03-01"`},
			enrolledContact("billed", loc, 2026, 1, 5),
			{ID: "early"}, // its only call is the day before the window
			{ID: "stored", StoredLastCall: instant(at(loc, 2026, 2, 10, 9, 0), loc)}, // no call read: no evidence
			{ID: "email"}, // a session, not a call
		},
		Conversations: []tconv{
			call("10", at(loc, 2026, 2, 10, 9, 0), "m"),
			call("9", at(loc, 2026, 2, 10, 9, 0), "m"),                   // same time: 10 is the newer (numbers)
			call("30", at(loc, 2026, 3, 2, 9, 0), "m"),                   // after the month: not its last call
			call("11", time.Date(2026, 3, 1, 5, 0, 0, 0, time.UTC), "i"), // 28 February in LA
			call("12", at(loc, 2025, 12, 7, 0, 30), "a"),
			call("13", at(loc, 2026, 2, 3, 9, 0), "billed"),
			call("14", at(loc, 2025, 12, 6, 23, 30), "early"),
			session("15", at(loc, 2026, 2, 3, 9, 0), "Email", "email"),
		},
	}
	m := build(data, cfgIn(loc), now)
	got, err := m.BillingExceptions(feb2026)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]BillingException{
		"m": {ContactID: "m", Name: "Missing", Employer: UnknownEmployer, Coach: Unassigned,
			LastCall: DateDay(2026, 2, 10), Reason: ExceptionMissingRegistration, Qualifying: "10"},
		"i": {ContactID: "i", Employer: UnknownEmployer, Coach: Unassigned, RegistrationValue: "soon",
			LastCall: DateDay(2026, 2, 28), Reason: ExceptionInvalidRegistration, Qualifying: "11"},
		"a": {ContactID: "a", Employer: UnknownEmployer, Coach: Unassigned, RegistrationValue: "2026-03-01",
			LastCall: DateDay(2025, 12, 7), Reason: ExceptionRegisteredAfterMonth, Qualifying: "12"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d exceptions %+v, want %d", len(got), got, len(want))
	}
	for _, x := range got {
		if x != want[x.ContactID] {
			t.Errorf("exception %+v, want %+v", x, want[x.ContactID])
		}
	}
	if _, err := m.BillingExceptions(Month{2026, time.April}); err == nil {
		t.Error("a future month has no exceptions: want the month error")
	}
}
