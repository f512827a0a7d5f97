package collector

import (
	"cmp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coaching/intercom_exporter/engagement"
)

// OtherEmployer is the employer label of the employers merged by the
// series budget (docs/metrics.md).
const OtherEmployer = "(other)"

// snapshot is one published refresh. Nothing in it changes after it is
// stored, so scrapes and the web side read it without locks.
type snapshot struct {
	model   *engagement.Model
	reports engagement.Reports
	// series of each report family, in family order, ready to export.
	series [numFamilies][]series
	// merged is how many employers each family merged into "(other)".
	merged [numFamilies]int
	// invalid counts unreadable time attribute values, by attribute, in
	// attrOrder.
	invalid   map[string]int
	attrOrder []string
	// exceptions is the number of billing exceptions of the billing month;
	// noChannel the closed conversations created in its engaged window
	// whose channel is missing or unknown (calls that may be lost to
	// billing).
	exceptions, noChannel int
	// refreshEnd is when the refresh that made it ended.
	refreshEnd time.Time
	// encodings caches its metrics encoded per exposition format
	// (expfmt.Format -> *encoded), for MetricsHandler.
	encodings sync.Map
}

// series is one group of a family: its label values (all but the fixed
// label) and one value per fixed label value (one value when the family
// has no fixed label).
type series struct {
	labels []string
	values []float64
}

// Report families, in the order of docs/metrics.md.
const (
	famCaseload = iota
	famChannelMix
	famSessions
	famParticipants
	famEngagement
	famBilling
	famBillingExceptions
	numFamilies
)

// family describes one report family.
type family struct {
	name   string
	help   string
	labels []string // all labels, the fixed one (if any) last
	fixed  []string // values of the fixed label; nil when none
	empIdx int      // index of "employer" in labels
}

var families = [numFamilies]family{
	famCaseload: {
		name:   "intercom_caseload_members",
		help:   "Members (contacts with a coaching session in the lookback) by coach, employer and age band of their last session (docs/reports.md).",
		labels: []string{"coach", "employer", "band"},
		fixed:  engagement.BandNames(engagement.AgeBands),
		empIdx: 1,
	},
	famChannelMix: {
		name:   "intercom_caseload_channel_mix",
		help:   "Members by coach, employer and the set of channels of their sessions in the lookback (docs/reports.md).",
		labels: []string{"coach", "employer", "channels"},
		empIdx: 1,
	},
	famSessions: {
		name:   "intercom_sessions",
		help:   "Coaching sessions in the lookback by coach, employer of the first listed contact, channel and age band (docs/reports.md).",
		labels: []string{"coach", "employer", "channel", "band"},
		fixed:  engagement.BandNames(engagement.AgeBands),
		empIdx: 1,
	},
	famParticipants: {
		name:   "intercom_participants",
		help:   "Enrolled participants by coach, employer and band of days without a session (docs/reports.md).",
		labels: []string{"coach", "employer", "band"},
		fixed:  engagement.BandNames(engagement.ParticipantBands),
		empIdx: 1,
	},
	famEngagement: {
		name:   "intercom_engagement_contacts",
		help:   "Contacts by employer and engagement status (docs/reports.md).",
		labels: []string{"employer", "status"},
		fixed:  engagement.Statuses,
		empIdx: 0,
	},
	famBilling: {
		name:   "intercom_billing_members",
		help:   "Billing cohort of the previous calendar month by employer and reason (docs/reports.md).",
		labels: []string{"month", "employer", "reason"},
		fixed:  engagement.Reasons,
		empIdx: 1,
	},
	famBillingExceptions: {
		name:   "intercom_billing_exceptions",
		help:   "Billing exceptions of the previous calendar month (contacts with a call in its engaged window left out of the cohort) by employer and reason (docs/reports.md).",
		labels: []string{"month", "employer", "reason"},
		fixed:  engagement.ExceptionReasons,
		empIdx: 1,
	},
}

// width is the number of series one group of the family exports.
func (f *family) width() int { return max(1, len(f.fixed)) }

// buildSnapshot computes the reports of a model and prepares every series,
// within the series budget. The billing family of a frozen month is the
// frozen cohort (docs/reports.md).
func (e *Exporter) buildSnapshot(m *engagement.Model, invalid map[string]int) *snapshot {
	rep := m.Reports()
	if recs, _, ok := e.FrozenBilling(rep.BillingMonth); ok {
		rep.Billing = engagement.BillingCounts(recs)
	}
	s := &snapshot{model: m, reports: rep, invalid: invalid, attrOrder: e.timeAttributes()}

	raw := [numFamilies][]series{}
	for k, v := range rep.Caseload {
		raw[famCaseload] = append(raw[famCaseload], series{[]string{k.Coach, k.Employer}, floats(v[:])})
	}
	for k, v := range rep.ChannelMix {
		raw[famChannelMix] = append(raw[famChannelMix], series{[]string{k.Coach, k.Employer, k.Channels}, []float64{float64(v)}})
	}
	for k, v := range rep.Sessions {
		raw[famSessions] = append(raw[famSessions], series{[]string{k.Coach, k.Employer, k.Channel}, floats(v[:])})
	}
	for k, v := range rep.Participants {
		raw[famParticipants] = append(raw[famParticipants], series{[]string{k.Coach, k.Employer}, floats(v[:])})
	}
	for k, v := range rep.Engagement {
		raw[famEngagement] = append(raw[famEngagement], series{[]string{k}, floats(v[:])})
	}
	month := rep.BillingMonth.String()
	for k, v := range rep.Billing {
		raw[famBilling] = append(raw[famBilling], series{[]string{month, k}, floats(v[:])})
	}
	exceptions := e.billingExceptions(m, rep.BillingMonth)
	s.exceptions = len(exceptions)
	for k, v := range engagement.ExceptionCounts(exceptions) {
		raw[famBillingExceptions] = append(raw[famBillingExceptions], series{[]string{month, k}, floats(v[:])})
	}

	size := employerSizes(m)
	for i := range raw {
		f := &families[i]
		s.series[i], s.merged[i] = budget(raw[i], f, e.cfg.MaxSeriesPerFamily, size)
		if n := len(s.series[i]) * f.width(); n > e.cfg.MaxSeriesPerFamily {
			e.log.Warn("report family exceeds MAX_SERIES_PER_FAMILY even with every employer merged",
				"family", f.name, "series", n, "max", e.cfg.MaxSeriesPerFamily)
		} else if s.merged[i] > 0 {
			e.log.Info("employers merged into (other) to stay within MAX_SERIES_PER_FAMILY",
				"family", f.name, "merged_employers", s.merged[i], "series", n, "max", e.cfg.MaxSeriesPerFamily)
		}
	}
	return s
}

func floats(v []int) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// employerSizes counts the members (contacts read or listed on sessions)
// of each employer: the measure by which the smallest employers are merged
// first.
func employerSizes(m *engagement.Model) map[string]int {
	size := map[string]int{}
	for i := range m.Members {
		size[m.Members[i].Employer]++
	}
	return size
}

// budget merges the employers with the fewest members into "(other)" until
// the family's series fit within limit, and returns the series sorted by
// labels with the number of employers merged.
func budget(in []series, f *family, limit int, size map[string]int) ([]series, int) {
	w := f.width()
	sortSeries(in)
	if len(in)*w <= limit {
		return in, 0
	}
	byEmp := map[string][]int{}
	for i, s := range in {
		byEmp[s.labels[f.empIdx]] = append(byEmp[s.labels[f.empIdx]], i)
	}
	emps := make([]string, 0, len(byEmp))
	for e := range byEmp {
		if e != OtherEmployer {
			emps = append(emps, e)
		}
	}
	slices.SortFunc(emps, func(a, b string) int {
		return cmp.Or(cmp.Compare(size[a], size[b]), strings.Compare(a, b))
	})

	// Groups already labelled "(other)" (an employer of that name) take the
	// merged ones too.
	others := map[string]*series{}
	otherKey := func(l []string) string {
		k := slices.Clone(l)
		k[f.empIdx] = OtherEmployer
		return strings.Join(k, "\xff")
	}
	dropped := make([]bool, len(in))
	for _, i := range byEmp[OtherEmployer] {
		others[otherKey(in[i].labels)] = &in[i]
	}
	count := len(in)
	merged := 0
	for _, emp := range emps {
		if count*w <= limit {
			break
		}
		for _, i := range byEmp[emp] {
			dropped[i] = true
			count--
			k := otherKey(in[i].labels)
			if o, ok := others[k]; ok {
				for j := range o.values {
					o.values[j] += in[i].values[j]
				}
				continue
			}
			l := slices.Clone(in[i].labels)
			l[f.empIdx] = OtherEmployer
			others[k] = &series{labels: l, values: slices.Clone(in[i].values)}
			count++
		}
		merged++
	}
	out := make([]series, 0, count)
	for i := range in {
		if !dropped[i] && in[i].labels[f.empIdx] != OtherEmployer {
			out = append(out, in[i])
		}
	}
	for _, o := range others {
		out = append(out, *o)
	}
	sortSeries(out)
	return out, merged
}

func sortSeries(s []series) {
	slices.SortFunc(s, func(a, b series) int { return slices.Compare(a.labels, b.labels) })
}

// billingExceptions are the billing exceptions of month: frozen with its
// cohort when it is, else as m computes them (none when m cannot).
func (e *Exporter) billingExceptions(m *engagement.Model, month engagement.Month) []engagement.BillingException {
	if xs, _, ok := e.FrozenBillingExceptions(month); ok {
		return xs
	}
	xs, _ := m.BillingExceptions(month)
	return xs
}

// noChannelInBillingWindow counts the closed conversations of st with a
// missing or unknown channel created in the engaged window of m's billing
// month (the previous month): calls that may be lost to billing.
func noChannelInBillingWindow(m *engagement.Model, st *store) int {
	month := engagement.MonthOf(m.Today).Prev()
	loc := m.Config.Location
	from := (month.First() - engagement.Day(m.Config.BillingEngagedDays)).Start(loc).Unix()
	to := (month.Last() + 1).Start(loc).Unix()
	return st.othersCreatedIn(from, to)
}
