package engagement

import (
	"encoding/json"
	"strings"
)

// Billing exception reasons (docs/reports.md), in the order they are
// tried: the first that applies is the contact's reason.
const (
	ExceptionMissingRegistration  = "missing_registration"
	ExceptionInvalidRegistration  = "invalid_registration"
	ExceptionRegisteredAfterMonth = "registered_after_month"
)

// ExceptionReasons are the billing exception reasons, in rule order.
var ExceptionReasons = []string{ExceptionMissingRegistration, ExceptionInvalidRegistration, ExceptionRegisteredAfterMonth}

// ExceptionReason is why a contact with a call in the engaged window of a
// month whose last day is last is not in that month's cohort, or "" when
// it is (an enrolled participant registered on or before last). A contact
// listed on a conversation but not read carries no attribute: missing.
func ExceptionReason(c *Contact, last Day) string {
	switch {
	case c.Registration == nil && (c.Unread || c.RegistrationRaw == ""):
		return ExceptionMissingRegistration
	case c.Registration == nil:
		return ExceptionInvalidRegistration
	case c.Registration.Day > last:
		return ExceptionRegisteredAfterMonth
	}
	return ""
}

// RegistrationText is a raw registration value as Intercom holds it, for
// people: a JSON string's text, any other JSON value as written.
func RegistrationText(raw string) string {
	if strings.HasPrefix(raw, `"`) {
		var s string
		if json.Unmarshal([]byte(raw), &s) == nil {
			return s
		}
	}
	return raw
}

// BillingException is one contact left out of a month's cohort although it
// had a call in the month's engaged window (docs/reports.md), as a flat,
// self-contained record so that it freezes with the cohort.
type BillingException struct {
	ContactID string `json:"contact_id"`
	Name      string `json:"name"`
	Email     string `json:"email"`
	Employer  string `json:"employer"`
	// Coach is the member's coach: who can fix the data.
	Coach string `json:"coach"`
	// RegistrationValue is the first configured registration attribute
	// present, as Intercom holds it ("" when none is present).
	RegistrationValue string `json:"registration_value"`
	// LastCall is the day of the newest call on or before the last day of
	// the month: that of the qualifying call, the newest in the window.
	LastCall Day    `json:"last_call"`
	Reason   string `json:"reason"`
	// Qualifying is the id of the newest call conversation inside the
	// engaged window.
	Qualifying string `json:"qualifying"`
}

// BillingExceptions lists the billing exceptions of month, in the model's
// member order; the month must be billable (CheckBillingMonth).
func (m *Model) BillingExceptions(month Month) ([]BillingException, error) {
	if err := m.CheckBillingMonth(month); err != nil {
		return nil, err
	}
	last := month.Last()
	windowStart := month.First() - Day(m.Config.BillingEngagedDays)
	// The candidates: members left out of the cohort whose last call (at
	// least the newest call read) is not before the window.
	reason := make([]string, len(m.Members))
	candidates := false
	for i := range m.Members {
		mem := &m.Members[i]
		if !mem.HasLastCall || mem.LastCall.Day < windowStart {
			continue
		}
		if reason[i] = ExceptionReason(mem.Contact, last); reason[i] != "" {
			candidates = true
		}
	}
	if !candidates {
		return nil, nil
	}
	// Their newest call in the window, in one pass over the sessions (at a
	// million sessions, reading each member's sessions at random costs
	// far more). It is also their newest call on or before the last day.
	qualifying := make([]int32, len(m.Members))
	for i := range qualifying {
		qualifying[i] = -1
	}
	for si := range m.Sessions {
		s := &m.Sessions[si]
		if s.Day < windowStart || s.Day > last || !m.Channels.IsCall(s.Channel) {
			continue
		}
		for _, mi := range s.Contacts {
			if q := qualifying[mi]; reason[mi] != "" && (q < 0 || m.later(s, &m.Sessions[q])) {
				qualifying[mi] = int32(si)
			}
		}
	}
	var out []BillingException
	for i := range m.Members {
		if reason[i] == "" || qualifying[i] < 0 {
			continue
		}
		mem, q := &m.Members[i], &m.Sessions[qualifying[i]]
		c := mem.Contact
		out = append(out, BillingException{
			ContactID: c.ID, Name: c.Name, Email: c.Email, Employer: mem.Employer, Coach: mem.Coach,
			RegistrationValue: RegistrationText(c.RegistrationRaw),
			LastCall:          q.Day, Reason: reason[i], Qualifying: q.ConversationID,
		})
	}
	return out, nil
}

// ExceptionCounts counts exceptions by employer, one count per reason in
// ExceptionReasons order.
func ExceptionCounts(exceptions []BillingException) map[string][3]int {
	out := map[string][3]int{}
	for _, e := range exceptions {
		v := out[e.Employer]
		for k, r := range ExceptionReasons {
			if r == e.Reason {
				v[k]++
			}
		}
		out[e.Employer] = v
	}
	return out
}
