package web

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/coaching/intercom_exporter/collector"
	"github.com/coaching/intercom_exporter/engagement"
)

// Report columns (docs/endpoints.md). They are part of the contract with
// finance and the dashboards: change them only with docs/endpoints.md.
var (
	BillingColumns = []string{"User ID", "Name", "Email", "Employer", "Registration Date", "Last Coaching Session",
		"isNewParticipant", "engagedDuringMonth", "External ID", "Qualifying Conversation"}
	CaseloadColumns = []string{"User ID", "Name", "Email", "Employer", "Coach", "Band", "Days Since Last Session",
		"Last Session Date", "Channels", "Sessions", "External ID"}
	ParticipantColumns = []string{"User ID", "Name", "Email", "Employer", "Coach", "Band", "Days Without Session",
		"Last Session Date", "Registration Date", "Engagement Status", "External ID"}
	SessionColumns = []string{"Conversation ID", "Date", "Channel", "Coach", "Employer", "Band", "Contact IDs"}
)

// Columns that only the JSON form carries, after the CSV ones, for the
// member tables of the dashboards (docs/dashboards.md): the CSV files stay
// as finance and scripts know them.
var (
	BillingJSONColumns     = []string{"Reason", "Intercom URL"}
	CaseloadJSONColumns    = []string{"Intercom URL"}
	ParticipantJSONColumns = []string{"First Session Date", "Days Since Registration", "Channels", "Coaches", "Intercom URL"}
)

// report is one member-level report endpoint, /<name>.csv.
type report struct {
	name   string
	params []string // besides format
	// build reads the query against m; *badRequest errors are bad input.
	build func(m *engagement.Model, q query, h http.Header) (t table, period string, err error)
}

func (s *Server) reports() []report {
	return []report{
		{"billing", []string{"month", "employer", "live"}, s.buildBilling},
		{"caseload", []string{"coach", "employer", "channels", "band", "lookback_days"}, s.buildCaseload},
		{"participants", []string{"coach", "employer", "band", "from", "to"}, s.buildParticipants},
		{"sessions", []string{"from", "to", "coach", "employer", "channel", "band"}, s.buildSessions},
		s.billingExceptionsReport(),
	}
}

// reportHandler serves one report from the published model, read once.
func (s *Server) reportHandler(rep report) http.HandlerFunc {
	allowed := append(slices.Clone(rep.params), "format")
	return func(w http.ResponseWriter, r *http.Request) {
		m := s.o.Source.Model()
		// Bad input is 400 before the first refresh too: everything that
		// can be checked without the data is checked first.
		q, err := parseQuery(r.URL.RawQuery, allowed)
		if err != nil {
			textError(w, http.StatusBadRequest, err.Error())
			return
		}
		format, err := q.format()
		if err != nil {
			textError(w, http.StatusBadRequest, err.Error())
			return
		}
		if m == nil {
			if err := q.syntax(); err != nil {
				textError(w, http.StatusBadRequest, err.Error())
				return
			}
			st := s.o.Source.Status()
			w.Header().Set("Retry-After", retryAfter(st))
			textError(w, http.StatusServiceUnavailable, notReadyReason(st))
			return
		}
		h := w.Header()
		t, period, err := rep.build(m, q, h)
		if err != nil {
			var bad *badRequest
			if errors.As(err, &bad) {
				textError(w, http.StatusBadRequest, bad.msg)
				return
			}
			s.log.Error("Report failed", "report", rep.name, "err", err)
			textError(w, http.StatusInternalServerError, "the report could not be computed; see the exporter's log")
			return
		}
		h.Set("X-Data-Timestamp", m.Now.Format(time.RFC3339))
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		write := writeCSV
		if format == formatJSON {
			h.Set("Content-Type", "application/json; charset=utf-8")
			write = writeJSON
		} else {
			h.Set("Content-Type", "text/csv; charset=utf-8")
			h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-%s.csv"`, rep.name, period))
		}
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodHead {
			return
		}
		if err := write(w, t); err != nil {
			// The client went away; the data is not logged.
			s.log.Debug("Report not sent in full", "report", rep.name, "err", err)
		}
	}
}

// rowKey orders rows: employer, then name, then time, then id; names and
// employers ignore letter case first, then break ties exactly.
type rowKey struct {
	employerFold, employer, nameFold, name string
	t                                      int64
	id                                     string
	i                                      int
}

func fold(s string) string { return strings.ToLower(s) }

func compareKeys(a, b rowKey) int {
	if c := cmp.Compare(a.employerFold, b.employerFold); c != 0 {
		return c
	}
	if c := cmp.Compare(a.employer, b.employer); c != 0 {
		return c
	}
	if c := cmp.Compare(a.nameFold, b.nameFold); c != 0 {
		return c
	}
	if c := cmp.Compare(a.name, b.name); c != 0 {
		return c
	}
	if c := cmp.Compare(a.t, b.t); c != 0 {
		return c
	}
	if c := engagement.CompareIDs(a.id, b.id); c != 0 {
		return c
	}
	return cmp.Compare(a.i, b.i)
}

// sortRows returns rows in the order of their keys.
func sortRows[T any](rows []T, key func(*T) rowKey) []T {
	keys := make([]rowKey, len(rows))
	for i := range rows {
		k := key(&rows[i])
		k.employerFold, k.nameFold, k.i = fold(k.employer), fold(k.name), i
		keys[i] = k
	}
	slices.SortFunc(keys, compareKeys)
	out := make([]T, len(rows))
	for i, k := range keys {
		out[i] = rows[k.i]
	}
	return out
}

// memberOrder ranks every member of one model by employer, name and id,
// so that member reports sort on an integer, and knows the model's coach
// and employer labels (of members and sessions alike), which the filters
// are checked against. It is computed once per model: a 50,000-row file is
// then sorted in milliseconds.
type memberOrder struct {
	m                  *engagement.Model
	rank               map[*engagement.Member]int32
	coaches, employers map[string]bool
}

// orderCacheSize keeps the orders of the current model and the one before
// it (requests still streaming from it while a refresh swaps models).
const orderCacheSize = 2

// memberOrder returns the order of m's members, computing it at most once
// while it stays in the cache.
func (s *Server) memberOrder(m *engagement.Model) *memberOrder {
	s.orderMu.Lock()
	defer s.orderMu.Unlock()
	for i, o := range s.orders {
		if o.m == m {
			copy(s.orders[1:i+1], s.orders[:i])
			s.orders[0] = o
			return o
		}
	}
	members := make([]*engagement.Member, len(m.Members))
	for i := range m.Members {
		members[i] = &m.Members[i]
	}
	members = sortRows(members, func(mem **engagement.Member) rowKey { return memberKey(*mem) })
	o := &memberOrder{m: m, rank: make(map[*engagement.Member]int32, len(members)),
		coaches: map[string]bool{}, employers: map[string]bool{}}
	for i, mem := range members {
		o.rank[mem] = int32(i)
		o.coaches[mem.Coach], o.employers[mem.Employer] = true, true
	}
	for i := range m.Sessions {
		se := &m.Sessions[i]
		o.coaches[se.Coach], o.employers[m.SessionEmployer(se)] = true, true
	}
	s.orders = append([]*memberOrder{o}, s.orders...)
	if len(s.orders) > orderCacheSize {
		s.orders = s.orders[:orderCacheSize]
	}
	return o
}

// labelFilter reads a coach or employer filter (name is "coach" or
// "employer"; nil when absent) and refuses a value that is the label of no
// member or session of the model, nor known to extra (nil for none): a
// typo would otherwise answer an empty 200. A known value with no rows in
// the chosen period is a true empty answer. employer="(other)" stands for
// other, the employers the metrics merged into it.
func (o *memberOrder) labelFilter(q query, name string, extra func(string) bool, other []string) (map[string]bool, error) {
	known, plural := o.coaches, "coaches"
	if name == "employer" {
		known, plural = o.employers, "employers"
	}
	set := q.set(name)
	for _, raw := range q.v[name] {
		v := strings.TrimSpace(raw)
		switch {
		case known[v] || (extra != nil && extra(v)):
		case name == "employer" && v == collector.OtherEmployer && len(other) > 0:
			for _, e := range other {
				set[e] = true
			}
		case name == "employer" && v == collector.OtherEmployer:
			return nil, badf("employer %q stands for no employer now: the metrics merge the employers with the fewest members into it "+
				"only beyond MAX_SERIES_PER_FAMILY, and this report's metrics merged none; filter on the employers themselves, as spelled in /caseload.csv", v)
		default:
			return nil, badf("unknown %s %q: %s are spelled as the %s label of the metrics (case matters); "+
				"see /caseload.csv or intercom_caseload_members", name, v, plural, name)
		}
	}
	return set, nil
}

// filters reads the coach and employer filters of m's reports;
// employer="(other)" follows the given metric families.
func (s *Server) filters(m *engagement.Model, q query, families []string) (coaches, employers map[string]bool, err error) {
	o := s.memberOrder(m)
	if coaches, err = o.labelFilter(q, "coach", nil, nil); err != nil {
		return nil, nil, err
	}
	employers, err = o.labelFilter(q, "employer", nil, s.otherEmployers(m, families))
	return coaches, employers, err
}

// sortByMember orders rows (one per member) by the member order of m.
func sortByMember[T any](o *memberOrder, rows []T, member func(*T) *engagement.Member) {
	type ranked struct{ rank, i int32 }
	rs := make([]ranked, len(rows))
	for i := range rows {
		rs[i] = ranked{o.rank[member(&rows[i])], int32(i)}
	}
	slices.SortFunc(rs, func(a, b ranked) int { return cmp.Compare(a.rank, b.rank) })
	sorted := make([]T, len(rows))
	for i, r := range rs {
		sorted[i] = rows[r.i]
	}
	copy(rows, sorted)
}

func memberKey(m *engagement.Member) rowKey {
	return rowKey{employer: m.Employer, name: m.Contact.Name, id: m.Contact.ID}
}

// dayString spells a day YYYY-MM-DD like engagement.Day.String, without
// fmt: a 50,000-row file spells 100,000 dates.
func dayString(d engagement.Day) string {
	y, m, dd := d.Date()
	if y < 0 || y > 9999 {
		return d.String()
	}
	b := [10]byte{byte('0' + y/1000), byte('0' + y/100%10), byte('0' + y/10%10), byte('0' + y%10), '-',
		byte('0' + int(m)/10), byte('0' + int(m)%10), '-', byte('0' + dd/10), byte('0' + dd%10)}
	return string(b[:])
}

func dayText(s *engagement.Session) string {
	if s == nil {
		return ""
	}
	return dayString(s.Day)
}

func stampText(s *engagement.Stamp) string {
	if s == nil {
		return ""
	}
	return dayString(s.Day)
}

// buildBilling is the cohort of docs/reports.md for ?month (default the
// previous month), filtered by employer. A frozen month is served as it
// was frozen (X-Billing-Frozen names when), unless ?live=true asks for the
// live computation (X-Billing-Frozen: false, as always without saved
// state). Live and frozen are rendered from the same flat records.
func (s *Server) buildBilling(m *engagement.Model, q query, h http.Header) (table, string, error) {
	month, live, err := billingQuery(m, q)
	if err != nil {
		return table{}, "", err
	}
	var recs []engagement.BillingRecord
	frozenAt, isFrozen := time.Time{}, false
	if fb, ok := s.o.Source.(FrozenBilling); ok && !live {
		recs, frozenAt, isFrozen = fb.FrozenBilling(month)
	}
	employers, err := billingEmployers(s, m, q, recs, func(r engagement.BillingRecord) string { return r.Employer }, billingFamilies)
	if err != nil {
		return table{}, "", err
	}
	var rows []engagement.BillingRecord
	frozen := "false"
	if isFrozen {
		frozen = frozenAt.Format(time.RFC3339)
		// The frozen records are shared: filter into a new slice.
		for _, r := range recs {
			if match(employers, r.Employer) {
				rows = append(rows, r)
			}
		}
		rows = sortRows(rows, func(r *engagement.BillingRecord) rowKey {
			return rowKey{employer: r.Employer, name: r.Name, id: r.ContactID}
		})
	}
	if frozen == "false" {
		all, err := m.Billing(month)
		if err != nil {
			return table{}, "", asBadRequest(err)
		}
		live := all[:0] // Billing's result is ours: filter in place
		for _, r := range all {
			if match(employers, r.Member.Employer) {
				live = append(live, r)
			}
		}
		sortByMember(s.memberOrder(m), live, func(r *engagement.BillingRow) *engagement.Member { return r.Member })
		rows = make([]engagement.BillingRecord, len(live))
		for i := range live {
			rows[i] = live[i].Record()
		}
	}
	h.Set("X-Billing-Frozen", frozen)
	link := memberLinks(s.o.Source.Status())
	return table{columns: slices.Concat(BillingColumns, BillingJSONColumns), csv: len(BillingColumns), n: len(rows), row: func(i int, d []value) {
		r := &rows[i]
		d[0], d[1], d[2], d[3] = str(r.ContactID), str(r.Name), str(r.Email), str(r.Employer)
		d[4], d[5] = str(dayString(r.Registration)), str("")
		if r.HasLastCall {
			d[5] = str(dayString(r.LastCall))
		}
		d[6], d[7] = flag(r.New), flag(r.Engaged)
		d[8], d[9] = str(r.ExternalID), str(r.Qualifying)
	}, extra: func(i int, d []value) {
		r := &rows[i]
		d[0], d[1] = str(r.Reason()), str(link(r.ContactID))
	}}, month.String(), nil
}

// buildCaseload is one row per member of docs/reports.md.
func (s *Server) buildCaseload(m *engagement.Model, q query, _ http.Header) (table, string, error) {
	days, err := q.lookbackDays(m.Config.LookbackDays)
	if err != nil {
		return table{}, "", err
	}
	mixes, err := q.mixes(m.Channels)
	if err != nil {
		return table{}, "", err
	}
	bands, err := q.bands(engagement.AgeBands)
	if err != nil {
		return table{}, "", err
	}
	coaches, employers, err := s.filters(m, q, caseloadFamilies)
	if err != nil {
		return table{}, "", err
	}
	all := m.Caseload(days)
	rows := all[:0]
	for _, r := range all {
		if match(coaches, r.Member.Coach) && match(employers, r.Member.Employer) && match(mixes, r.Channels) && match(bands, r.Band) {
			rows = append(rows, r)
		}
	}
	sortByMember(s.memberOrder(m), rows, func(r *engagement.CaseloadRow) *engagement.Member { return r.Member })
	link := memberLinks(s.o.Source.Status())
	return table{columns: slices.Concat(CaseloadColumns, CaseloadJSONColumns), csv: len(CaseloadColumns), n: len(rows), row: func(i int, d []value) {
		r := &rows[i]
		c := r.Member.Contact
		d[0], d[1], d[2], d[3] = str(c.ID), str(c.Name), str(c.Email), str(r.Member.Employer)
		d[4], d[5], d[6], d[7] = str(r.Member.Coach), str(r.Band), num(r.DaysSince), str(dayText(r.LastSession))
		d[8], d[9], d[10] = str(r.Channels), num(r.Sessions), str(c.ExternalID)
	}, extra: func(i int, d []value) {
		d[0] = str(link(rows[i].Member.Contact.ID))
	}}, m.Today.String(), nil
}

// buildParticipants is one row per enrolled participant of docs/reports.md,
// filtered by registration date.
func (s *Server) buildParticipants(m *engagement.Model, q query, _ http.Header) (table, string, error) {
	from, to, hasFrom, hasTo, err := q.dayRange()
	if err != nil {
		return table{}, "", err
	}
	bands, err := q.bands(engagement.ParticipantBands)
	if err != nil {
		return table{}, "", err
	}
	coaches, employers, err := s.filters(m, q, participantsFamilies)
	if err != nil {
		return table{}, "", err
	}
	all := m.Participants()
	rows := all[:0]
	for _, r := range all {
		reg := r.Member.Contact.Registration.Day
		if (hasFrom && reg < from) || (hasTo && reg > to) {
			continue
		}
		if match(coaches, r.Member.Coach) && match(employers, r.Member.Employer) && match(bands, r.Band) {
			rows = append(rows, r)
		}
	}
	sortByMember(s.memberOrder(m), rows, func(r *engagement.ParticipantRow) *engagement.Member { return r.Member })
	link := memberLinks(s.o.Source.Status())
	return table{columns: slices.Concat(ParticipantColumns, ParticipantJSONColumns), csv: len(ParticipantColumns), n: len(rows), row: func(i int, d []value) {
		r := &rows[i]
		c := r.Member.Contact
		d[0], d[1], d[2], d[3] = str(c.ID), str(c.Name), str(c.Email), str(r.Member.Employer)
		d[4], d[5], d[6], d[7] = str(r.Member.Coach), str(r.Band), num(r.DaysWithout), str(dayText(r.LastSession))
		d[8], d[9], d[10] = str(stampText(c.Registration)), str(r.Member.Status), str(c.ExternalID)
	}, extra: func(i int, d []value) {
		r := &rows[i]
		d[0], d[1], d[2] = str(dayText(r.FirstSession)), num(r.DaysSinceRegistration), str(r.Channels)
		d[3], d[4] = str(strings.Join(r.Coaches, ", ")), str(link(r.Member.Contact.ID))
	}}, m.Today.String(), nil
}

// buildSessions is one row per session in [from, to], which must lie in the
// data window.
func (s *Server) buildSessions(m *engagement.Model, q query, _ http.Header) (table, string, error) {
	from, to, hasFrom, hasTo, err := q.dayRange()
	if err != nil {
		return table{}, "", err
	}
	if !hasFrom || !hasTo {
		return table{}, "", badf("from and to are required (YYYY-MM-DD), e.g. ?from=%s&to=%s", m.Today-30, m.Today)
	}
	lookback := m.Config.LookbackDays
	if int(to-from) > lookback {
		return table{}, "", badf("the range %s to %s spans %d days, longer than the lookback (LOOKBACK_DAYS=%d)", from, to, int(to-from), lookback)
	}
	if from < m.DataStart() {
		return table{}, "", badf("from %s is before the data window, which starts on %s (LOOKBACK_DAYS=%d)", from, m.DataStart(), lookback)
	}
	if to > m.Today {
		return table{}, "", badf("to %s is after today (%s): the data window ends today", to, m.Today)
	}
	chans, err := q.channels(m.Channels)
	if err != nil {
		return table{}, "", err
	}
	bands, err := q.bands(engagement.AgeBands)
	if err != nil {
		return table{}, "", err
	}
	coaches, employers, err := s.filters(m, q, sessionsFamilies)
	if err != nil {
		return table{}, "", err
	}
	var rows []*engagement.Session
	for _, s := range m.SessionsBetween(from, to) {
		if match(coaches, s.Coach) && match(employers, m.SessionEmployer(s)) && (chans == nil || chans[s.Channel]) &&
			(bands == nil || bands[m.SessionBand(s)]) {
			rows = append(rows, s)
		}
	}
	rows = sortRows(rows, func(s **engagement.Session) rowKey {
		return rowKey{employer: m.SessionEmployer(*s), t: (*s).CreatedAt, id: (*s).ConversationID}
	})
	return table{columns: SessionColumns, n: len(rows), row: func(i int, d []value) {
		s := rows[i]
		ids := make([]string, len(s.Contacts))
		for j, mi := range s.Contacts {
			ids[j] = m.Members[mi].Contact.ID
		}
		d[0], d[1], d[2], d[3] = str(s.ConversationID), str(dayString(s.Day)), str(m.ChannelName(s)), str(s.Coach)
		d[4], d[5], d[6] = str(m.SessionEmployer(s)), str(m.SessionBand(s)), str(strings.Join(ids, " "))
	}}, from.String() + "_" + to.String(), nil
}

// billingQuery reads what /billing.csv and /billing-exceptions.csv share:
// ?month (default the previous month) and ?live.
func billingQuery(m *engagement.Model, q query) (engagement.Month, bool, error) {
	month, err := q.month(engagement.MonthOf(m.Today).Prev())
	if err != nil {
		return engagement.Month{}, false, err
	}
	live, err := q.boolean("live")
	return month, live, err
}

// billingEmployers reads ?employer for a billing file: the employers of
// the data, those of a frozen month's rows (a frozen month knows the
// employers it was frozen with) and "(other)" for those the families'
// series budget merged.
func billingEmployers[T any](s *Server, m *engagement.Model, q query, frozen []T, employer func(T) string, families []string) (map[string]bool, error) {
	return s.memberOrder(m).labelFilter(q, "employer", func(e string) bool {
		return slices.ContainsFunc(frozen, func(r T) bool { return employer(r) == e })
	}, s.otherEmployers(m, families))
}
