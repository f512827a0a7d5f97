package engagement

import "testing"

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
