package engagement

import (
	"fmt"
)

// GroupKey is a coach/employer pair.
type GroupKey struct{ Coach, Employer string }

// MixKey is a coach/employer pair with a channel mix.
type MixKey struct{ Coach, Employer, Channels string }

// SessionKey is a coach/employer pair with a channel.
type SessionKey struct{ Coach, Employer, Channel string }

// Reports are the aggregate counts behind the metrics of SPEC.md section 3.
// Arrays are indexed like AgeBands, ParticipantBands, Statuses and Reasons,
// so a group that exists has every value of its fixed label.
type Reports struct {
	Caseload     map[GroupKey][4]int
	ChannelMix   map[MixKey]int
	Sessions     map[SessionKey][4]int
	Participants map[GroupKey][4]int
	Engagement   map[string][4]int // by employer
	BillingMonth Month
	Billing      map[string][3]int // by employer
}

// Reports computes every aggregate report (SPEC.md 2.1-2.5); billing is for
// the previous calendar month.
func (m *Model) Reports() Reports {
	r := Reports{
		Caseload:     map[GroupKey][4]int{},
		ChannelMix:   map[MixKey]int{},
		Sessions:     map[SessionKey][4]int{},
		Participants: map[GroupKey][4]int{},
		Engagement:   map[string][4]int{},
		Billing:      map[string][3]int{},
	}
	for i := range m.Members {
		mem := &m.Members[i]
		g := GroupKey{mem.Coach, mem.Employer}
		if mem.LastSessionInLookback >= 0 {
			d := DaysSince(m.Sessions[mem.LastSessionInLookback].Day, m.Today)
			v := r.Caseload[g]
			v[BandOf(AgeBands, d)]++
			r.Caseload[g] = v
			r.ChannelMix[MixKey{mem.Coach, mem.Employer, m.Channels.Mix(mem.ChannelSet)}]++
		}
		if mem.Enrolled {
			v := r.Participants[g]
			v[BandOf(ParticipantBands, m.daysWithoutSession(mem))]++
			r.Participants[g] = v
		}
		if mem.Status != "" {
			v := r.Engagement[mem.Employer]
			v[statusIndex(mem.Status)]++
			r.Engagement[mem.Employer] = v
		}
	}
	for i := range m.Sessions {
		s := &m.Sessions[i]
		if !m.InLookback(s) {
			continue
		}
		k := SessionKey{s.Coach, m.SessionEmployer(s), m.Channels.names[s.Channel]}
		v := r.Sessions[k]
		v[BandOf(AgeBands, DaysSince(s.Day, m.Today))]++
		r.Sessions[k] = v
	}
	r.BillingMonth = MonthOf(m.Today).Prev()
	if rows, err := m.Billing(r.BillingMonth); err == nil {
		for _, row := range rows {
			v := r.Billing[row.Member.Employer]
			v[reasonIndex(row.Reason())]++
			r.Billing[row.Member.Employer] = v
		}
	}
	return r
}

func statusIndex(s string) int {
	for i, v := range Statuses {
		if v == s {
			return i
		}
	}
	panic("engagement: unknown status " + s)
}

func reasonIndex(s string) int {
	for i, v := range Reasons {
		if v == s {
			return i
		}
	}
	panic("engagement: unknown reason " + s)
}

// SessionEmployer is the employer of a session: that of its first listed
// contact (SPEC.md 2.2).
func (m *Model) SessionEmployer(s *Session) string {
	if len(s.Contacts) == 0 {
		return UnknownEmployer
	}
	return m.Members[s.Contacts[0]].Employer
}

// ChannelName is the canonical spelling of a session's channel.
func (m *Model) ChannelName(s *Session) string { return m.Channels.names[s.Channel] }

// daysWithoutSession is SPEC.md 2.3's measure for an enrolled participant.
func (m *Model) daysWithoutSession(mem *Member) int {
	if mem.LastSessionInLookback >= 0 {
		return DaysSince(m.Sessions[mem.LastSessionInLookback].Day, m.Today)
	}
	return DaysSince(mem.Contact.Registration.Day, m.Today)
}

// CaseloadRow is one member of the caseload (SPEC.md 2.1).
type CaseloadRow struct {
	Member      *Member
	LastSession *Session
	DaysSince   int
	Band        string
	Channels    string
	Sessions    int // sessions in the lookback
}

// Caseload lists the members with a session in the last lookbackDays days
// (at most the configured lookback), with band and channel mix over those
// days.
func (m *Model) Caseload(lookbackDays int) []CaseloadRow {
	if lookbackDays > m.Config.LookbackDays || lookbackDays <= 0 {
		lookbackDays = m.Config.LookbackDays
	}
	var rows []CaseloadRow
	for i := range m.Members {
		mem := &m.Members[i]
		if mem.LastSessionInLookback < 0 {
			continue
		}
		var last *Session
		var set uint32
		n := 0
		for _, si := range mem.Sessions {
			s := &m.Sessions[si]
			if DaysSince(s.Day, m.Today) > lookbackDays {
				continue
			}
			n++
			set |= 1 << uint(s.Channel)
			if last == nil || m.later(s, last) {
				last = s
			}
		}
		if last == nil {
			continue
		}
		d := DaysSince(last.Day, m.Today)
		rows = append(rows, CaseloadRow{
			Member: mem, LastSession: last, DaysSince: d,
			Band: AgeBands[BandOf(AgeBands, d)].Name, Channels: m.Channels.Mix(set), Sessions: n,
		})
	}
	return rows
}

// ParticipantRow is one enrolled participant (SPEC.md 2.3).
type ParticipantRow struct {
	Member      *Member
	LastSession *Session // nil when none in the lookback
	DaysWithout int
	Band        string
}

// Participants lists every enrolled participant with its band.
func (m *Model) Participants() []ParticipantRow {
	var rows []ParticipantRow
	for i := range m.Members {
		mem := &m.Members[i]
		if !mem.Enrolled {
			continue
		}
		row := ParticipantRow{Member: mem, DaysWithout: m.daysWithoutSession(mem)}
		if mem.LastSessionInLookback >= 0 {
			row.LastSession = &m.Sessions[mem.LastSessionInLookback]
		}
		row.Band = ParticipantBands[BandOf(ParticipantBands, row.DaysWithout)].Name
		rows = append(rows, row)
	}
	return rows
}

// SessionsBetween lists the sessions whose day is in [from, to].
func (m *Model) SessionsBetween(from, to Day) []*Session {
	var out []*Session
	for i := range m.Sessions {
		if s := &m.Sessions[i]; s.Day >= from && s.Day <= to {
			out = append(out, s)
		}
	}
	return out
}

// SessionBand is the age band of a session today.
func (m *Model) SessionBand(s *Session) string {
	return AgeBands[BandOf(AgeBands, DaysSince(s.Day, m.Today))].Name
}

// BillingRow is one member of a billing cohort (SPEC.md 2.5).
type BillingRow struct {
	Member  *Member
	New     bool
	Engaged bool
	// LastCall is the newest call on or before the last day of the month,
	// nil when there is none.
	LastCall *Session
	// Qualifying is the newest call inside the engaged window, nil when the
	// member is not engaged.
	Qualifying *Session
}

// Reason is the row's billing reason label.
func (r BillingRow) Reason() string {
	switch {
	case r.New && r.Engaged:
		return ReasonNewAndEngaged
	case r.New:
		return ReasonNew
	default:
		return ReasonEngaged
	}
}

// BillingMonthError says why a month cannot be billed from this data.
type BillingMonthError struct{ Reason string }

func (e *BillingMonthError) Error() string { return e.Reason }

// CheckBillingMonth says whether the cohort of month can be computed: not a
// future month, and its engaged window must start inside the data window.
func (m *Model) CheckBillingMonth(month Month) error {
	current := MonthOf(m.Today)
	if current.Before(month) {
		return &BillingMonthError{fmt.Sprintf("month %s is in the future (today is %s)", month, m.Today)}
	}
	start := month.First() - Day(m.Config.BillingEngagedDays)
	if start < m.DataStart() {
		return &BillingMonthError{fmt.Sprintf(
			"month %s needs sessions from %s, before the data window starts (%s, LOOKBACK_DAYS=%d); the earliest month that can be billed is %s",
			month, start, m.DataStart(), m.Config.LookbackDays, m.EarliestBillingMonth())}
	}
	return nil
}

// EarliestBillingMonth is the first month whose engaged window lies inside
// the data window.
func (m *Model) EarliestBillingMonth() Month {
	mo := MonthOf(m.DataStart() + Day(m.Config.BillingEngagedDays))
	if mo.First()-Day(m.Config.BillingEngagedDays) < m.DataStart() {
		mo = mo.Next()
	}
	return mo
}

// Billing computes the cohort of month (SPEC.md 2.5). Evidence is
// conversations only, never the stored attribute.
func (m *Model) Billing(month Month) ([]BillingRow, error) {
	if err := m.CheckBillingMonth(month); err != nil {
		return nil, err
	}
	first, last := month.First(), month.Last()
	windowStart := first - Day(m.Config.BillingEngagedDays)
	var rows []BillingRow
	for i := range m.Members {
		mem := &m.Members[i]
		if !mem.Enrolled {
			continue
		}
		reg := mem.Contact.Registration.Day
		if reg > last {
			continue
		}
		row := BillingRow{Member: mem, New: reg >= first}
		for _, si := range mem.Sessions {
			s := &m.Sessions[si]
			if !m.Channels.IsCall(s.Channel) || s.Day > last {
				continue
			}
			if row.LastCall == nil || m.later(s, row.LastCall) {
				row.LastCall = s
			}
			if s.Day >= windowStart && (row.Qualifying == nil || m.later(s, row.Qualifying)) {
				row.Qualifying = s
			}
		}
		row.Engaged = row.Qualifying != nil
		if row.New || row.Engaged {
			rows = append(rows, row)
		}
	}
	return rows, nil
}
