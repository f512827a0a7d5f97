package engagement

import (
	"fmt"
	"slices"
)

// GroupKey is a coach/employer pair.
type GroupKey struct{ Coach, Employer string }

// MixKey is a coach/employer pair with a channel mix.
type MixKey struct{ Coach, Employer, Channels string }

// SessionKey is a coach/employer pair with a channel.
type SessionKey struct{ Coach, Employer, Channel string }

// Reports are the aggregate counts behind the metrics of docs/metrics.md.
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
	// Exceptions are the billing exceptions of BillingMonth by employer,
	// indexed like ExceptionReasons.
	Exceptions map[string][3]int
}

// Reports computes every aggregate report (docs/reports.md); billing is for
// the previous calendar month.
//
// Groups are counted under small integer keys (coach and employer indexes)
// in one pass over the members and one over the sessions; the string-keyed
// maps are filled once per group at the end.
func (m *Model) Reports() Reports {
	nEmp := uint64(len(m.employers))
	key2 := func(coach, emp int32) uint64 { return uint64(coach)*nEmp + uint64(emp) }
	caseload := newCounter[[4]int]()
	mix := map[[2]uint64]int{} // {coach/employer key, channel set}
	participants := newCounter[[4]int]()
	engagement := newCounter[[4]int]()
	for i := range m.Members {
		mem := &m.Members[i]
		g := key2(mem.coach, mem.employer)
		if mem.LastSessionInLookback >= 0 {
			d := DaysSince(m.Sessions[mem.LastSessionInLookback].Day, m.Today)
			caseload.at(g)[BandOf(AgeBands, d)]++
			mix[[2]uint64{g, uint64(mem.ChannelSet)}]++
		}
		if mem.Enrolled {
			participants.at(g)[BandOf(ParticipantBands, m.daysWithoutSession(mem))]++
		}
		if mem.Status != "" {
			engagement.at(uint64(mem.employer))[statusIndex(mem.Status)]++
		}
	}
	nCh := uint64(len(m.Channels.names))
	sessions := newCounter[[4]int]()
	oldest := m.DataStart()
	for i := range m.Sessions {
		s := &m.Sessions[i]
		if s.Day < oldest {
			continue
		}
		k := key2(s.coach, m.sessionEmployer[i])*nCh + uint64(s.Channel)
		sessions.at(k)[BandOf(AgeBands, DaysSince(s.Day, m.Today))]++
	}

	r := Reports{
		Caseload:     make(map[GroupKey][4]int, len(caseload.idx)),
		ChannelMix:   make(map[MixKey]int, len(mix)),
		Sessions:     make(map[SessionKey][4]int, len(sessions.idx)),
		Participants: make(map[GroupKey][4]int, len(participants.idx)),
		Engagement:   make(map[string][4]int, len(engagement.idx)),
		Billing:      map[string][3]int{},
	}
	group := func(g uint64) GroupKey {
		return GroupKey{m.coaches[g/nEmp], m.employers[g%nEmp]}
	}
	for g, i := range caseload.idx {
		r.Caseload[group(g)] = caseload.vals[i]
	}
	for g, i := range participants.idx {
		r.Participants[group(g)] = participants.vals[i]
	}
	for e, i := range engagement.idx {
		r.Engagement[m.employers[e]] = engagement.vals[i]
	}
	mixNames := map[uint64]string{}
	for k, n := range mix {
		name, ok := mixNames[k[1]]
		if !ok {
			name = m.Channels.Mix(uint32(k[1]))
			mixNames[k[1]] = name
		}
		gk := group(k[0])
		r.ChannelMix[MixKey{gk.Coach, gk.Employer, name}] = n
	}
	for k, i := range sessions.idx {
		gk := group(k / nCh)
		r.Sessions[SessionKey{gk.Coach, gk.Employer, m.Channels.names[k%nCh]}] = sessions.vals[i]
	}
	r.BillingMonth = MonthOf(m.Today).Prev()
	if rows, err := m.Billing(r.BillingMonth); err == nil {
		for _, row := range rows {
			v := r.Billing[row.Member.Employer]
			v[reasonIndex(row.Reason())]++
			r.Billing[row.Member.Employer] = v
		}
	}
	xs, _ := m.BillingExceptions(r.BillingMonth)
	r.Exceptions = ExceptionCounts(xs)
	return r
}

// counter counts per small integer key into a dense slice: one map lookup
// per increment, no string hashing.
type counter[V any] struct {
	idx  map[uint64]int32
	vals []V
}

func newCounter[V any]() *counter[V] { return &counter[V]{idx: map[uint64]int32{}} }

func (c *counter[V]) at(k uint64) *V {
	i, ok := c.idx[k]
	if !ok {
		i = int32(len(c.vals))
		c.idx[k] = i
		var zero V
		c.vals = append(c.vals, zero)
	}
	return &c.vals[i]
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
// contact (docs/reports.md).
func (m *Model) SessionEmployer(s *Session) string {
	if len(s.Contacts) == 0 {
		return UnknownEmployer
	}
	return m.Members[s.Contacts[0]].Employer
}

// BillingCounts counts billing records by employer and reason (indexed like
// Reasons): the intercom_billing_members values of a cohort.
func BillingCounts(records []BillingRecord) map[string][3]int {
	out := map[string][3]int{}
	for i := range records {
		v := out[records[i].Employer]
		v[reasonIndex(records[i].Reason())]++
		out[records[i].Employer] = v
	}
	return out
}

// ChannelName is the canonical spelling of a session's channel.
func (m *Model) ChannelName(s *Session) string { return m.Channels.names[s.Channel] }

// daysWithoutSession is docs/reports.md's measure for an enrolled participant.
func (m *Model) daysWithoutSession(mem *Member) int {
	if mem.LastSessionInLookback >= 0 {
		return DaysSince(m.Sessions[mem.LastSessionInLookback].Day, m.Today)
	}
	return DaysSince(mem.Contact.Registration.Day, m.Today)
}

// CaseloadRow is one member of the caseload (docs/reports.md).
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

// ParticipantRow is one enrolled participant (docs/reports.md), with what
// the member tables of docs/dashboards.md show beside it.
type ParticipantRow struct {
	Member       *Member
	FirstSession *Session // oldest in the lookback; nil when none
	LastSession  *Session // nil when none in the lookback
	DaysWithout  int
	Band         string
	// DaysSinceRegistration counts from the registration day.
	DaysSinceRegistration int
	// Channels is the channel mix of its sessions in the lookback ("" when
	// none), spelled like the caseload's.
	Channels string
	// Coaches are the coaches of its sessions in the lookback, sorted,
	// each once.
	Coaches []string
}

// Participants lists every enrolled participant with its band.
func (m *Model) Participants() []ParticipantRow {
	var rows []ParticipantRow
	for i := range m.Members {
		mem := &m.Members[i]
		if !mem.Enrolled {
			continue
		}
		row := ParticipantRow{Member: mem, DaysWithout: m.daysWithoutSession(mem),
			DaysSinceRegistration: DaysSince(mem.Contact.Registration.Day, m.Today)}
		if mem.LastSessionInLookback >= 0 {
			row.LastSession = &m.Sessions[mem.LastSessionInLookback]
			row.Channels = m.Channels.Mix(mem.ChannelSet)
			for _, si := range mem.Sessions {
				s := &m.Sessions[si]
				if !m.InLookback(s) {
					continue
				}
				if row.FirstSession == nil || m.later(row.FirstSession, s) {
					row.FirstSession = s
				}
				if !slices.Contains(row.Coaches, s.Coach) {
					row.Coaches = append(row.Coaches, s.Coach)
				}
			}
			slices.Sort(row.Coaches)
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

// BillingRow is one member of a billing cohort (docs/reports.md).
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

// Billing computes the cohort of month (docs/reports.md). Evidence is
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

// BillingRecord is one billed member of a month as a flat, self-contained
// record (docs/reports.md and the /billing.csv columns): everything an invoice
// line needs, with no reference into a model, so a frozen month can be kept
// and served exactly as it was computed.
type BillingRecord struct {
	ContactID  string `json:"contact_id"`
	Name       string `json:"name"`
	Email      string `json:"email"`
	Employer   string `json:"employer"`
	ExternalID string `json:"external_id"`
	// Registration is the registration day.
	Registration Day `json:"registration"`
	// LastCall is the day of the newest call on or before the last day of
	// the month; meaningful only when HasLastCall.
	LastCall    Day  `json:"last_call"`
	HasLastCall bool `json:"has_last_call"`
	New         bool `json:"new"`
	Engaged     bool `json:"engaged"`
	// Qualifying is the id of the newest call conversation inside the
	// engaged window, "" when the member is not engaged.
	Qualifying string `json:"qualifying"`
}

// Reason is the record's billing reason label.
func (r *BillingRecord) Reason() string {
	return BillingRow{New: r.New, Engaged: r.Engaged}.Reason()
}

// Record flattens a billing row.
func (r BillingRow) Record() BillingRecord {
	c := r.Member.Contact
	rec := BillingRecord{
		ContactID: c.ID, Name: c.Name, Email: c.Email, Employer: r.Member.Employer, ExternalID: c.ExternalID,
		New: r.New, Engaged: r.Engaged,
	}
	if c.Registration != nil {
		rec.Registration = c.Registration.Day
	}
	if r.LastCall != nil {
		rec.LastCall, rec.HasLastCall = r.LastCall.Day, true
	}
	if r.Qualifying != nil {
		rec.Qualifying = r.Qualifying.ConversationID
	}
	return rec
}

// BillingRecords is Billing as flat records, in the model's member order.
func (m *Model) BillingRecords(month Month) ([]BillingRecord, error) {
	rows, err := m.Billing(month)
	if err != nil {
		return nil, err
	}
	out := make([]BillingRecord, len(rows))
	for i := range rows {
		out[i] = rows[i].Record()
	}
	return out, nil
}
