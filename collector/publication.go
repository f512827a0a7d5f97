package collector

import (
	"cmp"
	"slices"
	"strings"
	"sync"

	"github.com/coaching/intercom_exporter/engagement"
)

// OtherEmployer is the employer label of the employers merged by the
// series budget (docs/metrics.md).
const OtherEmployer = "(other)"

// publication is one published refresh. Nothing in it changes after it is
// stored, so scrapes and the web side read it without locks.
type publication struct {
	model   *engagement.Model
	reports engagement.Reports
	// series of each report family, in family order, ready to export.
	series [numFamilies][]series
	// merged is how many employers each family merged into "(other)";
	// mergedEmps names them, sorted (nil when none).
	merged     [numFamilies]int
	mergedEmps [numFamilies][]string
	// invalid counts unreadable time attribute values, by attribute, in
	// attrOrder.
	invalid   map[string]int
	attrOrder []string
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

// newPublication prepares every series of a model's reports, within the
// series budget.
func (c *Collector) newPublication(m *engagement.Model, rep engagement.Reports, invalid map[string]int) *publication {
	s := &publication{model: m, reports: rep, invalid: invalid, attrOrder: c.set.TimeAttributes}

	// Each family's groups are built in two flat arrays (labels, values)
	// and only the groups kept by the series budget become series: a large
	// workspace has a hundred thousand groups, most of them merged, and a
	// slice header or two each was most of the time of a publish. The
	// families are built at once.
	month := rep.BillingMonth.String()
	build := [numFamilies]func() *groups{
		famCaseload: func() *groups {
			g := newGroups(len(rep.Caseload), 2, 4)
			for k, v := range rep.Caseload {
				g.add(v[:], k.Coach, k.Employer)
			}
			return g
		},
		famChannelMix: func() *groups {
			g := newGroups(len(rep.ChannelMix), 3, 1)
			for k, v := range rep.ChannelMix {
				g.add([]int{v}, k.Coach, k.Employer, k.Channels)
			}
			return g
		},
		famSessions: func() *groups {
			g := newGroups(len(rep.Sessions), 3, 4)
			for k, v := range rep.Sessions {
				g.add(v[:], k.Coach, k.Employer, k.Channel)
			}
			return g
		},
		famParticipants: func() *groups {
			g := newGroups(len(rep.Participants), 2, 4)
			for k, v := range rep.Participants {
				g.add(v[:], k.Coach, k.Employer)
			}
			return g
		},
		famEngagement: func() *groups {
			g := newGroups(len(rep.Engagement), 1, 4)
			for k, v := range rep.Engagement {
				g.add(v[:], k)
			}
			return g
		},
		famBilling: func() *groups {
			g := newGroups(len(rep.Billing), 2, 3)
			for k, v := range rep.Billing {
				g.add(v[:], month, k)
			}
			return g
		},
		famBillingExceptions: func() *groups {
			g := newGroups(len(rep.Exceptions), 2, 3)
			for k, v := range rep.Exceptions {
				g.add(v[:], month, k)
			}
			return g
		},
	}

	size := employerSizes(m)
	var wg sync.WaitGroup
	for i := range build {
		wg.Go(func() {
			s.series[i], s.mergedEmps[i] = budget(build[i](), &families[i], c.set.MaxSeriesPerFamily, size)
			s.merged[i] = len(s.mergedEmps[i])
		})
	}
	wg.Wait()
	for i := range families {
		f := &families[i]
		if n := len(s.series[i]) * f.width(); n > c.set.MaxSeriesPerFamily {
			c.log.Warn("report family exceeds MAX_SERIES_PER_FAMILY even with every employer merged",
				"family", f.name, "series", n, "max", c.set.MaxSeriesPerFamily)
		} else if s.merged[i] > 0 {
			c.log.Info("employers merged into (other) to stay within MAX_SERIES_PER_FAMILY",
				"family", f.name, "merged_employers", s.merged[i], "series", n, "max", c.set.MaxSeriesPerFamily)
		}
	}
	return s
}

// groups are the groups of one family before the series budget: group i
// has the label values labels[i*n:(i+1)*n] and the values
// values[i*w:(i+1)*w].
type groups struct {
	n, w   int
	labels []string
	values []float64
}

func newGroups(count, n, w int) *groups {
	return &groups{n: n, w: w, labels: make([]string, 0, count*n), values: make([]float64, 0, count*w)}
}

func (g *groups) add(v []int, labels ...string) {
	g.labels = append(g.labels, labels...)
	for _, x := range v {
		g.values = append(g.values, float64(x))
	}
}

func (g *groups) len() int { return len(g.labels) / g.n }

func (g *groups) labelsOf(i int) []string {
	return g.labels[i*g.n : (i+1)*g.n : (i+1)*g.n]
}

func (g *groups) valuesOf(i int) []float64 {
	return g.values[i*g.w : (i+1)*g.w : (i+1)*g.w]
}

func (g *groups) series(i int) series { return series{labels: g.labelsOf(i), values: g.valuesOf(i)} }

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
// labels with the names of the employers merged. At the scale of a large
// workspace most of a hundred thousand groups are merged: the groups are
// read in their order, twice (once to number employers and merged keys,
// once to add the merged values up), the choice of employers works on
// those numbers alone, and only the groups kept become series.
func budget(g *groups, f *family, limit int, size map[string]int) ([]series, []string) {
	w := f.width()
	n := g.len()
	if n*w <= limit {
		out := make([]series, n)
		for i := range out {
			out[i] = g.series(i)
		}
		sortSeries(out)
		return out, nil
	}
	// emp[i] numbers group i's employer, key[i] the "(other)" group it
	// would merge into.
	empNum := map[string]int32{}
	var emps []string
	keyNum := map[labelKey]int32{}
	var keys []labelKey
	emp, key := make([]int32, n), make([]int32, n)
	for i := range n {
		labels := g.labelsOf(i)
		e := labels[f.empIdx]
		k, ok := empNum[e]
		if !ok {
			k = int32(len(emps))
			empNum[e] = k
			emps = append(emps, e)
		}
		emp[i] = k
		ko := otherKey(labels, f.empIdx)
		kk, ok := keyNum[ko]
		if !ok {
			kk = int32(len(keys))
			keyNum[ko] = kk
			keys = append(keys, ko)
		}
		key[i] = kk
	}
	// Each employer's groups, by a counting sort.
	start := make([]int32, len(emps)+1)
	for _, k := range emp {
		start[k+1]++
	}
	for k := range emps {
		start[k+1] += start[k]
	}
	byEmp := make([]int32, n)
	next := slices.Clone(start[:len(emps)])
	for i, k := range emp {
		byEmp[next[k]] = int32(i)
		next[k]++
	}

	order := make([]int32, 0, len(emps))
	other := int32(-1) // an employer named "(other)", whose groups take the merged ones
	for k, e := range emps {
		if e == OtherEmployer {
			other = int32(k)
			continue
		}
		order = append(order, int32(k))
	}
	slices.SortFunc(order, func(a, b int32) int {
		return cmp.Or(cmp.Compare(size[emps[a]], size[emps[b]]), strings.Compare(emps[a], emps[b]))
	})

	// Choose the employers to merge, smallest first, until the groups fit.
	used := make([]bool, len(keys)) // "(other)" groups that exist
	if other >= 0 {
		for _, i := range byEmp[start[other]:start[other+1]] {
			used[key[i]] = true
		}
	}
	mergedEmp := make([]bool, len(emps))
	count := n
	var merged []string
	for _, e := range order {
		if count*w <= limit {
			break
		}
		for _, i := range byEmp[start[e]:start[e+1]] {
			count--
			if !used[key[i]] {
				used[key[i]] = true
				count++
			}
		}
		mergedEmp[e] = true
		merged = append(merged, emps[e])
	}

	// Add the merged groups (and those already "(other)") up, in order.
	acc := make([]float64, len(keys)*w)
	out := make([]series, 0, count)
	for i := range n {
		switch e := emp[i]; {
		case mergedEmp[e] || e == other:
			v := g.valuesOf(i)
			a := acc[int(key[i])*w : int(key[i]+1)*w]
			for j := range a {
				a[j] += v[j]
			}
		default:
			out = append(out, g.series(i))
		}
	}
	for k, u := range used {
		if u {
			out = append(out, series{labels: slices.Clone(keys[k][:g.n]), values: acc[k*w : (k+1)*w : (k+1)*w]})
		}
	}
	sortSeries(out)
	slices.Sort(merged)
	return out, merged
}

// labelKey is a group's label values (at most three: no family has more
// besides its fixed label) as a map key.
type labelKey [3]string

// otherKey is the key of the "(other)" group that labels merge into.
func otherKey(labels []string, empIdx int) labelKey {
	var k labelKey
	copy(k[:], labels)
	k[empIdx] = OtherEmployer
	return k
}

func sortSeries(s []series) {
	slices.SortFunc(s, func(a, b series) int { return slices.Compare(a.labels, b.labels) })
}
